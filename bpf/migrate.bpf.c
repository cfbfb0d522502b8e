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

static __always_inline void on_start(void)
{
	struct inflight_stack zero = {}, *st;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (!aitrace_task_wanted(current_task()))
		return;
	st = bpf_map_lookup_elem(&inflight, &tid);
	if (!st) {
		if (bpf_map_update_elem(&inflight, &tid, &zero, BPF_ANY)) {
			__sync_fetch_and_add(&lost.inflight_full, 1);
			return;
		}
		st = bpf_map_lookup_elem(&inflight, &tid);
		if (!st)
			return;
	}
	if (st->depth >= INFLIGHT_DEPTH) {
		__sync_fetch_and_add(&lost.inflight_full, 1);
		return;
	}
	st->start_ns[st->depth & (INFLIGHT_DEPTH - 1)] = bpf_ktime_get_ns();
	st->depth++;
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
	__u64 one = 1, *cnt;

	cnt = bpf_map_lookup_elem(&migrate_latency, &hk);
	if (cnt) {
		__sync_fetch_and_add(cnt, 1);
		return;
	}
	if (bpf_map_update_elem(&migrate_latency, &hk, &one, BPF_NOEXIST)) {
		/* Another CPU may have created it meanwhile; only a full map loses the sample. */
		cnt = bpf_map_lookup_elem(&migrate_latency, &hk);
		if (cnt)
			__sync_fetch_and_add(cnt, 1);
		else
			__sync_fetch_and_add(&lost.hist_full, 1);
	}
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

	key.tgid = (__u32)(bpf_get_current_pid_tgid() >> 32);
	key.reason = a->reason;
	key.mode = a->mode;
	key.cgroup_id = bpf_get_current_cgroup_id();
	v = bpf_map_lookup_elem(&migrate_stats, &key);
	if (!v) {
		struct migrate_stats_value zero = {};

		BPF_CORE_READ_STR_INTO(&zero.comm, task, group_leader, comm);
		bpf_map_update_elem(&migrate_stats, &key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&migrate_stats, &key);
		if (!v) {
			__sync_fetch_and_add(&lost.stats_full, 1);
			if (known)
				record_latency(a->reason, ns);
			return;
		}
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

SEC("tp_btf/mm_migrate_pages_start")
int migrate_start_btf(__u64 *ctx)
{
	on_start();
	return 0;
}

SEC("raw_tp/mm_migrate_pages_start")
int migrate_start_raw(__u64 *ctx)
{
	on_start();
	return 0;
}

SEC("tracepoint/migrate/mm_migrate_pages_start")
int migrate_start_tp(void *ctx)
{
	on_start();
	return 0;
}

SEC("tp_btf/mm_migrate_pages")
int migrate_end_btf(__u64 *ctx)
{
	struct end_args a = {};

	read_raw_end_args(ctx, &a);
	on_end(&a);
	return 0;
}

SEC("raw_tp/mm_migrate_pages")
int migrate_end_raw(__u64 *ctx)
{
	struct end_args a = {};

	read_raw_end_args(ctx, &a);
	on_end(&a);
	return 0;
}

SEC("tracepoint/migrate/mm_migrate_pages")
int migrate_end_tp(struct trace_event_raw_mm_migrate_pages *ctx)
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

/* Migration PTEs: one per mapping of a folio being moved; order says how many pages. */
static __always_inline void count_ptes(__u64 *counter, int order)
{
	if (!aitrace_task_wanted(current_task()))
		return;
	if (order < 0 || order > 20)
		order = 0;
	__sync_fetch_and_add(counter, 1ULL << order);
}

SEC("tp_btf/set_migration_pte")
int migration_pte_set_btf(__u64 *ctx)
{
	count_ptes(&ptes_set, (int)ctx[2]);
	return 0;
}

SEC("raw_tp/set_migration_pte")
int migration_pte_set_raw(__u64 *ctx)
{
	count_ptes(&ptes_set, (int)ctx[2]);
	return 0;
}

SEC("tracepoint/migrate/set_migration_pte")
int migration_pte_set_tp(struct trace_event_raw_migration_pte *ctx)
{
	count_ptes(&ptes_set, BPF_CORE_READ(ctx, order));
	return 0;
}

SEC("tp_btf/remove_migration_pte")
int migration_pte_remove_btf(__u64 *ctx)
{
	count_ptes(&ptes_removed, (int)ctx[2]);
	return 0;
}

SEC("raw_tp/remove_migration_pte")
int migration_pte_remove_raw(__u64 *ctx)
{
	count_ptes(&ptes_removed, (int)ctx[2]);
	return 0;
}

SEC("tracepoint/migrate/remove_migration_pte")
int migration_pte_remove_tp(struct trace_event_raw_migration_pte *ctx)
{
	count_ptes(&ptes_removed, BPF_CORE_READ(ctx, order));
	return 0;
}

/* NUMA balancing task moves. */
static __always_inline void count_numa(__u32 kind, __s32 src_cpu, __s32 dst_cpu, __u32 tgid)
{
	struct migrate_numa_key k = { .kind = kind, .src_cpu = src_cpu, .dst_cpu = dst_cpu, .tgid = tgid };
	__u64 one = 1, *cnt;

	cnt = bpf_map_lookup_elem(&numa_moves, &k);
	if (cnt) {
		__sync_fetch_and_add(cnt, 1);
		return;
	}
	if (bpf_map_update_elem(&numa_moves, &k, &one, BPF_NOEXIST)) {
		cnt = bpf_map_lookup_elem(&numa_moves, &k);
		if (cnt)
			__sync_fetch_and_add(cnt, 1);
		else
			__sync_fetch_and_add(&lost.numa_full, 1);
	}
}

static __always_inline void on_numa_task(__u32 kind, struct task_struct *p, __s32 src_cpu, __s32 dst_cpu)
{
	if (!aitrace_task_wanted(p))
		return;
	count_numa(kind, src_cpu, dst_cpu, BPF_CORE_READ(p, tgid));
}

/* swap/stick: either task of the pair being a target counts (dst may be NULL for stick). */
static __always_inline void on_numa_pair(__u32 kind, struct task_struct *src, __s32 src_cpu, struct task_struct *dst,
					 __s32 dst_cpu)
{
	if (!aitrace_task_wanted(src) && !(dst && aitrace_task_wanted(dst)))
		return;
	count_numa(kind, src_cpu, dst_cpu, BPF_CORE_READ(src, tgid));
}

SEC("tp_btf/sched_move_numa")
int numa_move_btf(__u64 *ctx)
{
	on_numa_task(AITRACE_NUMA_MOVE, (struct task_struct *)ctx[0], (__s32)ctx[1], (__s32)ctx[2]);
	return 0;
}

SEC("raw_tp/sched_move_numa")
int numa_move_raw(__u64 *ctx)
{
	on_numa_task(AITRACE_NUMA_MOVE, (struct task_struct *)ctx[0], (__s32)ctx[1], (__s32)ctx[2]);
	return 0;
}

/*
 * The classic records carry ids, not tasks. NUMA balancing runs in the task being moved
 * (task_numa_migrate() on current), so the filter checks current.
 */
SEC("tracepoint/sched/sched_move_numa")
int numa_move_tp(struct trace_event_raw_sched_move_numa *ctx)
{
	if (!aitrace_task_wanted(current_task()))
		return 0;
	count_numa(AITRACE_NUMA_MOVE, BPF_CORE_READ(ctx, src_cpu), BPF_CORE_READ(ctx, dst_cpu), BPF_CORE_READ(ctx, tgid));
	return 0;
}

SEC("tp_btf/sched_swap_numa")
int numa_swap_btf(__u64 *ctx)
{
	on_numa_pair(AITRACE_NUMA_SWAP, (struct task_struct *)ctx[0], (__s32)ctx[1], (struct task_struct *)ctx[2],
		     (__s32)ctx[3]);
	return 0;
}

SEC("raw_tp/sched_swap_numa")
int numa_swap_raw(__u64 *ctx)
{
	on_numa_pair(AITRACE_NUMA_SWAP, (struct task_struct *)ctx[0], (__s32)ctx[1], (struct task_struct *)ctx[2],
		     (__s32)ctx[3]);
	return 0;
}

SEC("tracepoint/sched/sched_swap_numa")
int numa_swap_tp(struct trace_event_raw_sched_numa_pair_template *ctx)
{
	if (!aitrace_task_wanted(current_task()))
		return 0;
	count_numa(AITRACE_NUMA_SWAP, BPF_CORE_READ(ctx, src_cpu), BPF_CORE_READ(ctx, dst_cpu),
		   BPF_CORE_READ(ctx, src_tgid));
	return 0;
}

SEC("tp_btf/sched_stick_numa")
int numa_stick_btf(__u64 *ctx)
{
	on_numa_pair(AITRACE_NUMA_STICK, (struct task_struct *)ctx[0], (__s32)ctx[1], (struct task_struct *)ctx[2],
		     (__s32)ctx[3]);
	return 0;
}

SEC("raw_tp/sched_stick_numa")
int numa_stick_raw(__u64 *ctx)
{
	on_numa_pair(AITRACE_NUMA_STICK, (struct task_struct *)ctx[0], (__s32)ctx[1], (struct task_struct *)ctx[2],
		     (__s32)ctx[3]);
	return 0;
}

SEC("tracepoint/sched/sched_stick_numa")
int numa_stick_tp(struct trace_event_raw_sched_numa_pair_template *ctx)
{
	if (!aitrace_task_wanted(current_task()))
		return 0;
	count_numa(AITRACE_NUMA_STICK, BPF_CORE_READ(ctx, src_cpu), BPF_CORE_READ(ctx, dst_cpu),
		   BPF_CORE_READ(ctx, src_tgid));
	return 0;
}

/* The process filter's fork and free programs (user/core/filter_hooks.cpp attaches them). */
AITRACE_FILTER_PROGRAMS(migrate)

char LICENSE[] SEC("license") = "GPL";
