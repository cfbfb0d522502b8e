/*
 * Groups of bpf/sched.bpf.c: which group a task counts in (thread, process, cgroup, comm), the
 * slot that group's statistics live in, and how a closed interval lands in its histograms.
 * Groups live in a bounded `group_stats` array; when it is full tasks count in `other` (slot 0),
 * and a histogram entry that does not fit is counted, never dropped silently.
 */
#ifndef AITRACE_SCHED_GROUPS_BPF_H
#define AITRACE_SCHED_GROUPS_BPF_H

#include "aitrace/histogram.h"
#include "aitrace/sched_events.h"

/* Set by userspace before load. */
const volatile __u32 group_by = AITRACE_SCHED_BY_PROCESS;
/* Slots in group_stats (other + max groups) and how many of them have dense histograms. */
const volatile __u32 max_slots = AITRACE_SCHED_DEFAULT_MAX_GROUPS + 1;
const volatile __u32 dense_slots = AITRACE_SCHED_DEFAULT_DENSE_GROUPS;

/* Next free slot of group_stats; slot 0 is `other`. */
__u64 next_slot = 1;

/* Counted drops, shown in every output. */
__u64 groups_overflow = 0; /* tasks routed to `other` because every slot was taken */
__u64 hist_overflow = 0;   /* samples counted in a group but missing from its buckets */

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

/*
 * A dense slot's totals, one copy per CPU: all threads of one process count in one group, and
 * shared totals made every sample of every CPU take the same lines (an atomic sum, and a
 * compare-and-swap on each new minimum or maximum). Userspace seeds each copy's minima and adds
 * the copies up. Sized as dense_hist.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AITRACE_SCHED_DEFAULT_DENSE_GROUPS);
	__type(key, __u32);
	__type(value, struct aitrace_sched_totals);
} dense_totals SEC(".maps");

/* Rows of 16 buckets; userspace sizes it and sets BPF_F_NO_PREALLOC where the kernel allows. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AITRACE_SCHED_DEFAULT_MAX_GROUPS * AITRACE_SCHED_HIST_ROWS_PER_GROUP_PREALLOC);
	__type(key, struct aitrace_sched_hist_key);
	__type(value, struct aitrace_sched_hist_row);
} hist SEC(".maps");

/*
 * Rows for when `hist` cannot take one. Its rows are allocated at run time (6.1+), from per-CPU
 * caches that an irq_work refills; the scheduler's hooks run with interrupts off, so a burst of
 * new rows (10,000 threads' first samples) can empty a cache before the refill runs, and the
 * insert fails with ENOMEM although the map has room. This map is preallocated: userspace adds
 * a row found in both. Only when it is full too is a sample lost (hist_overflow).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AITRACE_SCHED_HIST_SPILL_ROWS);
	__type(key, struct aitrace_sched_hist_key);
	__type(value, struct aitrace_sched_hist_row);
} hist_spill SEC(".maps");

/* What a new row starts from (global: 128 bytes would crowd the handlers' 512-byte stack). */
static const struct aitrace_sched_hist_row hist_row_zero;

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

/*
 * A thread's or process's group id: the id in the low 32 bits, the task's start time (ns since
 * boot, monotonic) in units of 1024 ns above it. A pid is reused as soon as its task is reaped
 * (a fork storm wraps the pid space in seconds), and a reused id must start a new group, not
 * join the dead one's and inherit its name and exited flag. Two tasks with one id share a group
 * only if they started a multiple of 2^42 ns (73 minutes) apart to within a microsecond.
 */
static __always_inline __u64 task_group_id(__u32 id, __u64 start_ns)
{
	return ((start_ns >> 10) << 32) | id;
}

/* The process's start time is its leader's: exec by another thread copies it (de_thread). */
static __always_inline __u64 thread_group_id(struct task_struct *p, __u32 tid, bool btf)
{
	return task_group_id(tid, AITRACE_READ(btf, p, start_time));
}

/*
 * A probe read even in tp_btf programs: a plain load of the group_leader pointer makes the
 * verifier ask whether that nested pointer is trusted, a linear search of the kernel's BTF by
 * name for every such load on every path, which took ~10% of aitrace's start-up (perf). By
 * process the id is read once per task (task_group() in sched.bpf.c).
 */
static __always_inline __u64 process_group_id(struct task_struct *p, __u32 tgid, bool btf)
{
	return task_group_id(tgid, BPF_CORE_READ(p, group_leader, start_time));
}

