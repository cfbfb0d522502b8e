// SPDX-License-Identifier: GPL-2.0
/*
 * aitrace sched: run-queue latency, on-CPU and off-CPU time per group, computed in the kernel.
 *
 * Per-task state (phase + timestamp of the last transition) lives in task-local storage, so the
 * hot path never hashes a pid; kernels or hook flavours without BTF task pointers (raw_tp) fall
 * back to a tid-keyed hash. Aggregates go to a bounded `groups` hash and a sparse `hist` hash
 * keyed by {group, metric, bucket}; when either is full the event is counted, never dropped
 * silently.
 *
 * Every handler exists twice, tp_btf (typed, trusted task pointers) and raw_tp (u64 args), with
 * one always-inline body; userspace picks one flavour for all events before load.
 */
#include "common/core.bpf.h"
#include "common/filter.bpf.h"
#include "aitrace/histogram.h"
#include "aitrace/sched_events.h"
#include "aitrace/switch_class.h"

#ifndef EEXIST
#define EEXIST 17
#endif

char LICENSE[] SEC("license") = "GPL";

/* Set by userspace before load. */
const volatile __u32 group_by = AITRACE_SCHED_BY_PROCESS;
/* sched_switch has carried prev_state as 4th argument since 5.18; older kernels: read it. */
const volatile bool switch_has_prev_state = true;
/* Slots in group_stats (other + max groups) and how many of them have dense histograms. */
const volatile __u32 max_slots = AITRACE_SCHED_DEFAULT_MAX_GROUPS + 1;
const volatile __u32 dense_slots = AITRACE_SCHED_DEFAULT_DENSE_GROUPS;

/*
 * Timestamps: the run queue's clock (rq->clock, the clock schedstat's run_delay uses) by
 * default, bpf_ktime_get_ns() with --clock ktime. The kernel updates the rq clock under the rq
 * lock just before each of these tracepoints (start of __schedule, wakeup path), so reading it
 * costs a few loads instead of a clock read (~70 ns in some VMs), and both ends of every
 * interval are stamped where the kernel's own accounting stamps them.
 */
const volatile bool use_rq_clock = true;

/* Next free slot of group_stats; slot 0 is `other`. */
__u64 next_slot = 1;

/* Counted drops, shown in every output. */
__u64 groups_overflow = 0;     /* tasks routed to `other` because every slot was taken */
__u64 hist_overflow = 0;       /* samples counted in a group but missing from its buckets */
__u64 task_state_missing = 0;
/*
 * Transitions whose previous step never reached us: a switch-out of a task we saw queued, or a
 * switch-in of a task we saw on a CPU. Each one drops an interval; shown as lost.
 */
__u64 transitions_missed = 0;
/* Gaps of that kind closed from the kernel's own sched_info stamps: nothing was lost. */
__u64 transitions_repaired = 0;

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct aitrace_sched_task_state);
} task_states SEC(".maps");

/* raw_tp fallback: raw_tp args are plain integers, which bpf_task_storage_get refuses. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* resized by userspace in raw_tp mode */
	__type(key, __u32);
	__type(value, struct aitrace_sched_task_state);
} task_states_by_tid SEC(".maps");

/* group id -> slot; consulted once per task (and again when its group id changes). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AITRACE_SCHED_DEFAULT_MAX_GROUPS);
	__type(key, __u64);
	__type(value, __u32);
} group_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, AITRACE_SCHED_DEFAULT_MAX_GROUPS + 1);
	__type(key, __u32);
	__type(value, struct aitrace_sched_group);
} group_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, AITRACE_SCHED_DEFAULT_DENSE_GROUPS);
	__type(key, __u32);
	__type(value, struct aitrace_sched_dense_hist);
} dense_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AITRACE_SCHED_DEFAULT_MAX_GROUPS * AITRACE_SCHED_HIST_ENTRIES_PER_GROUP);
	__type(key, struct aitrace_sched_hist_key);
	__type(value, __u64);
} hist SEC(".maps");

/* Before 5.14 the task state field was `state`. */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

/* Architectures where the CPU number lives in task_struct rather than thread_info. */
struct task_struct___cpu {
	unsigned int cpu;
} __attribute__((preserve_access_index));

