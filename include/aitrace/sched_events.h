/*
 * Shared between bpf/sched.bpf.c and the sched collector: per-group statistics and sparse
 * histogram keys aggregated in the kernel, read by userspace.
 */
#ifndef AITRACE_SCHED_EVENTS_H
#define AITRACE_SCHED_EVENTS_H

#include "aitrace/types.h"

/* The latency histograms kept per group; the order is the JSON order. */
enum aitrace_sched_metric {
	AITRACE_SCHED_RUNQ_WAKEUP = 0,  /* wakeup (or new task) -> switch-in */
	AITRACE_SCHED_RUNQ_PREEMPT = 1, /* switched out while runnable -> switch-in */
	AITRACE_SCHED_ONCPU = 2,        /* switch-in -> switch-out */
	AITRACE_SCHED_OFFCPU_SLEEP = 3, /* switch-out in interruptible sleep -> wakeup */
	AITRACE_SCHED_OFFCPU_BLOCK = 4, /* switch-out uninterruptible (D) -> wakeup */
	AITRACE_SCHED_METRICS = 5,
};

enum aitrace_sched_group_by {
	AITRACE_SCHED_BY_THREAD = 0,
	AITRACE_SCHED_BY_PROCESS = 1,
	AITRACE_SCHED_BY_CGROUP = 2,
	AITRACE_SCHED_BY_COMM = 3,
	AITRACE_SCHED_BY_NONE = 4,
};

/* Group id of the `other` group that takes every event once the group map is full. */
#define AITRACE_SCHED_GROUP_OTHER (~0ULL)
#define AITRACE_SCHED_DEFAULT_MAX_GROUPS 10240
/* Sparse histogram entries per group budgeted by default (a busy group fills ~60-150). */
#define AITRACE_SCHED_HIST_ENTRIES_PER_GROUP 24
#define AITRACE_SCHED_MIN_HIST_ENTRIES 16384

#define AITRACE_SCHED_GROUP_EXITED 1u

struct aitrace_sched_metric_stats {
	__u64 count;
	__u64 sum;
	__u64 min; /* ~0 until the first sample */
	__u64 max;
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_sched_metric_stats) == 32, "metric stats layout");

/* Value of the `groups` map, keyed by the group id (tid, tgid, cgroup id, comm hash or 0). */
struct aitrace_sched_group {
	__u32 pid;     /* tgid of the task that created the group */
	__u32 tid;     /* its tid */
	__u64 cgroup_id;
	char comm[AITRACE_COMM_LEN];
	__u64 switches;    /* switch-ins */
	__u64 involuntary; /* switch-outs while runnable (preemptions) */
	__u64 migrations;  /* sched_migrate_task */
	__u64 numa_moves;  /* sched_move_numa */
	__u64 numa_swaps;  /* sched_swap_numa (either side) */
	__u32 flags;       /* AITRACE_SCHED_GROUP_* */
	__u32 pad;
	struct aitrace_sched_metric_stats metrics[AITRACE_SCHED_METRICS];
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_sched_group) == 240, "group layout");

/* Key of the sparse `hist` map (value: __u64 count). */
struct aitrace_sched_hist_key {
	__u64 group;
	__u32 metric;
	__u32 bucket; /* aitrace_hist_bucket(latency_ns) */
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_sched_hist_key) == 16, "hist key layout");

/* Per-task state (task-local storage, or the tid-keyed fallback map). */
enum aitrace_sched_phase {
	AITRACE_SCHED_PHASE_UNKNOWN = 0, /* not seen since tracing started */
	AITRACE_SCHED_PHASE_ONCPU = 1,
	AITRACE_SCHED_PHASE_QUEUED_WAKEUP = 2,
	AITRACE_SCHED_PHASE_QUEUED_PREEMPT = 3,
	AITRACE_SCHED_PHASE_SLEEP = 4,
	AITRACE_SCHED_PHASE_BLOCK = 5,
};

struct aitrace_sched_task_state {
	__u64 ts;    /* bpf_ktime_get_ns() of the last transition */
	__u32 phase; /* enum aitrace_sched_phase */
	__u32 pad;
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_sched_task_state) == 16, "task state layout");

#endif
