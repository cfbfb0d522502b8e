/*
 * Ring-buffer records of the EEVDF scheduling trace (bpf/sched_trace.bpf.c), shared by the BPF
 * program and the C++ decoder. Every record starts with struct aitrace_st_header; `kind` says
 * which of the structs below follows. Raw kernel fields are recorded as they are: the average
 * vruntime V and the lag are computed in userspace (user/collectors/sched_trace_math.cpp),
 * where the math is unit-tested and no signed division is needed in BPF.
 */
#ifndef AITRACE_SCHED_TRACE_EVENTS_H
#define AITRACE_SCHED_TRACE_EVENTS_H

#include "aitrace/types.h"

enum aitrace_st_kind {
	AITRACE_ST_SWITCH = 1,     /* sched_switch: both tasks and their cfs_rq */
	AITRACE_ST_WAKING = 2,     /* sched_waking: waker (current) and wakee, on the waker's CPU */
	AITRACE_ST_WAKEUP = 3,     /* sched_wakeup: wakee as enqueued on its target CPU */
	AITRACE_ST_WAKEUP_NEW = 4, /* sched_wakeup_new: a new task as first enqueued */
	AITRACE_ST_SWITCH_BRIEF = 5, /* sched_switch of two untraced tasks (trace file only) */
};

/* What this kernel's BTF has; set in every record's header from CO-RE existence checks. */
#define AITRACE_ST_F_EEVDF (1u << 0)        /* sched_entity.deadline/vlag/slice (6.6+) */
#define AITRACE_ST_F_AVG (1u << 1)          /* cfs_rq weighted vruntime sums: lag computable */
#define AITRACE_ST_F_CUSTOM_SLICE (1u << 2) /* sched_entity.custom_slice (6.12+) */

#define AITRACE_ST_MAX_CPUS 1024

struct aitrace_st_header {
	__u16 kind;   /* enum aitrace_st_kind */
	__u16 flags;  /* AITRACE_ST_F_* */
	__u32 cpu;    /* CPU the event was recorded on (= the ring shard) */
	__u64 ts;     /* bpf_ktime_get_boot_ns(): CLOCK_BOOTTIME, Perfetto's default trace clock */
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_st_header) == 16, "st header layout");

/* One task's scheduling entity at the event. */
struct aitrace_st_task {
	__u32 pid;
	__u32 tgid;
	char comm[AITRACE_COMM_LEN];
	__s32 prio;                  /* p->prio: 120 = nice 0 */
	__u32 weight;                /* scale_load_down(se.load.weight): 1024 = nice 0 */
	__u64 vruntime;
	__u64 deadline;              /* virtual deadline; 0 on CFS kernels */
	__u64 slice;                 /* se.slice in ns; 0 on CFS kernels */
	__u64 sum_exec_runtime;
	__u64 prev_sum_exec_runtime; /* sum_exec_runtime when the task was last picked */
	__u8 on_rq;
	__u8 custom_slice;           /* slice set with sched_setattr(sched_runtime) */
	__u8 pad[6];
	__u64 start_time;            /* task->start_boottime: tells a reused pid from the dead task */
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_st_task) == 88, "st task layout");

/*
 * The task's cfs_rq, read with the rq lock held. With these the kernel's avg_vruntime() is
 *   V = zero_vruntime + floor((sum_w_vruntime + [curr_on_rq] (curr_vruntime - zero_vruntime) * curr_weight)
 *                             / (sum_weight + [curr_on_rq] curr_weight))
 * (names of 6.18; avg_vruntime/avg_load/min_vruntime on 6.6-6.17).
 */
struct aitrace_st_cfs {
	__s64 sum_w_vruntime;  /* sum of w_i * (v_i - zero_vruntime) over queued, not running entities */
	__u64 sum_weight;      /* sum of their weights (scaled down) */
	__u64 zero_vruntime;   /* the key origin (min_vruntime before 6.17) */
	__u64 curr_vruntime;   /* cfs_rq->curr (the running entity), if any */
	__u32 curr_weight;
	__u8 curr_on_rq;       /* curr != NULL && curr->on_rq: included in V */
	__u8 valid;            /* the cfs_rq was readable */
	__u16 pad;
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_st_cfs) == 40, "st cfs layout");

struct aitrace_st_switch {
	struct aitrace_st_header hdr;
	__u32 prev_state;        /* tracepoint argument (prev->__state at __schedule) */
	__s32 prev_exit_state;
	__u8 preempt;            /* __schedule(SM_PREEMPT): preempted while not running */
	__u8 wakeup_preempt;     /* next was woken onto this CPU and took it from a runnable prev */
	__u8 prev_wanted;        /* prev passes the task filter (its summary counts this switch) */
	__u8 next_wanted;
	__u8 pad[4];
	struct aitrace_st_task prev;
	struct aitrace_st_task next;
	struct aitrace_st_cfs prev_cfs;  /* prev's cfs_rq after prev was put back / dequeued */
	struct aitrace_st_cfs next_cfs;  /* next's cfs_rq, with next as curr */
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_st_switch) == 16 + 16 + 2 * 88 + 2 * 40, "st switch layout");

/*
 * With a trace file, every switch on every CPU is recorded, so each CPU's chain of switches is
 * whole (Perfetto's importer requires prev_pid to be the previous switch's next_pid on that CPU);
 * the switches between two untraced tasks in this brief form, without EEVDF fields.
 */
struct aitrace_st_switch_brief {
	struct aitrace_st_header hdr;
	__u32 prev_pid, prev_tgid;
	__u32 next_pid, next_tgid;
	__s32 prev_prio, next_prio;
	__u32 prev_state;
	__s32 prev_exit_state;
	__u64 prev_start_time, next_start_time; /* start_boottime, as in aitrace_st_task */
	char prev_comm[AITRACE_COMM_LEN];
	char next_comm[AITRACE_COMM_LEN];
	__u8 preempt;
	__u8 pad[7];
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_st_switch_brief) == 16 + 24 + 8 + 16 + 32 + 8, "st brief switch layout");

struct aitrace_st_waking {
	struct aitrace_st_header hdr;
	__u32 pid, tgid;                /* wakee */
	char comm[AITRACE_COMM_LEN];
	__s32 prio;
	__u32 target_cpu;               /* task_cpu(wakee) when woken, as ftrace reports it */
	__u32 waker_pid, waker_tgid;    /* current on the waker's CPU */
	char waker_comm[AITRACE_COMM_LEN];
	__u64 start_time, waker_start_time; /* start_boottime of each */
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_st_waking) == 16 + 24 + 8 + 8 + 16 + 16, "st waking layout");

struct aitrace_st_wakeup {
	struct aitrace_st_header hdr;
	__u32 target_cpu;     /* CPU whose run queue the wakee joined */
	__u32 pad;
	struct aitrace_st_task wakee;
	struct aitrace_st_cfs cfs;
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_st_wakeup) == 16 + 8 + 88 + 40, "st wakeup layout");

/* Per-CPU counters (BPF_MAP_TYPE_PERCPU_ARRAY, one entry). */
struct aitrace_st_stats {
	__u64 emitted;       /* records submitted */
	__u64 lost;          /* records dropped: ring buffer full (failed reserve) */
	__u64 no_ring;       /* records dropped: no ring for this CPU (should stay 0) */
	__u64 wakeups_sent;  /* submits that forced a consumer wakeup */
};

#endif
