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

/* Per CPU: its last switch and the stretches before it (--slower only). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct aitrace_sched_slow_cpu);
} slow_cpu SEC(".maps");

static __always_inline bool slow_events_on(void)
{
	return slower_ns || slower_offcpu_ns;
}

/*
 * At every sched_switch (before the filter: the tasks that ran instead of a waiter are seldom
 * traced), with --slower: the outgoing task (current) and its stretch go into this CPU's history.
 */
static __always_inline void slow_note_switch(void)
{
	struct aitrace_sched_slow_stretch *st;
	struct aitrace_sched_slow_cpu *c;
	__u32 zero = 0;
	__u64 now, cur;

	if (!slower_ns)
		return;
	c = bpf_map_lookup_elem(&slow_cpu, &zero);
	if (!c)
		return;
	now = bpf_ktime_get_ns();
	if (c->last_switch_ns) {
		st = &c->stretch[c->next & (AITRACE_SCHED_SLOW_HISTORY - 1)];
		st->start_ns = c->last_switch_ns;
		st->end_ns = now;
		cur = bpf_get_current_pid_tgid();
		st->pid = cur >> 32;
		st->tid = (__u32)cur;
		bpf_get_current_comm(st->comm, sizeof(st->comm));
		c->next++;
	}
	c->last_switch_ns = now;
}

/*
 * Of this CPU's remembered stretches, the one that overlapped the wait most: the task that held
 * the CPU longest while `e` waited. Called at the switch-in that ends the wait, right after
 * slow_note_switch() recorded the outgoing task's stretch (so that is the newest).
 */
static __always_inline void slow_holder(struct aitrace_sched_slow_event *e)
{
	struct aitrace_sched_slow_stretch *st, *newest;
	struct aitrace_sched_slow_cpu *c;
	__u64 start, oldest = ~0ULL, best = 0, held;
	__u32 zero = 0, best_i = AITRACE_SCHED_SLOW_HISTORY;

	c = bpf_map_lookup_elem(&slow_cpu, &zero);
	if (!c || !c->next)
		return;
	newest = &c->stretch[(c->next - 1) & (AITRACE_SCHED_SLOW_HISTORY - 1)];
	e->other_ran_ns = newest->end_ns - newest->start_ns;
	start = c->last_switch_ns > e->wait_ns ? c->last_switch_ns - e->wait_ns : 0;
	for (__u32 i = 0; i < AITRACE_SCHED_SLOW_HISTORY; i++) {
		st = &c->stretch[i];
		if (!st->end_ns)
			continue; /* not used yet */
		if (st->start_ns < oldest)
			oldest = st->start_ns;
		if (st->end_ns <= start)
			continue;
		held = st->end_ns - (st->start_ns > start ? st->start_ns : start);
		if (held > best) {
			best = held;
			best_i = i;
		}
	}
	e->holder_partial = oldest > start;
	if (best_i >= AITRACE_SCHED_SLOW_HISTORY)
		return;
	st = &c->stretch[best_i];
	e->holder_ns = best;
	e->holder_pid = st->pid;
	e->holder_tid = st->tid;
	__builtin_memcpy(e->holder_comm, st->comm, sizeof(e->holder_comm));
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
 * (at a switch-in, the task switching out; at a wakeup, the waker).
 */
static __always_inline void slow_emit(struct task_struct *p, __u32 tid, bool btf, __u32 cpu, __u32 metric, __u64 ns,
				      bool other_known)
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
		bpf_get_current_comm(&e->other_comm, sizeof(e->other_comm));
		if (metric == AITRACE_SCHED_RUNQ_WAKEUP || metric == AITRACE_SCHED_RUNQ_PREEMPT)
			slow_holder(e);
	}
	bpf_ringbuf_submit(e, 0);
}

/*
 * The step's samples at or over their threshold, as records. Call it only for a step whose
 * samples reached the histograms (apply_step had a group), so that the events and the histogram
 * counts agree.
 */
static __always_inline void slow_emit_step(const struct aitrace_sched_step *s, struct task_struct *p, __u32 tid,
					   bool btf, __u32 cpu, bool other_known)
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
			slow_emit(p, tid, btf, cpu, metric, ns, other_known);
	}
}

#endif
