/* Includes every aitrace BPF program starts with; BPF code never includes libc headers. */
#ifndef AITRACE_CORE_BPF_H
#define AITRACE_CORE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#ifndef E2BIG
#define E2BIG 7
#endif
#ifndef EEXIST
#define EEXIST 17
#endif

/*
 * A collector's per-task state, in two maps: `name`, task-local storage for the tp_btf programs
 * (freed with the task), and `name`_by_tid, a tid-keyed hash for the raw_tp fallback, whose args
 * are plain integers that bpf_task_storage_get refuses. Userspace sizes the hash in raw_tp mode
 * only; otherwise it keeps one entry.
 */
#define AITRACE_TASK_STATE_MAPS(name, value_type)          \
	struct {                                           \
		__uint(type, BPF_MAP_TYPE_TASK_STORAGE);   \
		__uint(map_flags, BPF_F_NO_PREALLOC);      \
		__type(key, int);                          \
		__type(value, value_type);                 \
	} name SEC(".maps");                               \
	struct {                                           \
		__uint(type, BPF_MAP_TYPE_HASH);           \
		__uint(max_entries, 1);                    \
		__type(key, __u32);                        \
		__type(value, value_type);                 \
	} name##_by_tid SEC(".maps")

/*
 * The errno of a map helper (bpf_map_update_elem, bpf_map_delete_elem, ...) as an int, to compare
 * with -EEXIST, -E2BIG, ... Before Linux 6.4 ("bpf: return long from bpf_map_ops funcs") the map
 * ops returned int and the verifier calls them directly, so a program on x86-64 sees the errno
 * zero-extended (4294967279, not -17): `err == -EEXIST` is never true there. Found on Debian's
 * 6.1 by scripts/vmtest. The low 32 bits are right on every kernel.
 */
static __always_inline int aitrace_map_err(long ret)
{
	return (int)ret;
}

/*
 * The value of `key` in a hash map, inserted as a copy of `init` when absent. Another CPU
 * inserting the same key first is no failure; a full map is: NULL, counted in *lost (when
 * given).
 */
static __always_inline void *aitrace_map_lookup_or_init(void *map, const void *key, const void *init, __u64 *lost)
{
	void *v = bpf_map_lookup_elem(map, key);
	int err;

	if (v)
		return v;
	err = aitrace_map_err(bpf_map_update_elem(map, key, init, BPF_NOEXIST));
	if (!err || err == -EEXIST)
		v = bpf_map_lookup_elem(map, key);
	if (!v && lost)
		__sync_fetch_and_add(lost, 1);
	return v;
}

#endif
