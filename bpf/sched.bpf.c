// SPDX-License-Identifier: GPL-2.0
/*
 * aitrace sched: run-queue latency, on-CPU and off-CPU time per group, computed in the kernel.
 *
 * Per-task state (phase + timestamp of the last transition) lives in task-local storage, so the
 * hot path never hashes a pid; hook flavours without BTF task pointers (raw_tp) fall back to a
 * tid-keyed hash. What each event does to that state is the pure state machine of
 * aitrace/sched_state.h; this file reads the kernel for it and applies its outcome to the
 * groups of sched_groups.bpf.h.
 *
 * Every handler exists twice, tp_btf (typed, trusted task pointers) and raw_tp (u64 args), with
 * one always-inline body; userspace picks one flavour for all events before load.
 */
#include "common/core.bpf.h"
#include "common/compat.bpf.h"
#include "common/filter.bpf.h"
#include "common/programs.bpf.h"
#include "aitrace/sched_state.h"
#include "sched_groups.bpf.h"
#include "sched_threads.bpf.h"
#include "sched_slow.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* sched_switch has carried prev_state as 4th argument since 5.18; older kernels: read it. */
const volatile bool switch_has_prev_state = true;

/*
 * Timestamps (docs/sched.md, "Clocks"): bpf_ktime_get_ns() at every hook by default, the wall
 * time runqlat, bpftrace and perf sched measure. --clock rq reads the run queue's clock instead
 * (rq->clock, the clock of schedstat's run_delay): a few loads, but stale after a preempting
 * wakeup, and nothing at sched_switch says so. wakeup_preempt() asks the next __schedule() to
 * skip its clock update (rq_clock_skip_update), and __schedule() resets clock_update_flags to
 * RQCF_UPDATED before the tracepoint fires, so the switch sees "updated" either way; and any
 * update_rq_clock() between the request and the switch (another wakeup onto that rq, the tick)
 * moves the clock part of the way. So neither the flags nor a moved clock tell a fresh reading
 * from a stale one at the switch, and the rq clock is kept only as schedstat's lower bound.
 */
const volatile bool use_rq_clock = false;

/* Counted drops, shown in every output. */
__u64 task_state_missing = 0;
/*
 * Transitions whose previous step never reached us: a switch-out of a task we saw queued, or a
 * switch-in of a task we saw on a CPU. Each one drops an interval; shown as lost.
 */
__u64 transitions_missed = 0;
/* Gaps of that kind closed from the kernel's own sched_info stamps: nothing was lost. */
__u64 transitions_repaired = 0;

AITRACE_TASK_STATE_MAPS(task_states, struct aitrace_sched_task_state);

/* Userspace sets use_rq_clock (--clock rq) only where the run queue can be reached (compat.bpf.h). */
static __always_inline bool rq_clock_mode(void)
{
	return use_rq_clock && aitrace_task_has_cfs_rq();
}

/* Now on aitrace's clock; p's rq lock is held at every hook that asks. */
static __always_inline __u64 task_clock(struct task_struct *p, bool btf)
{
	__u64 clock;

#ifdef AITRACE_ABLATE_CLOCK /* bench/sched_parts_overhead.sh: what the clock read costs */
	return 1;
#endif
	if (!rq_clock_mode())
		return bpf_ktime_get_ns();
	clock = aitrace_task_rq_clock(p, btf);
	return clock ? clock : bpf_ktime_get_ns();
}

/*
 * A sched_info stamp of p (rq clock, written by the kernel at every switch, traced or not) on
 * aitrace's clock: `now` is the current time on it. 0 when the stamp is missing or in the future,
 * or when p's run queue clock cannot be read to convert it.
 */
static __always_inline __u64 sched_info_stamp(struct task_struct *p, __u64 stamp, __u64 now, bool btf)
{
	/*
	 * Probe reads (btf = false) on this rare path: plain loads of the cfs_rq and rq pointers
	 * make the verifier search the kernel's BTF by name for each, on every path it explores
	 * (btf_nested_type_is_trusted: ~4% of aitrace's start-up, perf).
	 */
	__u64 clock = rq_clock_mode() ? now : aitrace_task_rq_clock(p, false);

	return aitrace_rq_stamp_at(stamp, clock, now);
}

