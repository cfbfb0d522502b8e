/*
 * Shared between bpf/sched_slow.bpf.h and the sched collector: one record per wait at or over a
 * threshold (--slower for run-queue waits, --slower-offcpu for sleeps and blocks), sent through
 * a BPF ring buffer from the same step that adds the wait to the histograms.
 */
#ifndef AITRACE_SCHED_SLOW_EVENTS_H
#define AITRACE_SCHED_SLOW_EVENTS_H

#include "aitrace/types.h"

/* The ring's default size: ~8700 records of 120 bytes between two drains. */
#define AITRACE_SCHED_SLOW_RING_BYTES (1u << 20)

struct aitrace_sched_slow_event {
	__u64 boot_ns;  /* bpf_ktime_get_boot_ns() when the wait ended (lines up with --trace) */
	__u64 wait_ns;  /* the sample the histogram got */
	/*
	 * How long `other` had held this CPU when it switched out (run-queue kinds, with the per-CPU
	 * switch stamp); 0 when unknown.
	 */
	__u64 other_ran_ns;
	__u32 pid;      /* tgid */
	__u32 tid;
	__u32 cpu;      /* run-queue kinds: the CPU it switched in on; off-CPU kinds: the CPU it was woken onto */
	__u32 metric;   /* enum aitrace_sched_metric: runq_wakeup, runq_preempt, offcpu_sleep or offcpu_block */
	/*
	 * Who ran instead. Run-queue kinds: the task switched out at that switch-in. Off-CPU kinds:
	 * the task current when the wakeup fired (the waker, unless the wakeup was queued to the
	 * target CPU and ran from its interrupt). 0 and "" when unknown.
	 */
	__u32 other_pid;
	__u32 other_tid;
	char comm[AITRACE_COMM_LEN];
	char other_comm[AITRACE_COMM_LEN];
	/*
	 * Run-queue kinds: of the last AITRACE_SCHED_SLOW_HISTORY switches on this CPU, the task
	 * that held it longest during the wait, and for how long (holder_ns 0: none known).
	 * holder_partial: the wait began before the oldest of them, so an earlier holder may have
	 * held it longer.
	 */
	__u64 holder_ns;
	__u32 holder_pid;
	__u32 holder_tid;
	char holder_comm[AITRACE_COMM_LEN];
	__u32 holder_partial;
	__u32 pad;
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_sched_slow_event) == 120, "slow event layout");

/* Switches per CPU remembered for the holder (--slower only). */
#define AITRACE_SCHED_SLOW_HISTORY 16

/* One CPU stretch that ended at a switch: who held the CPU, from when to when. */
struct aitrace_sched_slow_stretch {
	__u64 start_ns;
	__u64 end_ns;
	__u32 pid;
	__u32 tid;
	char comm[AITRACE_COMM_LEN];
};

struct aitrace_sched_slow_cpu {
	__u64 last_switch_ns; /* bpf_ktime_get_ns() of the CPU's last sched_switch; 0: none seen */
	__u64 next;           /* stretches recorded so far; slot = next % AITRACE_SCHED_SLOW_HISTORY */
	struct aitrace_sched_slow_stretch stretch[AITRACE_SCHED_SLOW_HISTORY];
};

#endif
