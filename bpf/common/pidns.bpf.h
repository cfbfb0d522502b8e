/*
 * Task ids as the caller's pid namespace sees them (docs/containers.md, "pid namespaces").
 * Userspace sets filter_cfg.pidns_level and pidns_inum before load (user/core/pid_namespace.cpp):
 * level 0 is the initial namespace, where every id is the task's own pid/tgid and the verifier
 * prunes the rest. At level L > 0 an id is the kernel's own mapping, what task_pid_nr_ns() reads:
 * the pid's numbers[L], when that entry belongs to the caller's namespace; 0 for a task outside
 * it (the host's tasks, a sibling container's) and for a task already released from its pids
 * (a thread's last switch-out after it was reaped). Included by filter.bpf.h after filter_cfg.
 */
#ifndef AITRACE_PIDNS_BPF_H
#define AITRACE_PIDNS_BPF_H

#include "common/compat.bpf.h"

/* MAX_PID_NS_LEVEL in the kernel: a namespace's level is below it. */
#define AITRACE_PIDNS_MAX_LEVEL 32

/* Filtering happens in a child namespace: ids in the filter maps are ids there. */
static __always_inline bool aitrace_pidns_child(void)
{
	return filter_cfg.pidns_level != 0;
}

/* Reported ids are namespace ids (not --host-pids, not the initial namespace). */
static __always_inline bool aitrace_pidns_report(void)
{
	return filter_cfg.pidns_level != 0 && !filter_cfg.host_pids;
}

/* pid_nr_ns(pid, caller's namespace): 0 when pid is NULL or has no number there. */
static __always_inline __u32 aitrace_pidns_nr(struct pid *pid)
{
	__u32 level = filter_cfg.pidns_level;
	struct upid up = {};

	if (!pid || level >= AITRACE_PIDNS_MAX_LEVEL || BPF_CORE_READ(pid, level) < level)
		return 0;
	bpf_core_read(&up, sizeof(up), &pid->numbers[level]);
	if (!up.ns || BPF_CORE_READ(up.ns, ns.inum) != filter_cfg.pidns_inum)
		return 0;
	return (__u32)up.nr;
}

/* The thread id of p in the caller's namespace (task_pid_nr_ns). */
static __always_inline __u32 aitrace_pidns_tid(struct task_struct *p)
{
	return aitrace_pidns_nr(BPF_CORE_READ(p, thread_pid));
}

/* The process id of p in the caller's namespace (task_tgid_nr_ns). */
static __always_inline __u32 aitrace_pidns_tgid(struct task_struct *p)
{
	return aitrace_pidns_nr(BPF_CORE_READ(p, signal, pids[PIDTYPE_TGID]));
}

/*
 * The ids to report for p, given its host ids (already read by the caller: the initial
 * namespace costs nothing more).
 */
static __always_inline __u32 aitrace_report_tid(struct task_struct *p, __u32 host_tid)
{
	return aitrace_pidns_report() ? aitrace_pidns_tid(p) : host_tid;
}

static __always_inline __u32 aitrace_report_tgid(struct task_struct *p, __u32 host_tgid)
{
	return aitrace_pidns_report() ? aitrace_pidns_tgid(p) : host_tgid;
}

/* bpf_get_current_pid_tgid() with both halves as reported: tgid << 32 | tid. */
static __always_inline __u64 aitrace_report_current_pid_tgid(void)
{
	struct task_struct *cur;

	if (!aitrace_pidns_report())
		return bpf_get_current_pid_tgid();
	cur = (struct task_struct *)bpf_get_current_task();
	return ((__u64)aitrace_pidns_tgid(cur) << 32) | aitrace_pidns_tid(cur);
}

#endif