static __always_inline struct aitrace_sched_task_state *task_state_get(struct task_struct *p, __u32 tid, bool btf)
{
	struct aitrace_sched_task_state *st, zero = {};
	struct aitrace_sched_thread_state *ts;

	if (btf && thread_storage) {
		ts = bpf_task_storage_get(&thread_states, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		st = ts ? &ts->st : NULL;
	} else if (btf)
		st = bpf_task_storage_get(&task_states, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	else
		st = aitrace_map_lookup_or_init(&task_states_by_tid, &tid, &zero, NULL);
	if (!st)
		__sync_fetch_and_add(&task_state_missing, 1);
	return st;
}

/*
 * The task's group. By process it never changes for a task (its tgid is fixed, and an exec by
 * another thread copies the old leader's start time to it), so with task storage, which lives
 * and dies with the task, the slot cached at its first event is final and the group id is not
 * read again: two pointer loads and the pid-namespace ids saved on every event. The tid-keyed
 * raw_tp state and the other groupings (a thread's tid changes when it execs as a non-leader;
 * cgroup and comm change at any time) check the id each time.
 */
static __always_inline struct aitrace_sched_totals *task_group(struct task_struct *p, struct aitrace_sched_task_state *st,
							       __u32 tid, bool btf, __u32 *slot)
{
	if (btf && group_by == AITRACE_SCHED_BY_PROCESS && st->cached) {
		*slot = st->slot;
		return slot_totals(slot);
	}
	struct aitrace_sched_totals *g;
	bool fresh = false;

	if (btf && thread_storage) {
		/* A thread whose id changed (an exec by a non-leader) leaves its old slot's stats behind. */
		if (st->cached && st->group != thread_group_id(p, tid, btf))
			thread_retire(thread_state_of(st));
		fresh = !st->cached;
	}
	g = group_of(p, st, aitrace_report_tid(p, tid), aitrace_report_tgid(p, AITRACE_READ(btf, p, tgid)), btf, slot);
	if (fresh)
		thread_claim(thread_state_of(st));
	return g;
}

static __always_inline bool measured(struct task_struct *p, __u32 tid)
{
	/* The idle tasks (pid 0, one per CPU) never wait on a run queue. */
	return tid != 0 && aitrace_task_wanted(p);
}

/*
 * A step's outcome into the task's group and state. Dense slots count only the switch-ins
 * without a run-queue sample; userspace adds the runq_wakeup and runq_preempt counts (one atomic
 * less on the hot path).
 */
static __always_inline void apply_step(struct aitrace_sched_task_state *st, struct aitrace_sched_totals *g, __u32 slot,
				       struct aitrace_sched_thread_stats *t, const struct aitrace_sched_step *s)
{
	__u64 missed = s->missed;

	if (g && t) {
		/* The thread's own storage: plain stores, and every switch-in counted here. */
		for (int i = 0; i < AITRACE_SCHED_STEP_SAMPLES; i++) {
			__u32 metric = s->sample[i].metric;

			if (i >= s->nsamples)
				break;
			thread_metric_add(t, slot, metric, s->sample[i].ns);
			if (metric == AITRACE_SCHED_RUNQ_WAKEUP || metric == AITRACE_SCHED_RUNQ_PREEMPT)
				t->switches++;
		}
		if (s->unsampled_switch_in)
			t->switches++;
		if (s->involuntary)
			t->involuntary++;
		if (s->repaired)
			__sync_fetch_and_add(&transitions_repaired, 1);
	} else if (g) {
		for (int i = 0; i < AITRACE_SCHED_STEP_SAMPLES; i++) {
			__u32 metric = s->sample[i].metric;

			if (i >= s->nsamples)
				break;
			metric_add(g, slot, metric, s->sample[i].ns);
			if ((metric == AITRACE_SCHED_RUNQ_WAKEUP || metric == AITRACE_SCHED_RUNQ_PREEMPT) &&
			    slot >= dense_slots)
				__sync_fetch_and_add(&g->switches, 1);
		}
		if (s->unsampled_switch_in)
			__sync_fetch_and_add(&g->switches, 1);
		if (s->involuntary)
			__sync_fetch_and_add(&g->involuntary, 1);
		if (s->repaired)
			__sync_fetch_and_add(&transitions_repaired, 1);
	} else {
		missed += s->repaired; /* nowhere to put what the stamps recovered */
	}
	if (missed)
		__sync_fetch_and_add(&transitions_missed, missed);
	st->phase = s->phase;
	st->ts = s->ts;
}

static __always_inline void on_switch_out(struct task_struct *prev, __u32 tid, bool preempt, __u32 state, __u64 now,
					  bool btf)
{
	struct aitrace_sched_switch_out in = { .now = now, .prev_state = state, .preempt = preempt };
	struct aitrace_sched_thread_stats *t;
	struct aitrace_sched_task_state *st;
	struct aitrace_sched_totals *g;
	struct aitrace_sched_step s;
	__u64 pcount = 0;
	__u32 slot;

	st = task_state_get(prev, tid, btf);
	if (!st)
		return;
#ifdef AITRACE_ABLATE_ALL_BUT_STORAGE /* bench/sched_parts_overhead.sh: the filter and task storage alone */
	return;
#endif
	g = task_group(prev, st, tid, btf, &slot);
	t = thread_stats_of(prev, st, slot, btf);
	if (aitrace_sched_out_needs_live_state(preempt, state))
		in.live_state = aitrace_task_state_read(prev, btf);
	/* docs/sched.md: this VM does not fire sched_switch when the outgoing task is a thread of PID 1. */
	if (aitrace_sched_out_needs_arrival(st->phase) && bpf_core_field_exists(prev->sched_info))
		in.arrived = sched_info_stamp(prev, BPF_CORE_READ(prev, sched_info.last_arrival), now, btf);
	/* Two loads at every switch-out: what measures a wait whose switch-in no tracer sees. */
	if (bpf_core_field_exists(prev->sched_info)) {
		pcount = AITRACE_READ(btf, prev, sched_info.pcount);
		in.run_delay = AITRACE_READ(btf, prev, sched_info.run_delay);
		in.last_run_delay = st->run_delay;
		in.arrivals = (__u8)(pcount - st->pcount);
		in.kept_run_delay = st->run_delay_kept;
	}
	s = aitrace_sched_on_switch_out(st->phase, st->ts, &in);
	apply_step(st, g, slot, t, &s);
	st->run_delay = in.run_delay;
	st->pcount = (__u8)pcount;
	st->run_delay_kept = bpf_core_field_exists(prev->sched_info);
	/* A run-queue wait closed here (its switch-in was missed) has no task that ran instead. */
	if (g) {
		slow_emit_step(&s, prev, tid, btf, bpf_get_smp_processor_id(), false, true);
		/* Nor has a sleep closed here (its wakeup was missed too): its waker is unknown. */
		if (s.repaired)
			slow_emit_step(&s, prev, tid, btf, bpf_get_smp_processor_id(), false, false);
	}
	/*
	 * A dying task's last switch-out comes after sched_process_exit dropped its raw_tp state
	 * and re-created it above: drop it again, or dead tids fill the map (task storage frees
	 * itself with the task).
	 */
	if (!btf && s.dead)
		bpf_map_delete_elem(&task_states_by_tid, &tid);
}

static __always_inline void on_switch_in(struct task_struct *next, __u32 tid, __u64 now, bool btf)
{
	struct aitrace_sched_thread_stats *t;
	struct aitrace_sched_task_state *st;
	struct aitrace_sched_totals *g;
	struct aitrace_sched_step s;
	__u64 queued = 0;
	__u32 slot;

	st = task_state_get(next, tid, btf);
	if (!st)
		return;
#ifdef AITRACE_ABLATE_ALL_BUT_STORAGE
	return;
#endif
	g = task_group(next, st, tid, btf, &slot);
	t = thread_stats_of(next, st, slot, btf);
	/* sched_info.last_queued is cleared only after this tracepoint. */
	if (aitrace_sched_in_needs_queued_stamp(st->phase) && bpf_core_field_exists(next->sched_info))
		queued = sched_info_stamp(next, BPF_CORE_READ(next, sched_info.last_queued), now, btf);
	s = aitrace_sched_on_switch_in(st->phase, st->ts, now, queued);
	apply_step(st, g, slot, t, &s);
	if (g) {
		slow_emit_step(&s, next, tid, btf, bpf_get_smp_processor_id(), true, true);
		/* A sleep closed here (its wakeup never reached us): its waker is unknown. */
		if (s.repaired)
			slow_emit_step(&s, next, tid, btf, bpf_get_smp_processor_id(), false, false);
	}
}

static __always_inline int handle_switch(__u64 *ctx, bool btf)
{
	bool preempt = ctx[0];
	struct task_struct *prev = AITRACE_ARG(ctx, 1, struct task_struct *);
	struct task_struct *next = AITRACE_ARG(ctx, 2, struct task_struct *);
	__u32 prev_tid = AITRACE_READ(btf, prev, pid), next_tid = AITRACE_READ(btf, next, pid), state;
	bool out = measured(prev, prev_tid), in = measured(next, next_tid);
	__u64 now;

	/* With --slower, every switch is remembered per CPU (a clock read; nothing without it). */
	slow_note_switch();

	/* The clock is read once per switch, and not at all for the switches of untraced tasks. */
	if (!out && !in)
		return 0;
	now = task_clock(prev, btf);
	if (out) {
		/* The 4th argument is only read where it exists: the verifier prunes the other branch. */
		if (switch_has_prev_state)
			state = (__u32)ctx[3];
		else
			state = aitrace_task_state_read(prev, btf);
		on_switch_out(prev, prev_tid, preempt, state, now, btf);
	}
	if (in)
		on_switch_in(next, next_tid, now, btf);
	return 0;
}

static __always_inline int handle_wakeup(__u64 *ctx, bool btf)
{
	struct task_struct *p = AITRACE_ARG(ctx, 0, struct task_struct *);
	__u32 tid = AITRACE_READ(btf, p, pid), on_cpu = AITRACE_SCHED_ON_CPU_UNKNOWN, slot = 0;
	struct aitrace_sched_thread_stats *t = NULL;
	struct aitrace_sched_task_state *st;
	struct aitrace_sched_totals *g = NULL;
	struct aitrace_sched_step s;
	__u64 now = 0;

	if (!measured(p, tid))
		return 0;
	st = task_state_get(p, tid, btf);
	if (!st)
		return 0;
#ifdef AITRACE_ABLATE_ALL_BUT_STORAGE
	return 0;
#endif
	if (aitrace_sched_wakeup_needs_on_cpu(st->phase) && bpf_core_field_exists(p->on_cpu))
		on_cpu = AITRACE_READ(btf, p, on_cpu);
	if (!aitrace_sched_wakeup_starts_wait(st->phase, on_cpu))
		return 0;
	now = task_clock(p, btf);
	s = aitrace_sched_on_wakeup(st->phase, st->ts, now, on_cpu);
	if (s.nsamples) {
		g = task_group(p, st, tid, btf, &slot);
		t = thread_stats_of(p, st, slot, btf);
	}
	apply_step(st, g, slot, t, &s);
	/* A sleep or block closed by this wakeup; the current task is the waker. */
	if (g)
		slow_emit_step(&s, p, tid, btf, aitrace_task_cpu(p, btf), true, false);
	return 0;
}

enum group_counter { COUNT_MIGRATION, COUNT_NUMA_MOVE, COUNT_NUMA_SWAP };

static __always_inline int count_event(struct task_struct *p, enum group_counter which, bool btf)
{
	struct aitrace_sched_thread_stats *t;
	struct aitrace_sched_task_state *st;
	struct aitrace_sched_totals *g;
	__u32 tid, slot;

	if (!p)
		return 0;
	tid = AITRACE_READ(btf, p, pid);
	if (!measured(p, tid))
		return 0;
	st = task_state_get(p, tid, btf);
	if (!st)
		return 0;
	g = task_group(p, st, tid, btf, &slot);
	if (!g)
		return 0;
	t = thread_stats_of(p, st, slot, btf);
	if (t) {
		if (which == COUNT_MIGRATION)
			t->migrations++;
		else if (which == COUNT_NUMA_MOVE)
			t->numa_moves++;
		else /* sched_swap_numa holds no lock of the task it swaps in */
			__sync_fetch_and_add(&t->numa_swaps, 1);
		return 0;
	}
	if (which == COUNT_MIGRATION)
		__sync_fetch_and_add(&g->migrations, 1);
	else if (which == COUNT_NUMA_MOVE)
		__sync_fetch_and_add(&g->numa_moves, 1);
	else
		__sync_fetch_and_add(&g->numa_swaps, 1);
	return 0;
}

static __always_inline int handle_task_count(__u64 *ctx, bool btf, enum group_counter which)
{
	return count_event(AITRACE_ARG(ctx, 0, struct task_struct *), which, btf);
}

/* sched_swap_numa (src, src_cpu, dst, dst_cpu): both tasks moved. */
static __always_inline int handle_numa_swap(__u64 *ctx, bool btf)
{
	count_event(AITRACE_ARG(ctx, 0, struct task_struct *), COUNT_NUMA_SWAP, btf);
	return count_event(AITRACE_ARG(ctx, 2, struct task_struct *), COUNT_NUMA_SWAP, btf);
}

/*
 * Marks a thread's (or, when the last thread leaves, a process's) group as exited. Runs outside
 * the window too (AITRACE_BTF_RAW_PROGRAMS_UNHELD below), for what keeps counts rather than makes
 * them: a thread that exits after the window closed, before the final read, still hands its
 * statistics to thread_exits, or the iterator would lose them once it is reaped.
 */
static __always_inline int handle_exit(__u64 *ctx, bool btf)
{
	struct task_struct *p = AITRACE_ARG(ctx, 0, struct task_struct *);
	__u32 tid = AITRACE_READ(btf, p, pid), tgid = AITRACE_READ(btf, p, tgid);
	struct aitrace_sched_group *g;
	__u64 gid;
	bool mark;

	if (!btf)
		bpf_map_delete_elem(&task_states_by_tid, &tid);
	if (btf && thread_storage) {
		struct aitrace_sched_thread_state *ts = bpf_task_storage_get(&thread_states, p, 0, 0);

		/*
		 * A traced thread without storage is created one, so that NULL means the copy cannot be
		 * made (6.1: the storage busy on this CPU; no memory), not "nothing to copy". Storage is
		 * looked up for every task: one traced earlier (another comm, cgroup) has some too.
		 */
		if (!ts && measured(p, tid)) {
			ts = bpf_task_storage_get(&thread_states, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
			if (!ts)
				__sync_fetch_and_add(&thread_exits_lost, 1);
		}
		if (ts)
			thread_retire(ts);
	}
	if (aitrace_held)
		return 0;
	if (group_by == AITRACE_SCHED_BY_THREAD)
		mark = true;
	else if (group_by == AITRACE_SCHED_BY_PROCESS)
		mark = BPF_CORE_READ(p, signal, live.counter) == 0;
	else
		return 0;
	if (!mark)
		return 0;
	tid = aitrace_report_tid(p, tid);
	tgid = aitrace_report_tgid(p, tgid);
	gid = group_by == AITRACE_SCHED_BY_THREAD ? thread_group_id(p, tid, btf) : process_group_id(p, tgid, btf);
	g = group_by_id(gid);
	if (g)
		g->flags |= AITRACE_SCHED_GROUP_EXITED;
	return 0;
}

/* task_rename (p, comm): threads and processes keep their group's name current (exec, prctl). */
static __always_inline int handle_rename(__u64 *ctx, bool btf)
{
	struct task_struct *p = AITRACE_ARG(ctx, 0, struct task_struct *);
	const char *comm = AITRACE_ARG(ctx, 1, const char *);
	__u32 tid = AITRACE_READ(btf, p, pid), tgid = AITRACE_READ(btf, p, tgid);
	struct aitrace_sched_group *g;
	__u64 gid;

	tid = aitrace_report_tid(p, tid);
	tgid = aitrace_report_tgid(p, tgid);
	if (group_by == AITRACE_SCHED_BY_THREAD)
		gid = thread_group_id(p, tid, btf);
	else if (group_by == AITRACE_SCHED_BY_PROCESS && tid == tgid)
		gid = process_group_id(p, tgid, btf);
	else
		return 0;
	g = group_by_id(gid);
	if (g)
		bpf_probe_read_kernel_str(g->comm, sizeof(g->comm), comm);
	return 0;
}

AITRACE_BTF_RAW_PROGRAMS(sched_switch, sched_switch, handle_switch)
AITRACE_BTF_RAW_PROGRAMS(sched_wakeup, sched_wakeup, handle_wakeup)
AITRACE_BTF_RAW_PROGRAMS(sched_wakeup_new, sched_wakeup_new, handle_wakeup)
AITRACE_BTF_RAW_PROGRAMS(sched_migrate_task, sched_migrate_task, handle_task_count, COUNT_MIGRATION)
AITRACE_BTF_RAW_PROGRAMS(sched_move_numa, sched_move_numa, handle_task_count, COUNT_NUMA_MOVE)
AITRACE_BTF_RAW_PROGRAMS(sched_swap_numa, sched_swap_numa, handle_numa_swap)
AITRACE_BTF_RAW_PROGRAMS_UNHELD(sched_process_exit, sched_process_exit, handle_exit)
AITRACE_BTF_RAW_PROGRAMS(task_rename, task_rename, handle_rename)

/* The process filter's fork and free programs (user/core/filter_hooks.cpp attaches them). */
AITRACE_FILTER_PROGRAMS(sched)
