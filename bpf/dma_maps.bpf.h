/*
 * Maps and small helpers of the dma collector (bpf/dma.bpf.c). Every map is bounded and every
 * failed insert is counted in dma_lost, which reaches every output.
 */
#ifndef AITRACE_DMA_MAPS_BPF_H
#define AITRACE_DMA_MAPS_BPF_H

#include "aitrace/dma_events.h"

/* dma_alloc/dma_free gained a direction argument (arg 4) after 6.12; userspace reads the
 * tracepoint prototypes from BTF and sets these before load. */
const volatile bool alloc_has_dir = true;
const volatile bool free_has_dir = true;

/* Not preallocated: a per-CPU map sized for every device would cost max_entries x CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, AITRACE_DMA_MAX_DEVICES * AITRACE_DMA_DIRS);
	__type(key, struct aitrace_dma_dir_key);
	__type(value, struct aitrace_dma_dir_stats);
} dma_dir_stats SEC(".maps");

/* Not preallocated: a per-CPU map sized for every device would cost max_entries x CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, AITRACE_DMA_MAX_DEVICES);
	__type(key, __u64);
	__type(value, struct aitrace_dma_dev_stats);
} dma_dev_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AITRACE_DMA_MAX_DEVICES);
	__type(key, __u64);
	__type(value, struct aitrace_dma_dev_name);
} dma_dev_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, AITRACE_DMA_MAX_LIVE);
	__type(key, struct aitrace_dma_live_key);
	__type(value, struct aitrace_dma_live);
} dma_live SEC(".maps");

/* Mapping lifetime (map -> unmap) per device and direction. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, AITRACE_DMA_MAX_HISTS);
	__type(key, struct aitrace_dma_dir_key);
	__type(value, struct aitrace_dma_hist);
} dma_lifetime SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AITRACE_DMA_MAX_WAITERS);
	__type(key, __u32);   /* tid */
	__type(value, __u64); /* wait_start time */
} dma_waits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, AITRACE_DMA_MAX_HISTS);
	__type(key, __u32); /* tid */
	__type(value, struct aitrace_dma_waiter);
} dma_waiters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, AITRACE_DMA_MAX_FENCES);
	__type(key, struct aitrace_dma_fence_key);
	__type(value, __u64); /* emit time */
} dma_fences SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, AITRACE_DMA_MAX_HISTS);
	__type(key, struct aitrace_dma_timeline_key);
	__type(value, struct aitrace_dma_timeline);
} dma_timelines SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct aitrace_dma_iommu_stats);
} dma_iommu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct aitrace_dma_fence_stats);
} dma_fence_counts SEC(".maps");

/* Rare events (a full map), so plain atomics on one global are fine. */
struct aitrace_dma_lost dma_lost = {};

/* Zeroed initial values for inserts: the histograms are far larger than the BPF stack. */
static struct aitrace_dma_hist zero_hist;
static struct aitrace_dma_waiter zero_waiter;
static struct aitrace_dma_timeline zero_timeline;

#define DMA_LOST(field) __sync_fetch_and_add(&dma_lost.field, 1)

static __always_inline __u32 dma_dir(__u64 dir)
{
	return dir < AITRACE_DMA_DIRS ? (__u32)dir : AITRACE_DMA_DIRS - 1;
}

static __always_inline struct aitrace_dma_dir_stats *dma_dir_slot(__u64 dev, __u64 dir)
{
	struct aitrace_dma_dir_key k = { .dev = dev, .dir = dma_dir(dir) };
	struct aitrace_dma_dir_stats zero = {};

	return aitrace_map_lookup_or_init(&dma_dir_stats, &k, &zero, &dma_lost.dir_stats_full);
}

static __always_inline struct aitrace_dma_dev_stats *dma_dev_slot(__u64 dev)
{
	struct aitrace_dma_dev_stats zero = {};

	return aitrace_map_lookup_or_init(&dma_dev_stats, &dev, &zero, &dma_lost.dev_stats_full);
}

/*
 * A live mapping waiting for its unmap. The same address mapped again before its unmap
 * (dma-direct: dma == phys) takes a reference and keeps its first time and size.
 */
static __always_inline void dma_live_add(const struct aitrace_dma_live_key *k, __u64 bytes)
{
	struct aitrace_dma_live init = { .ts_ns = bpf_ktime_get_ns(), .bytes = bytes }, *v;

	v = aitrace_map_lookup_or_init(&dma_live, k, &init, &dma_lost.live_full);
	if (v)
		__sync_fetch_and_add(&v->refs, 1);
}

