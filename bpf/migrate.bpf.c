// SPDX-License-Identifier: GPL-2.0
/*
 * Page migrations (migrate:mm_migrate_pages_start/mm_migrate_pages) and NUMA-balancing task
 * moves (sched:sched_move_numa/swap_numa/stick_numa), aggregated in the kernel.
 *
 * Each hook has three twins (tp_btf, raw_tp, classic tracepoint); userspace keeps one. The
 * raw argument list of mm_migrate_pages changed across kernels, so the raw flavours read it by
 * the argument count userspace found in BTF (migrate_nargs); the classic flavour reads the
 * trace_event_raw_mm_migrate_pages record through CO-RE with field-existence checks.
 *
 * A migrate_pages() call runs in the task that asked for it: the faulting task for NUMA
 * balancing, the allocating task for direct compaction, kcompactd for background compaction.
 * That task is what the filter checks and what the stats are keyed by; the owner of the pages
 * is not known here.
 */
#include "common/core.bpf.h"
#include "common/filter.bpf.h"
#include "common/programs.bpf.h"
#include "aitrace/histogram.h"
#include "aitrace/migrate_events.h"

/* Argument count of the mm_migrate_pages prototype (set from BTF before load). */
const volatile __u32 migrate_nargs = 8;

struct migrate_lost lost = {};
/* Migration entries installed/removed in page tables (pages unmapped while they move). */
__u64 ptes_set = 0;
__u64 ptes_removed = 0;
/* Events seen, before filtering: lets tests and doctor tell "no events" from "filtered". */
__u64 end_events = 0;

/*
 * Shared (not per-CPU) hashes with atomic adds: events come per migrate_pages() call (a batch
 * of up to 512 pages), not per page, so contention is low, while per-CPU values would cost
 * max_entries x CPUs of preallocated memory (tens of MB on a 256-CPU AI host).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AITRACE_MIGRATE_STATS_MAX);
	__type(key, struct migrate_stats_key);
	__type(value, struct migrate_stats_value);
} migrate_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AITRACE_MIGRATE_HIST_MAX);
	__type(key, struct migrate_hist_key);
	__type(value, __u64);
} migrate_latency SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AITRACE_MIGRATE_NUMA_MAX);
	__type(key, struct migrate_numa_key);
	__type(value, __u64);
} numa_moves SEC(".maps");

/*
 * Start times per thread. A small stack, because migrate_pages() can nest: allocating a
 * migration target may enter direct compaction, which migrates pages itself.
 */
#define INFLIGHT_DEPTH 4
struct inflight_stack {
	__u64 start_ns[INFLIGHT_DEPTH];
	__u32 depth;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AITRACE_MIGRATE_INFLIGHT_MAX);
	__type(key, __u32);
	__type(value, struct inflight_stack);
} inflight SEC(".maps");

struct end_args {
	__u64 succeeded, failed, thp_succeeded, thp_failed, thp_split, large_folio_split;
	__u32 mode;
	__s32 reason;
};

static __always_inline struct task_struct *current_task(void)
{
	return (struct task_struct *)bpf_get_current_task();
}

/* mm_migrate_pages_start: only its time matters. */
static __always_inline int on_start(void *ctx, bool btf)
{
	struct inflight_stack zero = {}, *st;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (!aitrace_task_wanted(current_task()))
		return 0;
	st = aitrace_map_lookup_or_init(&inflight, &tid, &zero, &lost.inflight_full);
	if (!st)
		return 0;
	if (st->depth >= INFLIGHT_DEPTH) {
		__sync_fetch_and_add(&lost.inflight_full, 1);
		return 0;
	}
	st->start_ns[st->depth & (INFLIGHT_DEPTH - 1)] = bpf_ktime_get_ns();
	st->depth++;
	return 0;
}

