/*
 * Maps shared by bpf/migrate.bpf.c and the migrate collector. Everything is aggregated in the
 * kernel (hashes with atomic counters); userspace names reasons/modes from the running kernel's
 * BTF and groups by process, cgroup or reason.
 */
#ifndef AITRACE_MIGRATE_EVENTS_H
#define AITRACE_MIGRATE_EVENTS_H

#include "aitrace/types.h"

#define AITRACE_MIGRATE_STATS_MAX 4096   /* (tgid, cgroup, reason, mode) combinations */
#define AITRACE_MIGRATE_INFLIGHT_MAX 8192 /* migrate_pages() calls in flight (one per task) */
#define AITRACE_MIGRATE_NUMA_MAX 4096    /* (kind, src cpu, dst cpu, tgid) combinations */
#define AITRACE_MIGRATE_HIST_MAX 16384   /* (reason, bucket) pairs with a count */

/*
 * mm_migrate_pages's argument list grew across kernels; userspace reads the prototype
 * btf_trace_mm_migrate_pages from the running kernel's BTF and tells the raw_tp/tp_btf
 * programs how many arguments there are (the classic tracepoint uses CO-RE instead):
 *   4: succeeded, failed, mode, reason                                      (e.g. 5.8)
 *   7: succeeded, failed, thp_succeeded, thp_failed, thp_split, mode, reason (e.g. 5.11, 5.15)
 *   8: ... thp_split, large_folio_split, mode, reason                       (e.g. 6.18)
 * mode and reason are always the last two; a count of 6 (thp without thp_split) is accepted too.
 */
#define AITRACE_MIGRATE_ARGS_MIN 4
#define AITRACE_MIGRATE_ARGS_MAX 8

/* sched NUMA-balancing events, the `kind` of a numa key. */
#define AITRACE_NUMA_MOVE 0  /* sched_move_numa: a task moved to a CPU on its preferred node */
#define AITRACE_NUMA_SWAP 1  /* sched_swap_numa: two tasks swapped CPUs across nodes */
#define AITRACE_NUMA_STICK 2 /* sched_stick_numa: a move/swap was considered and failed */

struct migrate_stats_key {
	__u32 tgid;      /* process of the task that ran migrate_pages() (kcompactd for background compaction) */
	__s32 reason;    /* enum migrate_reason value, as the kernel passed it */
	__u32 mode;      /* enum migrate_mode value */
	__u32 pad;
	__u64 cgroup_id; /* cgroup v2 id of that task */
};
AITRACE_STATIC_ASSERT(sizeof(struct migrate_stats_key) == 24, "migrate_stats_key layout");

struct migrate_stats_value {
	__u64 calls;             /* mm_migrate_pages events */
	__u64 succeeded;         /* base pages (a THP counts its subpages) */
	__u64 failed;
	__u64 thp_succeeded;
	__u64 thp_failed;
	__u64 thp_split;
	__u64 large_folio_split;
	__u64 timed_calls;       /* calls whose start was seen (latency known) */
	__u64 latency_sum_ns;
	char comm[AITRACE_COMM_LEN]; /* the process's (group leader's) comm */
};
AITRACE_STATIC_ASSERT(sizeof(struct migrate_stats_value) == 88, "migrate_stats_value layout");

struct migrate_hist_key {
	__s32 reason;
	__u32 bucket; /* aitrace_hist_bucket(latency ns) */
};
AITRACE_STATIC_ASSERT(sizeof(struct migrate_hist_key) == 8, "migrate_hist_key layout");

struct migrate_numa_key {
	__u32 kind;    /* AITRACE_NUMA_* */
	__s32 src_cpu;
	__s32 dst_cpu; /* -1 when the kernel had none (sched_stick_numa without a target) */
	__u32 tgid;    /* process of the (source) task */
};
AITRACE_STATIC_ASSERT(sizeof(struct migrate_numa_key) == 16, "migrate_numa_key layout");

/* Counters of what could not be recorded; every one is shown in every output. */
struct migrate_lost {
	__u64 stats_full;    /* stats map full: a call's pages were not counted */
	__u64 inflight_full; /* in-flight map full: a call's latency is unknown */
	__u64 hist_full;     /* histogram map full: a latency sample was dropped */
	__u64 numa_full;     /* NUMA map full: a task move was not counted */
	__u64 no_start;      /* calls whose start was not seen (began before attach) */
};
AITRACE_STATIC_ASSERT(sizeof(struct migrate_lost) == 40, "migrate_lost layout");

#endif
