/*
 * Slow events of bpf/sched.bpf.c (--slower, --slower-offcpu): every wait at or over a threshold,
 * taken from the very sample the histograms get (the step of aitrace/sched_state.h), goes to a
 * BPF ring buffer as one record. The thresholds are rodata: with both 0 (the default) the
 * verifier prunes every branch here, and the hot path pays nothing.
 */
#ifndef AITRACE_SCHED_SLOW_BPF_H
#define AITRACE_SCHED_SLOW_BPF_H

#include "aitrace/sched_slow_events.h"
#include "aitrace/sched_state.h"

/* Set by userspace before load; 0 turns that kind of event off. */
const volatile __u64 slower_ns = 0;        /* run-queue waits (runq_wakeup, runq_preempt) */
const volatile __u64 slower_offcpu_ns = 0; /* sleeps and blocks (offcpu_sleep, offcpu_block) */

/* Slow events the ring had no room for: counted, shown as lost. */
__u64 slow_lost = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096); /* set by userspace: a page when no threshold is set */
} slow_events SEC(".maps");

/* Per CPU: bpf_ktime_get_ns() of its last sched_switch, traced task or not (--slower only). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} slow_cpu_switched SEC(".maps");

static __always_inline bool slow_events_on(void)
{
	return slower_ns || slower_offcpu_ns;
}

/*
 * At every sched_switch (before the filter), with --slower: how long the outgoing task held this
 * CPU (0 for the first switch seen here), and the stamp for the next switch. This is who ran
 * instead of a slow run-queue waiter, and for how long.
 */
static __always_inline __u64 slow_note_switch(void)
{
	__u32 zero = 0;
	__u64 *last, now, ran = 0;

	if (!slower_ns)
		return 0;
	last = bpf_map_lookup_elem(&slow_cpu_switched, &zero);
	if (!last)
		return 0;
	now = bpf_ktime_get_ns();
	if (*last)
		ran = now - *last;
	*last = now;
	return ran;
}

/* The threshold a sample of `metric` is held against; 0: none. */
static __always_inline __u64 slow_threshold(__u32 metric)
{
	if (metric == AITRACE_SCHED_RUNQ_WAKEUP || metric == AITRACE_SCHED_RUNQ_PREEMPT)
		return slower_ns;
	if (metric == AITRACE_SCHED_OFFCPU_SLEEP || metric == AITRACE_SCHED_OFFCPU_BLOCK)
		return slower_offcpu_ns;
	return 0;
}

/*
 * One record for a sample of task p. `other_known`: the current task is the one that ran instead
 * (at a switch-in, the task switching out; at a wakeup, the waker); other_ran_ns as
 * slow_note_switch() returned it.
 */
static __always_inline void slow_emit(struct task_struct *p, __u32 tid, bool btf, __u32 cpu, __u32 metric, __u64 ns,
				      bool other_known, __u64 other_ran_ns)
{
	struct aitrace_sched_slow_event *e;
	__u64 cur;

	e = bpf_ringbuf_reserve(&slow_events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&slow_lost, 1);
		return;
	}
	/* bpf_probe_read_kernel_str does not pad: no stale ring bytes after the NUL. */
	__builtin_memset(e, 0, sizeof(*e));
	e->boot_ns = bpf_ktime_get_boot_ns();
	e->wait_ns = ns;
	e->pid = AITRACE_READ(btf, p, tgid);
	e->tid = tid;
	e->cpu = cpu;
	e->metric = metric;
	BPF_CORE_READ_STR_INTO(&e->comm, p, comm);
	if (other_known) {
		cur = bpf_get_current_pid_tgid();
		e->other_pid = cur >> 32;
		e->other_tid = (__u32)cur;
		e->other_ran_ns = other_ran_ns;
		bpf_get_current_comm(&e->other_comm, sizeof(e->other_comm));
	}
	bpf_ringbuf_submit(e, 0);
}

/*
 * The step's samples at or over their threshold, as records. Call it only for a step whose
 * samples reached the histograms (apply_step had a group), so that the events and the histogram
 * counts agree.
 */
static __always_inline void slow_emit_step(const struct aitrace_sched_step *s, struct task_struct *p, __u32 tid,
					   bool btf, __u32 cpu, bool other_known, __u64 other_ran_ns)
{
	if (!slow_events_on())
		return;
	for (int i = 0; i < AITRACE_SCHED_STEP_SAMPLES; i++) {
		__u32 metric = s->sample[i].metric;
		__u64 ns = s->sample[i].ns, threshold;

		if (i >= s->nsamples)
			break;
		/* metric_add's clamp: the histogram got 0 for a negative interval. */
		if ((__s64)ns < 0)
			ns = 0;
		threshold = slow_threshold(metric);
		if (threshold && ns >= threshold)
			slow_emit(p, tid, btf, cpu, metric, ns, other_known,
				  metric == AITRACE_SCHED_RUNQ_WAKEUP || metric == AITRACE_SCHED_RUNQ_PREEMPT ? other_ran_ns
													    : 0);
	}
}

#endif