/* Latency of the call ending now, or 0 when its start was not seen. */
static __always_inline __u64 pop_latency(__u32 tid, bool *known)
{
	struct inflight_stack *st = bpf_map_lookup_elem(&inflight, &tid);
	__u64 start;

	*known = false;
	if (!st || st->depth == 0)
		return 0;
	st->depth--;
	start = st->start_ns[st->depth & (INFLIGHT_DEPTH - 1)];
	if (st->depth == 0)
		bpf_map_delete_elem(&inflight, &tid);
	*known = true;
	return bpf_ktime_get_ns() - start;
}

static __always_inline void record_latency(__s32 reason, __u64 ns)
{
	struct migrate_hist_key hk = { .reason = reason, .bucket = aitrace_hist_bucket(ns) };
	__u64 zero = 0, *cnt;

	cnt = aitrace_map_lookup_or_init(&migrate_latency, &hk, &zero, &lost.hist_full);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
}

static __always_inline void on_end(const struct end_args *a)
{
	struct task_struct *task = current_task();
	struct migrate_stats_key key = {};
	struct migrate_stats_value *v;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bool known;
	__u64 ns;

	__sync_fetch_and_add(&end_events, 1);
	/* Pop before filtering, so a task that stopped matching mid-call leaves no stale entry. */
	ns = pop_latency(tid, &known);
	if (!aitrace_task_wanted(task))
		return;
	if (!known)
		__sync_fetch_and_add(&lost.no_start, 1);

	key.tgid = (__u32)(aitrace_report_current_pid_tgid() >> 32);
	key.reason = a->reason;
	key.mode = a->mode;
	key.cgroup_id = bpf_get_current_cgroup_id();
	v = bpf_map_lookup_elem(&migrate_stats, &key);
	if (!v) {
		struct migrate_stats_value init = {};

		/* Named once, when the key first appears. */
		BPF_CORE_READ_STR_INTO(&init.comm, task, group_leader, comm);
		v = aitrace_map_lookup_or_init(&migrate_stats, &key, &init, &lost.stats_full);
	}
	if (!v) {
		if (known)
			record_latency(a->reason, ns);
		return;
	}
	__sync_fetch_and_add(&v->calls, 1);
	__sync_fetch_and_add(&v->succeeded, a->succeeded);
	__sync_fetch_and_add(&v->failed, a->failed);
	__sync_fetch_and_add(&v->thp_succeeded, a->thp_succeeded);
	__sync_fetch_and_add(&v->thp_failed, a->thp_failed);
	__sync_fetch_and_add(&v->thp_split, a->thp_split);
	__sync_fetch_and_add(&v->large_folio_split, a->large_folio_split);
	if (known) {
		__sync_fetch_and_add(&v->timed_calls, 1);
		__sync_fetch_and_add(&v->latency_sum_ns, ns);
		record_latency(a->reason, ns);
	}
}

/*
 * Raw arguments (tp_btf/raw_tp). Every ctx read is at a constant offset below migrate_nargs
 * (the verifier rejects reads past the prototype and computed ctx offsets); the copies on the
 * stack are then picked by position. migrate_nargs is read-only data, so the verifier knows it.
 */
static __always_inline void read_raw_end_args(const __u64 *ctx, struct end_args *a)
{
	__u64 arg[AITRACE_MIGRATE_ARGS_MAX] = {};
	__u32 n = migrate_nargs;

#pragma unroll
	for (int i = 0; i < AITRACE_MIGRATE_ARGS_MAX; i++) {
		if (i < n)
			arg[i] = ctx[i];
	}
	if (n < AITRACE_MIGRATE_ARGS_MIN || n > AITRACE_MIGRATE_ARGS_MAX)
		return;
	a->succeeded = arg[0];
	a->failed = arg[1];
	if (n >= 6) {
		a->thp_succeeded = arg[2];
		a->thp_failed = arg[3];
	}
	if (n >= 7)
		a->thp_split = arg[4];
	if (n >= 8)
		a->large_folio_split = arg[5];
	a->mode = (__u32)arg[(n - 2) & (AITRACE_MIGRATE_ARGS_MAX - 1)];
	a->reason = (__s32)arg[(n - 1) & (AITRACE_MIGRATE_ARGS_MAX - 1)];
}

