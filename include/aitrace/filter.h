/*
 * Task filter configuration shared by every collector. Userspace fills a
 * `const volatile struct aitrace_filter_cfg filter_cfg` in the program's rodata before load, so
 * the verifier prunes the checks that are switched off; the pid sets live in maps
 * (filter_tgids / filter_tids) because they change at run time (fork following).
 */
#ifndef AITRACE_FILTER_H
#define AITRACE_FILTER_H

#include "aitrace/types.h"

#define AITRACE_FILTER_MAX_PIDS 4096

struct aitrace_filter_cfg {
	__u8 by_tgid;         /* task's tgid must be in filter_tgids */
	__u8 by_tid;          /* task's pid must be in filter_tids */
	__u8 by_cgroup;       /* task's cgroup v2 (or a descendant) == cgroup_id */
	__u8 by_comm;         /* task's comm == comm */
	__u8 follow_forks;    /* children of a task in filter_tgids join it (for `-- CMD`) */
	__u8 host_pids;       /* report host ids even when pidns_level > 0 (--host-pids) */
	__u8 pad[2];
	__u64 cgroup_id;      /* kernfs id (= inode number) of the target cgroup v2 directory */
	char comm[AITRACE_COMM_LEN];
	/*
	 * The caller's pid namespace (bpf/common/pidns.bpf.h): its level (0: the initial namespace,
	 * where ids are the task's own pid/tgid and nothing else is done) and its inode number. At a
	 * level > 0 filter_tgids/filter_tids hold ids in that namespace, and a task without one is
	 * not traced.
	 */
	__u32 pidns_level;
	__u32 pidns_inum;
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_filter_cfg) == 40, "filter cfg layout");

#endif