static __always_inline __u64 group_id_of(struct task_struct *p, __u32 tid, __u32 tgid, bool btf)
{
	char comm[AITRACE_COMM_LEN];

	switch (group_by) {
	case AITRACE_SCHED_BY_THREAD:
		return thread_group_id(p, tid, btf);
	case AITRACE_SCHED_BY_PROCESS:
		return process_group_id(p, tgid, btf);
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
	int err;

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
		g->totals.metrics[m].min = ~0ULL;
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

/*
 * Where a slot's samples and events add up: this CPU's copy for a dense slot, else the group's.
 * The barrier keeps clang from merging the two lookups into one call on a map chosen at run
 * time: the verifier inlines a lookup only where the map is known, and the merged call cost
 * ~50 ns per switch (an indirect helper call, measured with bench/sched_overhead.sh).
 */
static __always_inline struct aitrace_sched_totals *slot_totals(__u32 *slot)
{
	struct aitrace_sched_totals *t;
	struct aitrace_sched_group *g;

	if (*slot < dense_slots) {
		t = bpf_map_lookup_elem(&dense_totals, slot);
		barrier_var(t);
		return t;
	}
	g = bpf_map_lookup_elem(&group_stats, slot);
	return g ? &g->totals : NULL;
}

/* The task's group: the slot cached in its state, looked up only when its group id changed. */
static __always_inline struct aitrace_sched_totals *group_of(struct task_struct *p, struct aitrace_sched_task_state *st,
							     __u32 tid, __u32 tgid, bool btf, __u32 *slot)
{
	__u64 gid = group_id_of(p, tid, tgid, btf);

	if (!st->cached || st->group != gid) {
		st->slot = slot_assign(p, tid, tgid, gid);
		st->group = gid;
		st->cached = 1;
	}
	*slot = st->slot;
	return slot_totals(slot);
}

/* An existing group, by id (no slot is taken). */
static __always_inline struct aitrace_sched_group *group_by_id(__u64 gid)
{
	__u32 *slot = bpf_map_lookup_elem(&group_slots, &gid);

	return slot ? bpf_map_lookup_elem(&group_stats, slot) : NULL;
}

static __always_inline void hist_add(__u32 slot, __u32 metric, __u64 value)
{
	struct aitrace_sched_hist_key key = {};
	__u32 bucket = aitrace_hist_bucket(value);
	struct aitrace_sched_hist_row *row;

	if (bucket >= AITRACE_HIST_BUCKETS || metric >= AITRACE_SCHED_METRICS)
		return;
	if (slot < dense_slots) {
		struct aitrace_sched_dense_hist *d = bpf_map_lookup_elem(&dense_hist, &slot);

		if (d)
			__sync_fetch_and_add(&d->buckets[metric][bucket], 1);
		return;
	}
	key.slot = slot;
	key.metric = (__u16)metric;
	key.row = (__u16)(bucket / AITRACE_HIST_SUB);
	row = aitrace_map_lookup_or_init(&hist, &key, &hist_row_zero, NULL);
	if (!row)
		row = aitrace_map_lookup_or_init(&hist_spill, &key, &hist_row_zero, &hist_overflow);
	if (row)
		__sync_fetch_and_add(&row->counts[bucket % AITRACE_HIST_SUB], 1);
}

/* Two run queues' clocks can differ by a little: an interval never goes below zero. */
static __always_inline __u64 interval_ns(__u64 value)
{
	return (__s64)value < 0 ? 0 : value;
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

/*
 * A global function: the verifier checks it once, on its own, instead of once for every path
 * through the state machine that reaches it (the sched_switch program's verification was most
 * of aitrace's start-up). `g` may be NULL for it, so it checks.
 */
__noinline int metric_add(struct aitrace_sched_totals *g, __u32 slot, __u32 metric, __u64 value)
{
	struct aitrace_sched_metric_stats *s;

	if (!g)
		return 0;

#ifdef AITRACE_ABLATE_STATS /* bench/sched_parts_overhead.sh: what the statistics and histograms cost */
	return 0;
#endif
	value = interval_ns(value);
	if (metric >= AITRACE_SCHED_METRICS)
		return 0;
	s = &g->metrics[metric];
	/* A dense slot's count is the sum of its buckets (userspace adds them): one atomic less. */
	if (slot >= dense_slots)
		__sync_fetch_and_add(&s->count, 1);
	__sync_fetch_and_add(&s->sum, value);
	store_min(&s->min, value);
	store_max(&s->max, value);
	hist_add(slot, metric, value);
	return 0;
}

#endif
