/*
 * The task filter every collector applies to the task being measured (the woken or
 * switched-in task, never blindly `current`). Include once per .bpf.c; userspace sets
 * filter_cfg and fills the pid maps through user/core/targets.cpp.
 */
#ifndef AITRACE_FILTER_BPF_H
#define AITRACE_FILTER_BPF_H

#include "aitrace/filter.h"
#include "common/programs.bpf.h"

const volatile struct aitrace_filter_cfg filter_cfg = {};

#include "common/pidns.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AITRACE_FILTER_MAX_PIDS);
	__type(key, __u32);
	__type(value, __u8);
} filter_tgids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AITRACE_FILTER_MAX_PIDS);
	__type(key, __u32);
	__type(value, __u8);
} filter_tids SEC(".maps");

/* Forks that could not be followed because filter_tgids was full. */
__u64 filter_fork_overflow = 0;

/* Kernels before 6.2 keep ancestor ids, not ancestor pointers, in struct cgroup. */
struct cgroup___ancestor_ids {
	int level;
	__u64 ancestor_ids[];
} __attribute__((preserve_access_index));

static __always_inline __u64 aitrace_cgroup_ancestor_id(struct cgroup *cg, __u32 level)
{
	if (bpf_core_field_exists(cg->ancestors)) {
		struct cgroup *anc = NULL;

		/* ancestors[] is a flexible array: bound the index for the verifier. */
		if (level > 255)
			return 0;
		bpf_core_read(&anc, sizeof(anc), &cg->ancestors[level]);
		if (!anc)
			return 0;
		return BPF_CORE_READ(anc, kn, id);
	} else {
		struct cgroup___ancestor_ids *old = (void *)cg;
		__u64 id = 0;

		if (level > 255)
			return 0;
		bpf_core_read(&id, sizeof(id), &old->ancestor_ids[level]);
		return id;
	}
}

#define AITRACE_CGROUP_MAX_DEPTH 32

/*
 * Is cg the target cgroup or one of its descendants? Walks the ancestor table instead of
 * comparing at a fixed level, because in a cgroup namespace userspace cannot know the target's
 * absolute depth.
 */
static __always_inline bool aitrace_cgroup_is_under(struct cgroup *cg, __u64 target_id)
{
	int level = BPF_CORE_READ(cg, level);

	for (int i = 0; i < AITRACE_CGROUP_MAX_DEPTH; i++) {
		if (i > level)
			return false;
		if (aitrace_cgroup_ancestor_id(cg, i) == target_id)
			return true;
	}
	return false;
}

static __always_inline bool aitrace_comm_equal(const char *a, const char *b)
{
	for (int i = 0; i < AITRACE_COMM_LEN; i++) {
		if (a[i] != b[i])
			return false;
		if (!a[i])
			return true;
	}
	return true;
}

static __always_inline bool aitrace_task_wanted(struct task_struct *p)
{
	/* In a child pid namespace the maps hold ids there; a task outside it has none (0). */
	if (filter_cfg.by_tgid) {
		__u32 tgid = aitrace_pidns_child() ? aitrace_pidns_tgid(p) : BPF_CORE_READ(p, tgid);

		if (!bpf_map_lookup_elem(&filter_tgids, &tgid))
			return false;
	}
	if (filter_cfg.by_tid) {
		__u32 tid = aitrace_pidns_child() ? aitrace_pidns_tid(p) : BPF_CORE_READ(p, pid);

		if (!bpf_map_lookup_elem(&filter_tids, &tid))
			return false;
	}
	/* Whole-system in a child namespace covers that namespace's tasks (unless --host-pids). */
	if (aitrace_pidns_report() && !filter_cfg.by_tgid && !filter_cfg.by_tid && !aitrace_pidns_tid(p))
		return false;
	if (filter_cfg.by_cgroup) {
		struct cgroup *cg = BPF_CORE_READ(p, cgroups, dfl_cgrp);

		if (!cg || !aitrace_cgroup_is_under(cg, filter_cfg.cgroup_id))
			return false;
	}
	if (filter_cfg.by_comm) {
		char comm[AITRACE_COMM_LEN];

		BPF_CORE_READ_STR_INTO(&comm, p, comm);
		if (!aitrace_comm_equal(comm, (const char *)filter_cfg.comm))
			return false;
	}
	return true;
}