static __always_inline void dma_hist_add(struct aitrace_dma_hist *h, __u64 v)
{
	__u32 b = aitrace_hist_bucket(v);

	if (b >= AITRACE_HIST_BUCKETS)
		return;
	__sync_fetch_and_add(&h->buckets[b], 1);
	__sync_fetch_and_add(&h->count, 1);
	__sync_fetch_and_add(&h->sum, v);
}

/*
 * dev_name() semantics: init_name until the kobject is named, then kobj.name. Read once per
 * device; a pointer that is not kernel memory (a synthetic test id) leaves the name empty.
 */
static __always_inline void dma_note_device(struct device *dev)
{
	__u64 key = (__u64)dev;
	struct aitrace_dma_dev_name n = {}, *old;
	const char *s;
	long err;

	/* A device seen before its kobject was named is read again until it has a name. */
	old = bpf_map_lookup_elem(&dma_dev_names, &key);
	if (old && old->name[0])
		return;
	s = BPF_CORE_READ(dev, init_name);
	if (!s)
		s = BPF_CORE_READ(dev, kobj.name);
	if (s)
		bpf_probe_read_kernel_str(n.name, sizeof(n.name), s);
	s = BPF_CORE_READ(dev, driver, name);
	if (s)
		bpf_probe_read_kernel_str(n.driver, sizeof(n.driver), s);
	if (old) {
		if (n.name[0])
			bpf_map_update_elem(&dma_dev_names, &key, &n, BPF_EXIST);
		return;
	}
	err = aitrace_map_err(bpf_map_update_elem(&dma_dev_names, &key, &n, BPF_NOEXIST));
	if (err && err != -EEXIST)
		DMA_LOST(dev_names_full);
}

/* Set by userspace when the kernel has bpf_loop (5.17+): long scatterlists are walked whole. */
const volatile bool have_bpf_loop = false;

struct dma_sg_walk {
	struct scatterlist *sg;
	__u64 n;
	__u64 bytes;
	__u32 sz;
	bool dma;
};

/*
 * One scatterlist entry: add its length and step to the next, following chain links like
 * sg_next(). dma=true sums the DMA segment lengths (sg_dma_len) of a mapped list. Returns 1 to
 * stop (the bpf_loop callback convention).
 */
static long dma_sg_step(__u32 i, void *ctx)
{
	struct dma_sg_walk *w = ctx;
	struct scatterlist *sg = w->sg;
	unsigned long link;
	unsigned int len = 0;

	if (i >= w->n || !sg)
		return 1;
	if (w->dma && bpf_core_field_exists(sg->dma_length))
		bpf_core_read(&len, sizeof(len), &sg->dma_length);
	else
		bpf_core_read(&len, sizeof(len), &sg->length);
	w->bytes += len;
	if (bpf_core_read(&link, sizeof(link), &sg->page_link) < 0 || (link & 0x2 /* SG_END */))
		return 1;
	sg = (void *)sg + w->sz;
	if (bpf_core_read(&link, sizeof(link), &sg->page_link) < 0)
		return 1;
	if (link & 0x1 /* SG_CHAIN */)
		sg = (struct scatterlist *)(link & ~3UL);
	w->sg = sg;
	return 0;
}

/*
 * Sum of the byte lengths of the first n entries of a scatterlist. GPU pinning maps lists of
 * hundreds of entries (149 seen on an H100 host), so with bpf_loop the walk covers up to
 * AITRACE_DMA_SG_WALK_LOOP_MAX entries; without it, AITRACE_DMA_SG_WALK_MAX (a verifier-unrolled
 * loop). Longer lists count lost.sg_walk_truncated.
 */
static __always_inline __u64 dma_sg_bytes(struct scatterlist *sg, __u64 n, bool dma)
{
	struct dma_sg_walk w = {
		.sg = sg,
		.n = n,
		.sz = bpf_core_type_size(struct scatterlist),
		.dma = dma,
	};

	if (have_bpf_loop) {
		if (n > AITRACE_DMA_SG_WALK_LOOP_MAX)
			DMA_LOST(sg_walk_truncated);
		bpf_loop(n < AITRACE_DMA_SG_WALK_LOOP_MAX ? n : AITRACE_DMA_SG_WALK_LOOP_MAX, dma_sg_step, &w, 0);
		return w.bytes;
	}
	if (n > AITRACE_DMA_SG_WALK_MAX)
		DMA_LOST(sg_walk_truncated);
	for (int i = 0; i < AITRACE_DMA_SG_WALK_MAX; i++) {
		if (dma_sg_step(i, &w))
			break;
	}
	return w.bytes;
}

#endif
