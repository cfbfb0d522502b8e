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

char LICENSE[] SEC("license") = "GPL";