/* Call from sched_process_fork: a child of a followed process is followed too. */
static __always_inline void aitrace_filter_follow_fork(struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid, ctgid;
	__u8 one = 1;

	if (!filter_cfg.follow_forks)
		return;
	if (aitrace_pidns_child()) {
		ptgid = aitrace_pidns_tgid(parent);
		ctgid = aitrace_pidns_tgid(child);
	} else {
		ptgid = BPF_CORE_READ(parent, tgid);
		ctgid = BPF_CORE_READ(child, tgid);
	}
	if (ptgid == ctgid || !bpf_map_lookup_elem(&filter_tgids, &ptgid))
		return;
	if (aitrace_map_err(bpf_map_update_elem(&filter_tgids, &ctgid, &one, BPF_NOEXIST)) == -E2BIG)
		__sync_fetch_and_add(&filter_fork_overflow, 1);
}

/*
 * Call from sched_process_free. A followed process is forgotten when its leader's task is freed
 * (after every thread died and the parent reaped it): its pid may then be reused by an unrelated
 * process, which must not be traced, and a job that keeps starting processes (data-loader
 * workers every epoch) would otherwise fill filter_tgids. group_leader, not pid == tgid: a thread
 * that calls exec takes over the leader's pid, and the old leader is freed under it on kernels
 * before 5.9 (which did not swap the cached pids).
 */
static __always_inline void aitrace_filter_forget(struct task_struct *p)
{
	__u32 tid, tgid;

	/* A child namespace's ids are gone by now (the task was released): see on_exit below. */
	if (aitrace_pidns_child())
		return;
	/* A -t thread is forgotten with its own task: its tid may be reused as well. */
	if (filter_cfg.by_tid) {
		tid = BPF_CORE_READ(p, pid);
		bpf_map_delete_elem(&filter_tids, &tid);
	}
	if (!filter_cfg.by_tgid || BPF_CORE_READ(p, group_leader) != p)
		return;
	tgid = BPF_CORE_READ(p, tgid);
	bpf_map_delete_elem(&filter_tgids, &tgid);
}

/*
 * Call from sched_process_exit, in a child pid namespace only. sched_process_free comes after
 * release_task() detached the task's pids, when its ids in the namespace can no longer be read,
 * so there the ids are forgotten at exit: a thread's at its own exit, a process's at the exit of
 * its last thread (signal->live already counts it out). The numbers are freed only at release,
 * so none can be reused before it is forgotten; events of the thread between its exit and its
 * release are not traced (its last switch-out has no id in the namespace anyway).
 */
static __always_inline void aitrace_filter_forget_at_exit(struct task_struct *p)
{
	__u32 tid, tgid;

	if (!aitrace_pidns_child())
		return;
	if (filter_cfg.by_tid) {
		tid = aitrace_pidns_tid(p);
		bpf_map_delete_elem(&filter_tids, &tid);
	}
	if (!filter_cfg.by_tgid || BPF_CORE_READ(p, signal, live.counter) != 0)
		return;
	tgid = aitrace_pidns_tgid(p);
	bpf_map_delete_elem(&filter_tgids, &tgid);
}

/* sched_process_exit (p) */
static __always_inline int aitrace_filter_on_exit(__u64 *ctx, bool btf)
{
	aitrace_filter_forget_at_exit(AITRACE_ARG(ctx, 0, struct task_struct *));
	return 0;
}

/* sched_process_fork (parent, child) */
static __always_inline int aitrace_filter_on_fork(__u64 *ctx, bool btf)
{
	aitrace_filter_follow_fork(AITRACE_ARG(ctx, 0, struct task_struct *), AITRACE_ARG(ctx, 1, struct task_struct *));
	return 0;
}

/* sched_process_free (p) */
static __always_inline int aitrace_filter_on_free(__u64 *ctx, bool btf)
{
	aitrace_filter_forget(AITRACE_ARG(ctx, 0, struct task_struct *));
	return 0;
}

/*
 * The filter's own programs, both flavours, for an object that filters by process: `-- CMD`'s
 * children join it (sched_process_fork), the dead leave it (sched_process_free; in a child pid
 * namespace sched_process_exit). Userspace attaches what the targets need
 * (user/core/filter_hooks.cpp).
 */
#define AITRACE_FILTER_PROGRAMS(prefix)                                               \
	AITRACE_BTF_RAW_PROGRAMS_UNHELD(sched_process_fork, prefix##_fork, aitrace_filter_on_fork) \
	AITRACE_BTF_RAW_PROGRAMS_UNHELD(sched_process_free, prefix##_forget, aitrace_filter_on_free) \
	AITRACE_BTF_RAW_PROGRAMS_UNHELD(sched_process_exit, prefix##_forget_exit, aitrace_filter_on_exit)

#endif
