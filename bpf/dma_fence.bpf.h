/*
 * dma-fence programs of bpf/dma.bpf.c: wait latency per waiting task (wait_start -> wait_end
 * on the same thread) and execution latency per timeline (emit -> signaled). Every dma_fence
 * event has one argument, struct dma_fence *.
 */
#ifndef AITRACE_DMA_FENCE_BPF_H
#define AITRACE_DMA_FENCE_BPF_H

static __always_inline struct aitrace_dma_fence_stats *fence_stats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&dma_fence_counts, &zero);
}

#define FENCE_COUNT(field)                                        \
	do {                                                      \
		struct aitrace_dma_fence_stats *fs_ = fence_stats(); \
		if (fs_)                                          \
			fs_->field++;                             \
	} while (0)

static __always_inline void fence_key(struct dma_fence *f, struct aitrace_dma_fence_key *k)
{
	k->fence = (__u64)f;
	k->context = BPF_CORE_READ(f, context);
	k->seqno = BPF_CORE_READ(f, seqno);
}

SEC("raw_tp/dma_fence_init")
int BPF_PROG(dma_fence_init, struct dma_fence *fence)
{
	AITRACE_RETURN_IF_HELD();
	FENCE_COUNT(init);
	return 0;
}

SEC("raw_tp/dma_fence_emit")
int BPF_PROG(dma_fence_emit, struct dma_fence *fence)
{
	AITRACE_RETURN_IF_HELD();
	struct aitrace_dma_fence_key k;
	__u64 ts = bpf_ktime_get_ns();

	FENCE_COUNT(emit);
	fence_key(fence, &k);
	if (bpf_map_update_elem(&dma_fences, &k, &ts, BPF_ANY))
		DMA_LOST(fences_full);
	return 0;
}

SEC("raw_tp/dma_fence_signaled")
int BPF_PROG(dma_fence_signaled, struct dma_fence *fence)
{
	AITRACE_RETURN_IF_HELD();
	struct aitrace_dma_timeline_key tk = {};
	struct aitrace_dma_fence_key k;
	struct aitrace_dma_timeline *tl;
	__u64 *emitted, delta;

	FENCE_COUNT(signaled);
	fence_key(fence, &k);
	emitted = bpf_map_lookup_elem(&dma_fences, &k);
	if (!emitted) {
		FENCE_COUNT(signaled_without_emit);
		return 0;
	}
	delta = bpf_ktime_get_ns() - *emitted;
	bpf_map_delete_elem(&dma_fences, &k);
	tk.ops = (__u64)BPF_CORE_READ(fence, ops);
	tk.context = k.context;
	tl = aitrace_map_lookup_or_init(&dma_timelines, &tk, &zero_timeline, &dma_lost.timelines_full);
	if (!tl)
		return 0;
	if (!tl->get_driver_name && tk.ops)
		tl->get_driver_name = (__u64)BPF_CORE_READ(fence, ops, get_driver_name);
	dma_hist_add(&tl->hist, delta);
	return 0;
}

/* A fence freed before it signaled must not leave its emit entry behind. */
SEC("raw_tp/dma_fence_destroy")
int BPF_PROG(dma_fence_destroy, struct dma_fence *fence)
{
	AITRACE_RETURN_IF_HELD();
	struct aitrace_dma_fence_key k;

	FENCE_COUNT(destroy);
	fence_key(fence, &k);
	bpf_map_delete_elem(&dma_fences, &k);
	return 0;
}

SEC("raw_tp/dma_fence_enable_signal")
int BPF_PROG(dma_fence_enable_signal, struct dma_fence *fence)
{
	AITRACE_RETURN_IF_HELD();
	FENCE_COUNT(enable_signal);
	return 0;
}

SEC("raw_tp/dma_fence_wait_start")
int BPF_PROG(dma_fence_wait_start, struct dma_fence *fence)
{
	AITRACE_RETURN_IF_HELD();
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 ts;

	FENCE_COUNT(wait_start);
	if (!aitrace_task_wanted((struct task_struct *)bpf_get_current_task()))
		return 0;
	ts = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&dma_waits, &tid, &ts, BPF_ANY))
		DMA_LOST(waits_full);
	return 0;
}

SEC("raw_tp/dma_fence_wait_end")
int BPF_PROG(dma_fence_wait_end, struct dma_fence *fence)
{
	AITRACE_RETURN_IF_HELD();
	__u64 pid_tgid = bpf_get_current_pid_tgid(), ids;
	__u32 tid = (__u32)pid_tgid, shown_tid;
	struct aitrace_dma_waiter *wr;
	__u64 *started, delta;

	FENCE_COUNT(wait_end);
	started = bpf_map_lookup_elem(&dma_waits, &tid);
	if (!started) {
		/* Unwanted tasks never had a wait_start recorded; only wanted ones are unmatched. */
		if (aitrace_task_wanted((struct task_struct *)bpf_get_current_task()))
			FENCE_COUNT(wait_end_unmatched);
		return 0;
	}
	delta = bpf_ktime_get_ns() - *started;
	bpf_map_delete_elem(&dma_waits, &tid);
	/* dma_waits is keyed by host tid; the waiters are shown with the reported ids. */
	ids = aitrace_pidns_report() ? aitrace_report_current_pid_tgid() : pid_tgid;
	shown_tid = (__u32)ids;
	wr = aitrace_map_lookup_or_init(&dma_waiters, &shown_tid, &zero_waiter, &dma_lost.waiters_full);
	if (!wr)
		return 0;
	if (!wr->tgid) {
		wr->tgid = ids >> 32;
		bpf_get_current_comm(wr->comm, sizeof(wr->comm));
	}
	dma_hist_add(&wr->hist, delta);
	return 0;
}

#endif
