/*
 * CO-RE shims for task_struct and run-queue fields that differ between kernels and configs, and
 * the per-flavour field read. Every field here is read through CO-RE existence checks, never a
 * version test (distributions backport).
 */
#ifndef AITRACE_COMPAT_BPF_H
#define AITRACE_COMPAT_BPF_H

#include "common/core.bpf.h"

/*
 * tp_btf programs get BTF-typed, trusted pointers and read fields with plain loads (the verifier
 * makes them fault-safe); raw_tp programs get plain integers and need a probe read. `btf` is a
 * constant in every always-inline caller, so each program keeps only its own path: plain loads
 * halve the cost of a hot handler compared to helper reads.
 */
#define AITRACE_READ(btf, p, field) ((btf) ? (p)->field : BPF_CORE_READ(p, field))

/* Before 5.14 the task state was `long state`, not `unsigned int __state`. */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

/* Before 5.16 (x86, arm64) the CPU number lived in task_struct, not in thread_info. */
struct task_struct___pre516 {
	unsigned int cpu;
} __attribute__((preserve_access_index));

/* The task's state now (racy outside its rq lock: a hint, not a tracepoint argument). */
static __always_inline __u32 aitrace_task_state(struct task_struct *p)
{
	if (bpf_core_field_exists(p->__state))
		return BPF_CORE_READ(p, __state);
	return (__u32)BPF_CORE_READ((struct task_struct___pre514 *)p, state);
}

/* The same with a plain load in tp_btf programs (the switch-out of every voluntary sleep reads it). */
static __always_inline __u32 aitrace_task_state_read(struct task_struct *p, bool btf)
{
	if (bpf_core_field_exists(p->__state))
		return AITRACE_READ(btf, p, __state);
	return (__u32)BPF_CORE_READ((struct task_struct___pre514 *)p, state);
}

/* task_cpu(p): the CPU whose run queue the task is on (or last ran on). */
static __always_inline __u32 aitrace_task_cpu(struct task_struct *p, bool btf)
{
	if (bpf_core_field_exists(p->thread_info.cpu))
		return AITRACE_READ(btf, p, thread_info.cpu);
	return BPF_CORE_READ((struct task_struct___pre516 *)p, cpu);
}

/*
 * se.cfs_rq, and the rq pointer of a cfs_rq, exist only with CONFIG_FAIR_GROUP_SCHED (every
 * distribution kernel, but not every kernel). Without it a task's run queue cannot be reached
 * from the task: the per-CPU `runqueues` would need CONFIG_KALLSYMS_ALL to resolve as a ksym
 * (without it the whole object fails to load). Callers get NULL or 0 there and say so: the sched
 * collector then runs on the ktime clock, the EEVDF trace records no cfs_rq.
 */
static __always_inline bool aitrace_task_has_cfs_rq(void)
{
	return bpf_core_field_exists(struct sched_entity, cfs_rq) && bpf_core_field_exists(struct cfs_rq, rq);
}

/* The cfs_rq p is queued on (a group's cfs_rq when p is in a task group); NULL without one. */
static __always_inline struct cfs_rq *aitrace_task_cfs_rq(struct task_struct *p, bool btf)
{
	if (!aitrace_task_has_cfs_rq())
		return NULL;
	return AITRACE_READ(btf, p, se.cfs_rq);
}

/*
 * The clock of the run queue p is on (rq->clock, the clock schedstat uses); 0 when it cannot be
 * found. Every task, whatever its class, has se.cfs_rq set to its CPU's cfs_rq by set_task_rq().
 */
static __always_inline __u64 aitrace_task_rq_clock(struct task_struct *p, bool btf)
{
	struct cfs_rq *cfs = aitrace_task_cfs_rq(p, btf);
	struct rq *rq;

	if (!cfs)
		return 0;
	rq = AITRACE_READ(btf, cfs, rq);
	return rq ? AITRACE_READ(btf, rq, clock) : 0;
}

/*
 * A sched_info stamp (rq->clock at a switch the kernel accounted, whether a tracer saw it or
 * not) on the caller's clock: `clock` is the run queue's clock now and `now` the caller's time
 * now. 0 when the stamp is missing or later than `clock` (nothing to convert it through).
 */
static __always_inline __u64 aitrace_rq_stamp_at(__u64 stamp, __u64 clock, __u64 now)
{
	if (!stamp || stamp > clock)
		return 0;
	return now - (clock - stamp);
}

#endif
