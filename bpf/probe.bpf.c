// SPDX-License-Identifier: GPL-2.0
/*
 * Tiny programs, one per hook type, that userspace loads one at a time to learn which hook
 * types this kernel really accepts (doctor, and hook selection for every collector). Each
 * counts its hits so a test can prove the attached program really runs.
 */
#include "common/core.bpf.h"

__u64 hits_tp_btf = 0;
__u64 hits_raw_tp = 0;
__u64 hits_tracepoint = 0;
__u64 hits_fentry = 0;
__u64 hits_kprobe = 0;
__u64 hits_uprobe = 0;
__u64 ringbuf_submitted = 0;
__u64 ringbuf_dropped = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} probe_ring SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(probe_tp_btf)
{
	__sync_fetch_and_add(&hits_tp_btf, 1);
	return 0;
}

SEC("raw_tp/sched_switch")
int BPF_PROG(probe_raw_tp)
{
	__sync_fetch_and_add(&hits_raw_tp, 1);
	return 0;
}

SEC("tracepoint/sched/sched_switch")
int probe_tracepoint(void *ctx)
{
	__sync_fetch_and_add(&hits_tracepoint, 1);
	return 0;
}

SEC("fentry/do_nanosleep")
int BPF_PROG(probe_fentry)
{
	__sync_fetch_and_add(&hits_fentry, 1);
	return 0;
}

SEC("kprobe/do_nanosleep")
int BPF_KPROBE(probe_kprobe)
{
	__sync_fetch_and_add(&hits_kprobe, 1);
	return 0;
}

/* Attached by userspace to aitrace_uprobe_target() in the aitrace binary itself. */
SEC("uprobe")
int BPF_KPROBE(probe_uprobe)
{
	__sync_fetch_and_add(&hits_uprobe, 1);
	return 0;
}

SEC("raw_tp/sched_switch")
int BPF_PROG(probe_ringbuf)
{
	__u64 *slot = bpf_ringbuf_reserve(&probe_ring, sizeof(*slot), 0);

	if (!slot) {
		__sync_fetch_and_add(&ringbuf_dropped, 1);
		return 0;
	}
	*slot = bpf_ktime_get_ns();
	bpf_ringbuf_submit(slot, 0);
	__sync_fetch_and_add(&ringbuf_submitted, 1);
	return 0;
}

/*
 * The caller's pid namespace as the kernel numbers it (user/core/pid_namespace.cpp): run once with
 * BPF_PROG_TEST_RUN, so `current` is aitrace itself. A task's own namespace is the last entry of
 * its pid's numbers[], at index pid->level; no file tells that level to a task inside it
 * (NS_GET_PARENT stops at the caller's own namespace).
 */
__u32 pidns_level = 0;
__u32 pidns_inum = 0;
__u32 pidns_found = 0;

SEC("raw_tp")
int probe_pidns(void *ctx)
{
	struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
	struct pid *pid = BPF_CORE_READ(cur, thread_pid);
	struct upid up = {};
	__u32 level;

	if (!pid)
		return 0;
	level = BPF_CORE_READ(pid, level);
	if (level >= 32) /* MAX_PID_NS_LEVEL */
		return 0;
	bpf_core_read(&up, sizeof(up), &pid->numbers[level]);
	if (!up.ns)
		return 0;
	pidns_level = level;
	pidns_inum = BPF_CORE_READ(up.ns, ns.inum);
	pidns_found = 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
