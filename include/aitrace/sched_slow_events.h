/*
 * Shared between bpf/sched_slow.bpf.h and the sched collector: one record per wait at or over a
 * threshold (--slower for run-queue waits, --slower-offcpu for sleeps and blocks), sent through
 * a BPF ring buffer from the same step that adds the wait to the histograms.
 */
#ifndef AITRACE_SCHED_SLOW_EVENTS_H
#define AITRACE_SCHED_SLOW_EVENTS_H

#include "aitrace/types.h"

/* The ring's default size: at ~100 bytes a record, ~10000 slow events between two drains. */
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
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_sched_slow_event) == 80, "slow event layout");

#endif