static __always_inline int on_end_raw(__u64 *ctx, bool btf)
{
	struct end_args a = {};

	read_raw_end_args(ctx, &a);
	on_end(&a);
	return 0;
}

static __always_inline int on_end_tp(struct trace_event_raw_mm_migrate_pages *ctx)
{
	struct end_args a = {};

	/* The thp fields arrived after 5.8 and large_folio_split later (see migrate_events.h). */
	a.succeeded = BPF_CORE_READ(ctx, succeeded);
	a.failed = BPF_CORE_READ(ctx, failed);
	if (bpf_core_field_exists(ctx->thp_succeeded)) {
		a.thp_succeeded = BPF_CORE_READ(ctx, thp_succeeded);
		a.thp_failed = BPF_CORE_READ(ctx, thp_failed);
	}
	if (bpf_core_field_exists(ctx->thp_split))
		a.thp_split = BPF_CORE_READ(ctx, thp_split);
	if (bpf_core_field_exists(ctx->large_folio_split))
		a.large_folio_split = BPF_CORE_READ(ctx, large_folio_split);
	a.mode = (__u32)BPF_CORE_READ(ctx, mode);
	a.reason = (__s32)BPF_CORE_READ(ctx, reason);
	on_end(&a);
	return 0;
}

AITRACE_BTF_RAW_PROGRAMS(mm_migrate_pages_start, migrate_start, on_start)
AITRACE_TRACEPOINT_PROGRAM(migrate, mm_migrate_pages_start, migrate_start, void, on_start, false)
AITRACE_BTF_RAW_PROGRAMS(mm_migrate_pages, migrate_end, on_end_raw)
AITRACE_TRACEPOINT_PROGRAM(migrate, mm_migrate_pages, migrate_end, struct trace_event_raw_mm_migrate_pages, on_end_tp)

/* Migration PTEs: one per mapping of a folio being moved; order says how many pages. */
static __always_inline int count_ptes(__u64 *counter, int order)
{
	if (!aitrace_task_wanted(current_task()))
		return 0;
	if (order < 0 || order > 20)
		order = 0;
	__sync_fetch_and_add(counter, 1ULL << order);
	return 0;
}

/* set/remove_migration_pte (addr, pte, order) */
static __always_inline int on_pte_raw(__u64 *ctx, bool btf, __u64 *counter)
{
	return count_ptes(counter, (int)ctx[2]);
}

static __always_inline int on_pte_tp(struct trace_event_raw_migration_pte *ctx, __u64 *counter)
{
	return count_ptes(counter, BPF_CORE_READ(ctx, order));
}

AITRACE_BTF_RAW_PROGRAMS(set_migration_pte, migration_pte_set, on_pte_raw, &ptes_set)
AITRACE_TRACEPOINT_PROGRAM(migrate, set_migration_pte, migration_pte_set, struct trace_event_raw_migration_pte, on_pte_tp,
			   &ptes_set)
AITRACE_BTF_RAW_PROGRAMS(remove_migration_pte, migration_pte_remove, on_pte_raw, &ptes_removed)
AITRACE_TRACEPOINT_PROGRAM(migrate, remove_migration_pte, migration_pte_remove, struct trace_event_raw_migration_pte,
			   on_pte_tp, &ptes_removed)

/* NUMA balancing task moves. */
static __always_inline void count_numa(__u32 kind, __s32 src_cpu, __s32 dst_cpu, __u32 tgid)
{
	struct migrate_numa_key k = { .kind = kind, .src_cpu = src_cpu, .dst_cpu = dst_cpu, .tgid = tgid };
	__u64 zero = 0, *cnt;

	cnt = aitrace_map_lookup_or_init(&numa_moves, &k, &zero, &lost.numa_full);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
}

static __always_inline void on_numa_task(__u32 kind, struct task_struct *p, __s32 src_cpu, __s32 dst_cpu)
{
	if (!aitrace_task_wanted(p))
		return;
	count_numa(kind, src_cpu, dst_cpu, aitrace_report_tgid(p, BPF_CORE_READ(p, tgid)));
}

