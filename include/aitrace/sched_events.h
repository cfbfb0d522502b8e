/*
 * Shared between bpf/sched.bpf.c and the sched collector: per-group statistics and sparse
 * histogram keys aggregated in the kernel, read by userspace.
 */
#ifndef AITRACE_SCHED_EVENTS_H
#define AITRACE_SCHED_EVENTS_H

#include "aitrace/histogram.h"
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

/*
 * Groups live in slots of the `group_stats` array; the `group_slots` hash maps a group id to its
 * slot once, and every task caches its slot, so the hot path does no hash lookup. Slot 0 is the
 * `other` group: every task whose group did not fit (slots exhausted) is counted there.
 */
#define AITRACE_SCHED_GROUP_OTHER (~0ULL) /* the id userspace reports for slot 0 */
#define AITRACE_SCHED_OTHER_SLOT 0
#define AITRACE_SCHED_DEFAULT_MAX_GROUPS 10240
/*
 * The first slots get dense histograms (an array: no hash on the hot path) and per-CPU totals;
 * later slots use the sparse `hist` hash keyed by {slot, metric, row} (below).
 */
#define AITRACE_SCHED_DEFAULT_DENSE_GROUPS 128
/*
 * Later slots keep their histograms in rows of the sparse `hist` hash: one row is the
 * AITRACE_HIST_SUB buckets of one power of two, so a thread whose latencies span 1 us..10 ms
 * fills ~14 rows per metric where it filled ~100 single-bucket entries, and a sample is still one
 * lookup. Rows budgeted per group: with run-time allocation (6.1+) the map's memory follows the
 * rows used and the budget only bounds it; preallocated (older kernels) every row costs memory.
 */
#define AITRACE_SCHED_HIST_ROWS_PER_GROUP 48
#define AITRACE_SCHED_HIST_ROWS_PER_GROUP_PREALLOC 12
#define AITRACE_SCHED_MIN_HIST_ROWS 4096
/* Preallocated rows of `hist_spill`, taken when `hist` cannot allocate one (bpf/sched_groups.bpf.h). */
#define AITRACE_SCHED_HIST_SPILL_ROWS 4096

#define AITRACE_SCHED_GROUP_EXITED 1u

struct aitrace_sched_metric_stats {
	__u64 count;  /* dense slots: 0, the buckets hold the count */
	__u64 sum;
	__u64 min; /* ~0 until the first sample */
	__u64 max;
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_sched_metric_stats) == 32, "metric stats layout");

/*
 * What a group's samples and events add up to. A sparse slot keeps it in its `group_stats`
 * entry; a dense slot keeps one per CPU in `dense_totals` (every CPU's samples of one busy group
 * would otherwise bounce the same cache lines between CPUs), which userspace adds up.
 */
struct aitrace_sched_totals {
	__u64 switches;    /* switch-ins (dense slots: only those without a run-queue sample) */
	__u64 involuntary; /* switch-outs while runnable (preemptions) */
	__u64 migrations;  /* sched_migrate_task */
	__u64 numa_moves;  /* sched_move_numa */
	__u64 numa_swaps;  /* sched_swap_numa (either side) */
	struct aitrace_sched_metric_stats metrics[AITRACE_SCHED_METRICS];
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_sched_totals) == 200, "totals layout");

/*
 * Value of the `group_stats` array (index: slot). The totals come first: slot_totals() then
 * hands out the entry's own address, which the verifier accepts before the NULL check that
 * clang may move after the pointer arithmetic of any other offset.
 */
struct aitrace_sched_group {
	struct aitrace_sched_totals totals; /* sparse slots only; dense slots: dense_totals */
	__u32 pid;     /* tgid of the task that created the group */
	__u32 tid;     /* its tid */
	__u64 id;      /* group id: tid or tgid with its start time, cgroup id, comm hash or 0 (0 also: unused slot) */
	char comm[AITRACE_COMM_LEN];
	__u32 flags;       /* AITRACE_SCHED_GROUP_* */
	__u32 used;        /* 1 once the slot holds a group */
	__u64 cgroup_id;   /* cgroup v2 id of the task that created the group */
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_sched_group) == 248, "group layout");

/* Value of the `dense_hist` array (index: slot < dense groups). */
struct aitrace_sched_dense_hist {
	__u64 buckets[AITRACE_SCHED_METRICS][AITRACE_HIST_BUCKETS];
};

/* Key of the sparse `hist` map (value: struct aitrace_sched_hist_row). */
struct aitrace_sched_hist_key {
	__u32 slot;
	__u16 metric;
	__u16 row; /* aitrace_hist_bucket(latency_ns) / AITRACE_HIST_SUB */
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_sched_hist_key) == 8, "hist key layout");

struct aitrace_sched_hist_row {
	__u64 counts[AITRACE_HIST_SUB]; /* bucket row * AITRACE_HIST_SUB + i */
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_sched_hist_row) == 128, "hist row layout");

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
	__u64 group; /* group id the cached slot belongs to */
	__u32 slot;  /* cached slot of `group` */
	__u8 phase;  /* enum aitrace_sched_phase */
	__u8 cached; /* slot/group are valid */
	__u8 run_delay_kept; /* run_delay and pcount hold their values at the task's last switch-out */
	__u8 pcount;         /* sched_info.pcount then, mod 256 */
	/* sched_info.run_delay then: measures a run-queue wait whose switch-in went unseen (sched_state.h) */
	__u64 run_delay;
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_sched_task_state) == 32, "task state layout");

/*
 * --by thread with task storage (docs/sched.md, "Threads' statistics"): a thread's statistics
 * live beside its state, in its own task storage, and are written without atomics (a thread's
 * transitions are serialized by the scheduler's locks, as its state's are). Its histograms are
 * a few rows of AITRACE_HIST_SUB buckets, taken as samples need them: a tag names each row's
 * metric and power of two. A sample whose row finds no room goes to the group's `hist` rows.
 * While the thread lives, a task iterator reads this; when it exits (or its group id changes,
 * an exec by a non-leader thread), a copy goes to `thread_exits` under its slot, and later
 * samples count in the group. Every sample thus lands in exactly one place, forever.
 */
#define AITRACE_SCHED_THREAD_ROWS 20
#define AITRACE_SCHED_THREAD_TAG_ROWS 64 /* tag = metric * 64 + row + 1; 0: a free row */

struct aitrace_sched_thread_stats {
	struct aitrace_sched_metric_stats metrics[AITRACE_SCHED_METRICS]; /* min is valid when count > 0 */
	__u64 switches;
	__u64 involuntary;
	__u64 migrations;
	__u64 numa_moves;
	__u64 numa_swaps;
	__u16 tags[AITRACE_SCHED_THREAD_ROWS];
	__u32 counts[AITRACE_SCHED_THREAD_ROWS][AITRACE_HIST_SUB];
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_sched_thread_stats) == 1520, "thread stats layout");

/* Value of the `thread_states` task storage: the task state first, then the thread's statistics. */
struct aitrace_sched_thread_state {
	struct aitrace_sched_task_state st;
	__u32 retired; /* stats handed to thread_exits: later samples count in the group */
	__u32 pad;
	struct aitrace_sched_thread_stats stats;
};

/* What the task iterator writes for each live thread, followed by its aitrace_sched_thread_stats. */
struct aitrace_sched_thread_record {
	__u32 slot;
	__u32 pad;
	__u64 group;
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_sched_thread_record) == 16, "thread record layout");

#endif