static __always_inline __u32 task_cpu_of(struct task_struct *p)
{
	struct task_struct___cpu *q = (void *)p;

	if (bpf_core_field_exists(q->cpu))
		return BPF_CORE_READ(q, cpu);
	return BPF_CORE_READ(p, thread_info.cpu);
}

/*
 * The clock of the run queue p is on (its rq lock is held at every hook that asks). Every task,
 * whatever its class, has se.cfs_rq set to its CPU's cfs_rq by set_task_rq().
 */
static __always_inline __u64 rq_clock_of(struct task_struct *p, bool btf)
{
	struct cfs_rq *cfs;
	struct rq *rq;
	__u64 clock = 0;

	cfs = btf ? p->se.cfs_rq : BPF_CORE_READ(p, se.cfs_rq);
	if (bpf_core_field_exists(cfs->rq)) {
		rq = btf ? cfs->rq : BPF_CORE_READ(cfs, rq);
		if (!rq)
			return bpf_ktime_get_ns();
		return btf ? rq->clock : BPF_CORE_READ(rq, clock);
	}
	/* Without CONFIG_FAIR_GROUP_SCHED a cfs_rq has no rq pointer: it is embedded in its rq. */
	bpf_probe_read_kernel(&clock, sizeof(clock),
			      (void *)((unsigned long)cfs - bpf_core_field_offset(struct rq, cfs) +
				       bpf_core_field_offset(struct rq, clock)));
	return clock;
}

static __always_inline __u64 task_rq_clock(struct task_struct *p, bool btf)
{
	return use_rq_clock ? rq_clock_of(p, btf) : bpf_ktime_get_ns();
}

/*
 * A sched_info stamp of p (rq clock, written by the kernel at every switch, traced or not) on
 * aitrace's clock: `now` is the current time on it. 0 when the stamp is missing, in the future,
 * or older than `since` (then it is not the switch aitrace missed).
 */
static __always_inline __u64 sched_info_stamp(struct task_struct *p, __u64 stamp, __u64 now, __u64 since, bool btf)
{
	__u64 clock = use_rq_clock ? now : rq_clock_of(p, btf);

	if (!stamp || stamp > clock)
		return 0;
	stamp = now - (clock - stamp);
	return (__s64)(stamp - since) >= 0 ? stamp : 0;
}

#define TASK_RUNNING_STATE 0x0000
#define TASK_UNINTERRUPTIBLE_STATE 0x0002
#define TASK_NOLOAD_STATE 0x0400
#define TASK_DEAD_STATE 0x0080

/*
 * Hot fields: a tp_btf task pointer is trusted and read directly; a raw_tp one is a number and
 * needs a probe read. `btf` is a constant in every inlined caller, so one branch remains.
 */
#define TASK_READ(btf, p, field) ((btf) ? (p)->field : BPF_CORE_READ(p, field))

static __always_inline unsigned int task_state_now(struct task_struct *p)
{
	if (bpf_core_field_exists(p->__state))
		return BPF_CORE_READ(p, __state);
	return BPF_CORE_READ((struct task_struct___pre514 *)p, state);
}