/* swap/stick: either task of the pair being a target counts (dst may be NULL for stick). */
static __always_inline void on_numa_pair(__u32 kind, struct task_struct *src, __s32 src_cpu, struct task_struct *dst,
					 __s32 dst_cpu)
{
	if (!aitrace_task_wanted(src) && !(dst && aitrace_task_wanted(dst)))
		return;
	count_numa(kind, src_cpu, dst_cpu, aitrace_report_tgid(src, BPF_CORE_READ(src, tgid)));
}

/* sched_move_numa (p, src_cpu, dst_cpu) */
static __always_inline int on_numa_move_raw(__u64 *ctx, bool btf)
{
	on_numa_task(AITRACE_NUMA_MOVE, AITRACE_ARG(ctx, 0, struct task_struct *), (__s32)ctx[1], (__s32)ctx[2]);
	return 0;
}

/* sched_swap_numa/sched_stick_numa (src, src_cpu, dst, dst_cpu) */
static __always_inline int on_numa_pair_raw(__u64 *ctx, bool btf, __u32 kind)
{
	on_numa_pair(kind, AITRACE_ARG(ctx, 0, struct task_struct *), (__s32)ctx[1],
		     AITRACE_ARG(ctx, 2, struct task_struct *), (__s32)ctx[3]);
	return 0;
}

/*
 * The classic records carry ids, not tasks. NUMA balancing runs in the task being moved
 * (task_numa_migrate() on current), so the filter checks current, and in a child pid namespace
 * current's id there replaces the record's host id.
 */
static __always_inline __u32 numa_tp_tgid(__u32 host_tgid)
{
	return aitrace_pidns_report() ? (__u32)(aitrace_report_current_pid_tgid() >> 32) : host_tgid;
}

static __always_inline int on_numa_move_tp(struct trace_event_raw_sched_move_numa *ctx)
{
	if (aitrace_task_wanted(current_task()))
		count_numa(AITRACE_NUMA_MOVE, BPF_CORE_READ(ctx, src_cpu), BPF_CORE_READ(ctx, dst_cpu),
			   numa_tp_tgid(BPF_CORE_READ(ctx, tgid)));
	return 0;
}

static __always_inline int on_numa_pair_tp(struct trace_event_raw_sched_numa_pair_template *ctx, __u32 kind)
{
	if (aitrace_task_wanted(current_task()))
		count_numa(kind, BPF_CORE_READ(ctx, src_cpu), BPF_CORE_READ(ctx, dst_cpu),
			   numa_tp_tgid(BPF_CORE_READ(ctx, src_tgid)));
	return 0;
}

AITRACE_BTF_RAW_PROGRAMS(sched_move_numa, numa_move, on_numa_move_raw)
AITRACE_TRACEPOINT_PROGRAM(sched, sched_move_numa, numa_move, struct trace_event_raw_sched_move_numa, on_numa_move_tp)
AITRACE_BTF_RAW_PROGRAMS(sched_swap_numa, numa_swap, on_numa_pair_raw, AITRACE_NUMA_SWAP)
AITRACE_TRACEPOINT_PROGRAM(sched, sched_swap_numa, numa_swap, struct trace_event_raw_sched_numa_pair_template,
			   on_numa_pair_tp, AITRACE_NUMA_SWAP)
AITRACE_BTF_RAW_PROGRAMS(sched_stick_numa, numa_stick, on_numa_pair_raw, AITRACE_NUMA_STICK)
AITRACE_TRACEPOINT_PROGRAM(sched, sched_stick_numa, numa_stick, struct trace_event_raw_sched_numa_pair_template,
			   on_numa_pair_tp, AITRACE_NUMA_STICK)

/* The process filter's fork and free programs (user/core/filter_hooks.cpp attaches them). */
AITRACE_FILTER_PROGRAMS(migrate)

char LICENSE[] SEC("license") = "GPL";
