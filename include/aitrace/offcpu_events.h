/*
 * Maps and records shared by bpf/offcpu.bpf.c and the offcpu collector. Off-CPU time is summed
 * in the kernel per (process, thread name, user stack, kernel stack, state), offcputime's
 * semantics: a task's stacks are taken when it switches out blocking, and the time until it
 * switches in again is added to them. Userspace symbolizes the stacks (BCC's symbolizer).
 */
#ifndef AITRACE_OFFCPU_EVENTS_H
#define AITRACE_OFFCPU_EVENTS_H

#include "aitrace/types.h"

/* Frames per stack in the stack-trace map: the kernel's default kernel.perf_event_max_stack. */
#define AITRACE_OFFCPU_MAX_FRAMES 127
#define AITRACE_OFFCPU_DEFAULT_STACKS 16384 /* --stack-storage */
/*
 * A stack whose hash bucket in offcpu_stacks holds another stack (or that finds it full) gets a
 * second chance in offcpu_spill_stacks, a quarter of its size (bpf/offcpu.bpf.c). Its ids carry
 * this bit; --stack-storage is capped below it.
 */
#define AITRACE_OFFCPU_SPILL_ID 0x40000000
#define AITRACE_OFFCPU_MAX_STACK_STORAGE (1U << 24)
#define AITRACE_OFFCPU_DEFAULT_KEYS 16384   /* aggregation entries (stack pairs per process) */
#define AITRACE_OFFCPU_MAX_TASKS 65536      /* raw_tp fallback: blocked tasks tracked at once */

/* The state a task blocked in (the sched_switch prev_state it switched out with). */
#define AITRACE_OFFCPU_SLEEP 1 /* S: TASK_INTERRUPTIBLE, and TASK_IDLE (D|NOLOAD) as ps shows it */
#define AITRACE_OFFCPU_BLOCK 2 /* D: TASK_UNINTERRUPTIBLE */

/* --state, the states recorded (a mask of the values above). */
#define AITRACE_OFFCPU_STATES_ALL (AITRACE_OFFCPU_SLEEP | AITRACE_OFFCPU_BLOCK)

#ifdef AITRACE_BPF
#define AITRACE_OFFCPU_FN static __always_inline
#else
#define AITRACE_OFFCPU_FN static inline
#endif

/*
 * The state a switch-out blocks in, from sched_switch's preempt and prev_state arguments: 0 when
 * the task stays runnable (preempted, or a yield while RUNNING) or leaves for another reason
 * (stopped, traced, dead). TASK_IDLE (D|NOLOAD) is an idle kernel thread's wait: sleep, as ps
 * shows it and the load average counts it.
 */
AITRACE_OFFCPU_FN __u32 aitrace_offcpu_state(__u8 preempt, __u32 prev_state)
{
	if (preempt)
		return 0;
	if (prev_state & 0x0001) /* TASK_INTERRUPTIBLE */
		return AITRACE_OFFCPU_SLEEP;
	if (prev_state & 0x0002) /* TASK_UNINTERRUPTIBLE */
		return (prev_state & 0x0400) ? AITRACE_OFFCPU_SLEEP : AITRACE_OFFCPU_BLOCK; /* 0x400: TASK_NOLOAD */
	return 0;
}

/*
 * A stack id of a task that has no stack of that kind (a kernel thread's user stack): below every
 * -errno (MAX_ERRNO is 4095), so it cannot be mistaken for a failed bpf_get_stackid.
 */
#define AITRACE_OFFCPU_NO_STACK (-4096)

struct offcpu_key {
	__u32 tgid;
	__s32 user_stack_id;   /* in offcpu_stacks (| AITRACE_OFFCPU_SPILL_ID: in offcpu_spill_stacks), or AITRACE_OFFCPU_NO_STACK, or -errno */
	__s32 kernel_stack_id; /* the same for the kernel stack */
	__u32 state;           /* AITRACE_OFFCPU_SLEEP or AITRACE_OFFCPU_BLOCK */
	char comm[AITRACE_COMM_LEN]; /* the thread's name when it switched in */
	/*
	 * --wakers (wakeuptime's semantics): the task that woke it, at sched_waking, which runs in
	 * the waker's context. Without --wakers, or when the wakeup was not seen: waker_tgid 0 and
	 * both ids AITRACE_OFFCPU_NO_STACK.
	 */
	__u32 waker_tgid;
	__s32 waker_user_stack_id;
	__s32 waker_kernel_stack_id;
	__u32 pad;
	char waker_comm[AITRACE_COMM_LEN];
};
AITRACE_STATIC_ASSERT(sizeof(struct offcpu_key) == 64, "offcpu_key layout");

struct offcpu_value {
	__u64 total_ns; /* off-CPU time summed over the intervals */
	__u64 count;    /* blocked intervals */
};
AITRACE_STATIC_ASSERT(sizeof(struct offcpu_value) == 16, "offcpu_value layout");

/* Per blocked task, from its switch-out to its switch-in. */
struct offcpu_start {
	__u64 ts; /* 0: not blocked as far as we know */
	__s32 user_stack_id;
	__s32 kernel_stack_id;
	__u32 state;
	__u32 waker_tgid; /* 0: no wakeup seen yet */
	__s32 waker_user_stack_id;
	__s32 waker_kernel_stack_id;
	char waker_comm[AITRACE_COMM_LEN];
	__u64 arrivals; /* sched_info.pcount at the block: its switch-ins so far (0 without it) */
	__u64 rq_clock; /* its run queue's clock at the block (0: unreadable), beside ts */
	__u32 cpu;      /* where it blocked: the run queue of rq_clock */
	__u32 reserved;
};
AITRACE_STATIC_ASSERT(sizeof(struct offcpu_start) == 72, "offcpu_start layout");

/*
 * A ring-buffer notice for each new aggregation key: userspace resolves that user stack while
 * the process still lives (its maps and files go with it), so a process that exits during the
 * run is still symbolized.
 */
struct offcpu_notice {
	__u32 tgid;
	__s32 user_stack_id;
	__u32 waker_tgid;          /* --wakers: the waker's user stack too (it may exit first) */
	__s32 waker_user_stack_id; /* AITRACE_OFFCPU_NO_STACK: none */
};
AITRACE_STATIC_ASSERT(sizeof(struct offcpu_notice) == 16, "offcpu_notice layout");

/* What could not be recorded; every counter is shown in every output. */
struct offcpu_lost {
	/* A stack neither stack map took, counted by the spill map's answer: */
	__u64 stack_collision; /* -EEXIST: another stack holds its hash bucket there */
	__u64 stack_full;      /* -ENOMEM: the spill map is full (at a power-of-two size it collides instead) */
	__u64 stack_error;     /* any other error from bpf_get_stackid (-EFAULT: no user stack) */
	__u64 start_full;      /* no per-task slot for a blocked task: its interval is lost */
	__u64 totals_full;     /* the aggregation map is full: an interval's time is lost */
	__u64 notice_dropped;  /* ring buffer full: a stack is symbolized late, or not if its process exited */
	/* a block whose switch-in never reached the program and no sched_info stamp could close */
	__u64 switch_in_missed;
};
AITRACE_STATIC_ASSERT(sizeof(struct offcpu_lost) == 56, "offcpu_lost layout");

#endif