static __always_inline struct aitrace_sched_task_state *task_state_get(struct task_struct *p, __u32 tid, bool btf)
{
	struct aitrace_sched_task_state *st;

	if (btf) {
		st = bpf_task_storage_get(&task_states, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	} else {
		st = bpf_map_lookup_elem(&task_states_by_tid, &tid);
		if (!st) {
			struct aitrace_sched_task_state zero = {};

			bpf_map_update_elem(&task_states_by_tid, &tid, &zero, BPF_NOEXIST);
			st = bpf_map_lookup_elem(&task_states_by_tid, &tid);
		}
	}
	if (!st)
		__sync_fetch_and_add(&task_state_missing, 1);
	return st;
}

/* FNV-1a of the comm: --by comm keys groups by name without a 16-byte key. */
static __always_inline __u64 comm_hash(const char *comm)
{
	__u64 h = 0xcbf29ce484222325ULL;

	for (int i = 0; i < AITRACE_COMM_LEN; i++) {
		if (!comm[i])
			break;
		h = (h ^ (__u8)comm[i]) * 0x100000001b3ULL;
	}
	return h;
}

static __always_inline __u64 group_id_of(struct task_struct *p, __u32 tid, __u32 tgid)
{
	char comm[AITRACE_COMM_LEN];

	switch (group_by) {
	case AITRACE_SCHED_BY_THREAD:
		return tid;
	case AITRACE_SCHED_BY_PROCESS:
		return tgid;
	case AITRACE_SCHED_BY_CGROUP:
		return BPF_CORE_READ(p, cgroups, dfl_cgrp, kn, id);
	case AITRACE_SCHED_BY_COMM:
		BPF_CORE_READ_STR_INTO(&comm, p, comm);
		return comm_hash(comm);
	default:
		return 0;
	}
}

/* Finds or takes the slot of group `gid`; `other` when every slot is taken. */
static __noinline __u32 slot_assign(struct task_struct *p, __u32 tid, __u32 tgid, __u64 gid)
{
	struct aitrace_sched_group *g;
	__u32 *found, slot;
	__u64 next;
	long err;

	found = bpf_map_lookup_elem(&group_slots, &gid);
	if (found)
		return *found;
	next = __sync_fetch_and_add(&next_slot, 1);
	if (next >= max_slots) {
		__sync_fetch_and_add(&groups_overflow, 1);
		return AITRACE_SCHED_OTHER_SLOT;
	}
	slot = (__u32)next;
	g = bpf_map_lookup_elem(&group_stats, &slot);
	if (!g)
		return AITRACE_SCHED_OTHER_SLOT;
	/* The slot is private until group_slots publishes it. */
	for (int m = 0; m < AITRACE_SCHED_METRICS; m++)
		g->metrics[m].min = ~0ULL;
	g->pid = tgid;
	g->tid = tid;
	g->id = gid;
	g->cgroup_id = BPF_CORE_READ(p, cgroups, dfl_cgrp, kn, id);
	/* A process is named after its main thread, whichever thread is seen first. */
	if (group_by == AITRACE_SCHED_BY_PROCESS)
		BPF_CORE_READ_STR_INTO(&g->comm, p, group_leader, comm);
	else
		BPF_CORE_READ_STR_INTO(&g->comm, p, comm);
	err = aitrace_map_err(bpf_map_update_elem(&group_slots, &gid, &slot, BPF_NOEXIST));
	if (err == -EEXIST) {
		/* Another CPU created the group first; this slot stays unused (used == 0). */
		found = bpf_map_lookup_elem(&group_slots, &gid);
		return found ? *found : AITRACE_SCHED_OTHER_SLOT;
	}
	if (err) {
		__sync_fetch_and_add(&groups_overflow, 1);
		return AITRACE_SCHED_OTHER_SLOT;
	}
	g->used = 1;
	return slot;
}

/* The task's group: the slot cached in its state, looked up only when its group id changed. */
static __always_inline struct aitrace_sched_group *group_of(struct task_struct *p, struct aitrace_sched_task_state *st,
							    __u32 tid, __u32 tgid, __u32 *slot)
{
	__u64 gid = group_id_of(p, tid, tgid);

	if (!st->cached || st->group != gid) {
		st->slot = slot_assign(p, tid, tgid, gid);
		st->group = gid;
		st->cached = 1;
	}
	*slot = st->slot;
	return bpf_map_lookup_elem(&group_stats, slot);
}

static __always_inline void hist_add(__u32 slot, __u32 metric, __u64 value)
{
	struct aitrace_sched_hist_key key = {};
	__u32 bucket = aitrace_hist_bucket(value);
	__u64 one = 1, *count;
	long err;

	if (bucket >= AITRACE_HIST_BUCKETS || metric >= AITRACE_SCHED_METRICS)
		return;
	if (slot < dense_slots) {
		struct aitrace_sched_dense_hist *d = bpf_map_lookup_elem(&dense_hist, &slot);

		if (d)
			__sync_fetch_and_add(&d->buckets[metric][bucket], 1);
		return;
	}
	key.slot = slot;
	key.metric = metric;
	key.bucket = bucket;
	count = bpf_map_lookup_elem(&hist, &key);
	if (count) {
		__sync_fetch_and_add(count, 1);
		return;
	}
	err = aitrace_map_err(bpf_map_update_elem(&hist, &key, &one, BPF_NOEXIST));
	if (err == -EEXIST) {
		count = bpf_map_lookup_elem(&hist, &key);
		if (count)
			__sync_fetch_and_add(count, 1);
	} else if (err) {
		__sync_fetch_and_add(&hist_overflow, 1);
	}
}

/* min/max with compare-and-swap: exact even when CPUs update one group at once. */
static __always_inline void store_min(__u64 *p, __u64 v)
{
	for (int i = 0; i < 4; i++) {
		__u64 cur = *p;

		if (v >= cur || __sync_val_compare_and_swap(p, cur, v) == cur)
			return;
	}
}

static __always_inline void store_max(__u64 *p, __u64 v)
{
	for (int i = 0; i < 4; i++) {
		__u64 cur = *p;

		if (v <= cur || __sync_val_compare_and_swap(p, cur, v) == cur)
			return;
	}
}

static __always_inline void metric_add(struct aitrace_sched_group *g, __u32 slot, __u32 metric, __u64 value)
{
	struct aitrace_sched_metric_stats *s;

	/* Two run queues' clocks can differ by a little: an interval never goes below zero. */
	if ((__s64)value < 0)
		value = 0;
	if (metric >= AITRACE_SCHED_METRICS)
		return;
	s = &g->metrics[metric];
	/* A dense slot's count is the sum of its buckets (userspace adds them): one atomic less. */
	if (slot >= dense_slots)
		__sync_fetch_and_add(&s->count, 1);
	__sync_fetch_and_add(&s->sum, value);
	store_min(&s->min, value);
	store_max(&s->max, value);
	hist_add(slot, metric, value);
}

static __always_inline bool measured(struct task_struct *p, __u32 tid)
{
	/* The idle tasks (pid 0, one per CPU) never wait on a run queue. */
	return tid != 0 && aitrace_task_wanted(p);
}

static __always_inline void on_switch_out(struct task_struct *prev, bool preempt, unsigned int state, __u64 now, bool btf)
{
	__u32 tid = TASK_READ(btf, prev, pid), tgid;
	struct aitrace_sched_task_state *st;
	struct aitrace_sched_group *g;
	bool runnable, queued;
	__u32 slot;

	if (!measured(prev, tid))
		return;
	st = task_state_get(prev, tid, btf);
	if (!st)
		return;
	tgid = TASK_READ(btf, prev, tgid);
	g = group_of(prev, st, tid, tgid, &slot);
	/*
	 * Preempted (preempt=true) means still on the run queue whatever state it was setting, and
	 * the kernel counts it (and a RUNNING yield) as involuntary. Otherwise a non-zero state
	 * means it blocked, unless a pending signal kept it queued: __schedule() then resets
	 * __state to RUNNING, but kernels without try_to_block_task()'s fix (6.1 among them) still
	 * pass the tracepoint the state read before that check. Its wait until switch-in is a
	 * run-queue wait, not sleep; the kernel still counts the switch as voluntary.
	 */
	runnable = aitrace_switch_involuntary(preempt, state);
	queued = runnable || task_state_now(prev) == TASK_RUNNING_STATE;
	if (st->phase == AITRACE_SCHED_PHASE_QUEUED_PREEMPT || st->phase == AITRACE_SCHED_PHASE_QUEUED_WAKEUP) {
		/*
		 * Its switch-in never reached us (docs/sched.md: this VM does not fire sched_switch
		 * when the outgoing task is a thread of PID 1). The kernel still stamped the arrival
		 * in sched_info: close the wait there and start the on-CPU stretch from it.
		 */
		__u64 arrived = 0;

		if (bpf_core_field_exists(prev->sched_info))
			arrived = sched_info_stamp(prev, BPF_CORE_READ(prev, sched_info.last_arrival), now, st->ts, btf);
		if (arrived && g) {
			metric_add(g, slot,
				   st->phase == AITRACE_SCHED_PHASE_QUEUED_WAKEUP ? AITRACE_SCHED_RUNQ_WAKEUP : AITRACE_SCHED_RUNQ_PREEMPT,
				   arrived - st->ts);
			if (slot >= dense_slots)
				__sync_fetch_and_add(&g->switches, 1);
			st->phase = AITRACE_SCHED_PHASE_ONCPU;
			st->ts = arrived;
			__sync_fetch_and_add(&transitions_repaired, 1);
		} else {
			__sync_fetch_and_add(&transitions_missed, 1);
		}
	}
	if (g) {
		if (st->phase == AITRACE_SCHED_PHASE_ONCPU)
			metric_add(g, slot, AITRACE_SCHED_ONCPU, now - st->ts);
		if (runnable)
			__sync_fetch_and_add(&g->involuntary, 1);
	}
	if (queued)
		st->phase = AITRACE_SCHED_PHASE_QUEUED_PREEMPT;
	else if ((state & TASK_UNINTERRUPTIBLE_STATE) && !(state & TASK_NOLOAD_STATE))
		st->phase = AITRACE_SCHED_PHASE_BLOCK;
	else
		st->phase = AITRACE_SCHED_PHASE_SLEEP; /* TASK_IDLE ("I") counts as sleep, as in ps */
	st->ts = now;
	/*
	 * A dying task's last switch-out comes after sched_process_exit dropped its raw_tp state
	 * and re-created it above: drop it again, or dead tids fill the map (task storage frees
	 * itself with the task).
	 */
	if (!btf && (state & TASK_DEAD_STATE))
		bpf_map_delete_elem(&task_states_by_tid, &tid);
}

static __always_inline void on_switch_in(struct task_struct *next, __u64 now, bool btf)
{
	__u32 tid = TASK_READ(btf, next, pid), tgid;
	struct aitrace_sched_task_state *st;
	struct aitrace_sched_group *g;
	__u32 slot;

	if (!measured(next, tid))
		return;
	st = task_state_get(next, tid, btf);
	if (!st)
		return;
	tgid = TASK_READ(btf, next, tgid);
	g = group_of(next, st, tid, tgid, &slot);
	if (st->phase == AITRACE_SCHED_PHASE_ONCPU) {
		/*
		 * Its switch-out never reached us. A task preempted while running was queued at that
		 * switch, and sched_info.last_queued (cleared only after this tracepoint) has the time.
		 */
		__u64 queued = 0;

		if (bpf_core_field_exists(next->sched_info))
			queued = sched_info_stamp(next, BPF_CORE_READ(next, sched_info.last_queued), now, st->ts, btf);
		if (queued && g) {
			metric_add(g, slot, AITRACE_SCHED_ONCPU, queued - st->ts);
			st->phase = AITRACE_SCHED_PHASE_QUEUED_PREEMPT;
			st->ts = queued;
			__sync_fetch_and_add(&transitions_repaired, 1);
		} else {
			__sync_fetch_and_add(&transitions_missed, 1);
		}
	}
	/*
	 * Still asleep as far as we know: its wakeup never reached us (or came while the filter
	 * did not select it: a cgroup move, a rename from outside), so its run-queue wait is
	 * unknown. Counted, never silently dropped.
	 */
	if (st->phase == AITRACE_SCHED_PHASE_SLEEP || st->phase == AITRACE_SCHED_PHASE_BLOCK)
		__sync_fetch_and_add(&transitions_missed, 1);
	if (g) {
		/*
		 * Dense slots count only the switch-ins without a run-queue sample; userspace adds
		 * the runq_wakeup and runq_preempt counts (one atomic less on the hot path).
		 */
		if (st->phase == AITRACE_SCHED_PHASE_QUEUED_WAKEUP)
			metric_add(g, slot, AITRACE_SCHED_RUNQ_WAKEUP, now - st->ts);
		else if (st->phase == AITRACE_SCHED_PHASE_QUEUED_PREEMPT)
			metric_add(g, slot, AITRACE_SCHED_RUNQ_PREEMPT, now - st->ts);
		if (slot >= dense_slots || (st->phase != AITRACE_SCHED_PHASE_QUEUED_WAKEUP &&
					    st->phase != AITRACE_SCHED_PHASE_QUEUED_PREEMPT))
			__sync_fetch_and_add(&g->switches, 1);
	}
	st->phase = AITRACE_SCHED_PHASE_ONCPU;
	st->ts = now;
}

static __always_inline int handle_switch(__u64 *ctx, bool btf)
{
	bool preempt = ctx[0];
	struct task_struct *prev = (struct task_struct *)ctx[1];
	struct task_struct *next = (struct task_struct *)ctx[2];
	__u64 now = task_rq_clock(prev, btf);
	unsigned int state;

	/* The 4th argument is only read where it exists: the verifier prunes the other branch. */
	if (switch_has_prev_state)
		state = (unsigned int)ctx[3];
	else
		state = task_state_now(prev);
	on_switch_out(prev, preempt, state, now, btf);
	on_switch_in(next, now, btf);
	return 0;
}

static __always_inline int handle_wakeup(struct task_struct *p, bool btf)
{
	__u32 tid = TASK_READ(btf, p, pid), tgid;
	struct aitrace_sched_task_state *st;
	struct aitrace_sched_group *g;
	__u32 phase, slot;
	__u64 now;

	if (!measured(p, tid))
		return 0;
	st = task_state_get(p, tid, btf);
	if (!st)
		return 0;
	phase = st->phase;
	/*
	 * Woken while still on a CPU (it had not slept yet) or already queued: nothing starts. The
	 * wakeup runs under p's rq lock, so p->on_cpu is exact here: a task we saw switch in that is
	 * on no CPU slept through a switch-out that never reached us. Its wait starts now as usual;
	 * its on-CPU and sleep times of that stretch are unknown (counted as missed).
	 */
	if (phase == AITRACE_SCHED_PHASE_ONCPU && bpf_core_field_exists(p->on_cpu) && !TASK_READ(btf, p, on_cpu)) {
		__sync_fetch_and_add(&transitions_missed, 1);
		phase = AITRACE_SCHED_PHASE_UNKNOWN;
	}
	if (phase == AITRACE_SCHED_PHASE_ONCPU || phase == AITRACE_SCHED_PHASE_QUEUED_WAKEUP ||
	    phase == AITRACE_SCHED_PHASE_QUEUED_PREEMPT)
		return 0;
	now = task_rq_clock(p, btf);
	if (phase == AITRACE_SCHED_PHASE_SLEEP || phase == AITRACE_SCHED_PHASE_BLOCK) {
		tgid = TASK_READ(btf, p, tgid);
		g = group_of(p, st, tid, tgid, &slot);
		if (g)
			metric_add(g, slot,
				   phase == AITRACE_SCHED_PHASE_BLOCK ? AITRACE_SCHED_OFFCPU_BLOCK : AITRACE_SCHED_OFFCPU_SLEEP,
				   now - st->ts);
	}
	st->phase = AITRACE_SCHED_PHASE_QUEUED_WAKEUP;
	st->ts = now;
	return 0;
}

enum group_counter { COUNT_MIGRATION, COUNT_NUMA_MOVE, COUNT_NUMA_SWAP };

static __always_inline int count_event(struct task_struct *p, enum group_counter which, bool btf)
{
	struct aitrace_sched_task_state *st;
	struct aitrace_sched_group *g;
	__u32 tid, tgid, slot;

	if (!p)
		return 0;
	tid = TASK_READ(btf, p, pid);
	if (!measured(p, tid))
		return 0;
	st = task_state_get(p, tid, btf);
	if (!st)
		return 0;
	tgid = TASK_READ(btf, p, tgid);
	g = group_of(p, st, tid, tgid, &slot);
	if (!g)
		return 0;
	if (which == COUNT_MIGRATION)
		__sync_fetch_and_add(&g->migrations, 1);
	else if (which == COUNT_NUMA_MOVE)
		__sync_fetch_and_add(&g->numa_moves, 1);
	else
		__sync_fetch_and_add(&g->numa_swaps, 1);
	return 0;
}

/* An existing group, by id (no slot is taken). */
static __always_inline struct aitrace_sched_group *group_by_id(__u64 gid)
{
	__u32 *slot = bpf_map_lookup_elem(&group_slots, &gid);

	return slot ? bpf_map_lookup_elem(&group_stats, slot) : NULL;
}

/* Marks a thread's (or, when the last thread leaves, a process's) group as exited. */
static __always_inline int handle_exit(struct task_struct *p, bool btf)
{
	__u32 tid = TASK_READ(btf, p, pid), tgid = TASK_READ(btf, p, tgid);
	struct aitrace_sched_group *g;
	__u64 gid;
	bool mark;

	if (!btf)
		bpf_map_delete_elem(&task_states_by_tid, &tid);
	if (group_by == AITRACE_SCHED_BY_THREAD)
		mark = true;
	else if (group_by == AITRACE_SCHED_BY_PROCESS)
		mark = BPF_CORE_READ(p, signal, live.counter) == 0;
	else
		return 0;
	if (!mark)
		return 0;
	gid = group_by == AITRACE_SCHED_BY_THREAD ? tid : tgid;
	g = group_by_id(gid);
	if (g)
		g->flags |= AITRACE_SCHED_GROUP_EXITED;
	return 0;
}

/* Threads and processes keep their group's name current (exec and prctl both end up here). */
static __always_inline int handle_rename(struct task_struct *p, const char *comm, bool btf)
{
	__u32 tid = TASK_READ(btf, p, pid), tgid = TASK_READ(btf, p, tgid);
	struct aitrace_sched_group *g;
	__u64 gid;

	if (group_by == AITRACE_SCHED_BY_THREAD)
		gid = tid;
	else if (group_by == AITRACE_SCHED_BY_PROCESS && tid == tgid)
		gid = tgid;
	else
		return 0;
	g = group_by_id(gid);
	if (g)
		bpf_probe_read_kernel_str(g->comm, sizeof(g->comm), comm);
	return 0;
}

/* tp_btf flavour */

SEC("tp_btf/sched_switch")
int sched_switch_btf(__u64 *ctx)
{
	return handle_switch(ctx, true);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup_btf, struct task_struct *p)
{
	return handle_wakeup(p, true);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new_btf, struct task_struct *p)
{
	return handle_wakeup(p, true);
}

SEC("tp_btf/sched_migrate_task")
int BPF_PROG(sched_migrate_task_btf, struct task_struct *p)
{
	return count_event(p, COUNT_MIGRATION, true);
}

SEC("tp_btf/sched_move_numa")
int BPF_PROG(sched_move_numa_btf, struct task_struct *p)
{
	return count_event(p, COUNT_NUMA_MOVE, true);
}

SEC("tp_btf/sched_swap_numa")
int BPF_PROG(sched_swap_numa_btf, struct task_struct *src, int src_cpu, struct task_struct *dst)
{
	count_event(src, COUNT_NUMA_SWAP, true);
	return count_event(dst, COUNT_NUMA_SWAP, true);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_process_exit_btf, struct task_struct *p)
{
	return handle_exit(p, true);
}

SEC("tp_btf/task_rename")
int BPF_PROG(task_rename_btf, struct task_struct *p, const char *comm)
{
	return handle_rename(p, comm, true);
}

/* raw_tp flavour: the same bodies over untyped arguments */

SEC("raw_tp/sched_switch")
int sched_switch_raw(__u64 *ctx)
{
	return handle_switch(ctx, false);
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(sched_wakeup_raw, struct task_struct *p)
{
	return handle_wakeup(p, false);
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new_raw, struct task_struct *p)
{
	return handle_wakeup(p, false);
}

SEC("raw_tp/sched_migrate_task")
int BPF_PROG(sched_migrate_task_raw, struct task_struct *p)
{
	return count_event(p, COUNT_MIGRATION, false);
}

SEC("raw_tp/sched_move_numa")
int BPF_PROG(sched_move_numa_raw, struct task_struct *p)
{
	return count_event(p, COUNT_NUMA_MOVE, false);
}

SEC("raw_tp/sched_swap_numa")
int BPF_PROG(sched_swap_numa_raw, struct task_struct *src, int src_cpu, struct task_struct *dst)
{
	count_event(src, COUNT_NUMA_SWAP, false);
	return count_event(dst, COUNT_NUMA_SWAP, false);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(sched_process_exit_raw, struct task_struct *p)
{
	return handle_exit(p, false);
}

SEC("raw_tp/task_rename")
int BPF_PROG(task_rename_raw, struct task_struct *p, const char *comm)
{
	return handle_rename(p, comm, false);
}

/* The process filter's fork and free programs (user/core/filter_hooks.cpp attaches them). */
AITRACE_FILTER_PROGRAMS(sched)
