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
	/*
	 * At this CPU's first switch since the attach, the outgoing task had held it since before
	 * the attach, so through the whole of any wait seen ending now: start 0, its length unknown.
	 */
	st = &c->stretch[c->next & (AITRACE_SCHED_SLOW_HISTORY - 1)];
	st->start_ns = c->last_switch_ns;
	st->end_ns = now;
	cur = aitrace_report_current_pid_tgid();
	st->pid = cur >> 32;
	st->tid = (__u32)cur;
	bpf_get_current_comm(st->comm, sizeof(st->comm));
	c->next++;
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
	struct aitrace_sched_slow_stretch *oldest;
	__u64 start, held;
	__u32 zero = 0;

	c = bpf_map_lookup_elem(&slow_cpu, &zero);
	if (!c || !c->next)
		return;
	newest = &c->stretch[(c->next - 1) & (AITRACE_SCHED_SLOW_HISTORY - 1)];
	e->other_ran_ns = newest->start_ns ? newest->end_ns - newest->start_ns : 0; /* 0: since before the attach */
	start = c->last_switch_ns > e->wait_ns ? c->last_switch_ns - e->wait_ns : 0;
	/*
	 * The best one is copied as it is found: remembering its index instead would make the
	 * verifier track every index apart (seconds of load time for 16 slots).
	 */
	for (__u32 i = 0; i < AITRACE_SCHED_SLOW_HISTORY; i++) {
		st = &c->stretch[i];
		if (st->end_ns <= start)
			continue; /* before the wait, or not used yet (0) */
		held = st->end_ns - (st->start_ns > start ? st->start_ns : start);
		if (held <= e->holder_ns)
			continue;
		e->holder_ns = held;
		e->holder_pid = st->pid;
		e->holder_tid = st->tid;
		__builtin_memcpy(e->holder_comm, st->comm, sizeof(e->holder_comm));
	}
	/* Until the history is full its oldest stretch is slot 0; then the one overwritten next. */
	oldest = &c->stretch[c->next < AITRACE_SCHED_SLOW_HISTORY ? 0 : c->next & (AITRACE_SCHED_SLOW_HISTORY - 1)];
	e->holder_partial = oldest->start_ns > start;
}

static __always_inline bool slow_runq_metric(__u32 metric)
{
	return metric == AITRACE_SCHED_RUNQ_WAKEUP || metric == AITRACE_SCHED_RUNQ_PREEMPT;
}

static __always_inline bool slow_offcpu_metric(__u32 metric)
{
	return metric == AITRACE_SCHED_OFFCPU_SLEEP || metric == AITRACE_SCHED_OFFCPU_BLOCK;
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
	e->pid = aitrace_report_tgid(p, AITRACE_READ(btf, p, tgid));
	e->tid = aitrace_report_tid(p, tid);
	e->cpu = cpu;
	e->metric = metric;
	BPF_CORE_READ_STR_INTO(&e->comm, p, comm);
	if (other_known) {
		cur = aitrace_report_current_pid_tgid();
		e->other_pid = cur >> 32;
		e->other_tid = (__u32)cur;
		bpf_get_current_comm(&e->other_comm, sizeof(e->other_comm));
		if (slow_runq_metric(metric))
			slow_holder(e);
	}
	bpf_ringbuf_submit(e, 0);
}

/*
 * The step's samples at or over their threshold, as records. Call it only for a step whose
 * samples reached the histograms (apply_step had a group), so that the events and the histogram
 * counts agree. at_switch (a constant at every call): the run-queue waits of a step, against
 * --slower, or its sleeps and blocks, against --slower-offcpu; so each call keeps one kind's code,
 * and a program without that kind's threshold none. A wakeup's step can close sleeps and blocks
 * only; a switch's closes run-queue waits, and a sleep only where the wakeup never reached the
 * program (repaired at the switch-in, or at the next switch-out where the switch-in was unseen
 * too: sched_state.h).
 */
static __always_inline void slow_emit_step(const struct aitrace_sched_step *s, struct task_struct *p, __u32 tid,
					   bool btf, __u32 cpu, bool other_known, bool at_switch)
{
	__u64 threshold = at_switch ? slower_ns : slower_offcpu_ns, ns = 0;
	__u32 metric = AITRACE_SCHED_METRICS;

	if (!threshold)
		return;
	/*
	 * A step closes at most one interval of the kind (the others are on-CPU time or of the other
	 * kind): found first, so the record code is inlined once, not once per sample slot.
	 */
	for (int i = 0; i < AITRACE_SCHED_STEP_SAMPLES; i++) {
		if (i >= s->nsamples)
			break;
		if (at_switch ? slow_runq_metric(s->sample[i].metric) : slow_offcpu_metric(s->sample[i].metric)) {
			metric = s->sample[i].metric;
			ns = s->sample[i].ns;
		}
	}
	if (metric == AITRACE_SCHED_METRICS)
		return;
	/* metric_add's clamp: the histogram got 0 for a negative interval. */
	if ((__s64)ns < 0)
		ns = 0;
	if (ns >= threshold)
		slow_emit(p, tid, btf, cpu, metric, ns, other_known);
}

#endif
