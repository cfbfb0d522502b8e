// SPDX-License-Identifier: GPL-2.0
/*
 * aitrace dma: DMA mappings (dma:*, 6.12+), IOMMU map/unmap/faults, swiotlb bounces and
 * dma-fence waits, aggregated in the kernel per device and direction.
 *
 * Every handler is a raw_tp program reading the TP_PROTO arguments, so tests drive them with
 * BPF_PROG_TEST_RUN and synthetic arguments (a VM has the tracepoints but no DMA traffic).
 * Kernel memory behind the pointers (device names, scatterlists, fences) is read with
 * bpf_probe_read_kernel, which fails harmlessly for made-up pointers.
 *
 * Task filters (-p/-t/--comm/--cgroup) apply to fence waits only: map/unmap/sync run in
 * whatever context the driver is in (softirq, kworker, another process), so `current` says
 * nothing about who the DMA is for.
 */
#include "common/core.bpf.h"
#include "common/filter.bpf.h"
#include "dma_maps.bpf.h"

/* ---- single mappings: dma_map_phys (6.18+), dma_map_page/dma_map_resource (6.12-6.17) ---- */

static __always_inline int on_map(struct device *dev, __u64 dma, __u64 size, __u64 dir)
{
	struct aitrace_dma_live_key k = { .dev = (__u64)dev, .addr = dma, .kind = AITRACE_DMA_KIND_SINGLE };
	struct aitrace_dma_dir_stats *s;

	dma_note_device(dev);
	s = dma_dir_slot((__u64)dev, dir);
	if (dma == AITRACE_DMA_MAPPING_ERROR) {
		if (s)
			s->map_errors++;
		return 0;
	}
	if (s) {
		s->map_count++;
		s->map_bytes += size;
	}
	dma_live_add(&k, size);
	return 0;
}

/* Pairs an unmap with its map; returns the mapped bytes (0 when unmatched). */
static __always_inline __u64 pair_unmap(struct aitrace_dma_dir_stats *s, struct aitrace_dma_live_key *k, __u64 dir)
{
	struct aitrace_dma_live *v = bpf_map_lookup_elem(&dma_live, k);
	struct aitrace_dma_dir_key hk = { .dev = k->dev, .dir = dma_dir(dir) };
	struct aitrace_dma_hist *h;
	__u64 bytes, ts;

	if (!v) {
		if (s)
			s->unmap_unmatched++;
		return 0;
	}
	bytes = v->bytes;
	ts = v->ts_ns;
	/* Plain read, not an atomic fetch (BPF_FETCH needs 5.12; dma_fence/iommu are older). */
	if (v->refs <= 1)
		bpf_map_delete_elem(&dma_live, k);
	else
		__sync_fetch_and_add(&v->refs, -1);
	h = aitrace_map_lookup_or_init(&dma_lifetime, &hk, &zero_hist, &dma_lost.lifetime_hists_full);
	if (h)
		dma_hist_add(h, bpf_ktime_get_ns() - ts);
	return bytes;
}

static __always_inline int on_unmap(struct device *dev, __u64 dma, __u64 size, __u64 dir)
{
	struct aitrace_dma_live_key k = { .dev = (__u64)dev, .addr = dma, .kind = AITRACE_DMA_KIND_SINGLE };
	struct aitrace_dma_dir_stats *s;

	dma_note_device(dev);
	s = dma_dir_slot((__u64)dev, dir);
	if (s) {
		s->unmap_count++;
		s->unmap_bytes += size;
	}
	pair_unmap(s, &k, dir);
	return 0;
}

/* (dev, phys_addr_t phys, dma_addr_t dma, size_t size, enum dma_data_direction dir, attrs) */
SEC("raw_tp/dma_map_phys")
int BPF_PROG(dma_map_phys, struct device *dev, __u64 phys, __u64 dma, __u64 size, __u64 dir)
{
	AITRACE_RETURN_IF_HELD();
	return on_map(dev, dma, size, dir);
}

SEC("raw_tp/dma_map_page")
int BPF_PROG(dma_map_page, struct device *dev, __u64 phys, __u64 dma, __u64 size, __u64 dir)
{
	AITRACE_RETURN_IF_HELD();
	return on_map(dev, dma, size, dir);
}

SEC("raw_tp/dma_map_resource")
int BPF_PROG(dma_map_resource, struct device *dev, __u64 phys, __u64 dma, __u64 size, __u64 dir)
{
	AITRACE_RETURN_IF_HELD();
	return on_map(dev, dma, size, dir);
}

/* (dev, dma_addr_t addr, size_t size, enum dma_data_direction dir, attrs) */
SEC("raw_tp/dma_unmap_phys")
int BPF_PROG(dma_unmap_phys, struct device *dev, __u64 dma, __u64 size, __u64 dir)
{
	AITRACE_RETURN_IF_HELD();
	return on_unmap(dev, dma, size, dir);
}

SEC("raw_tp/dma_unmap_page")
int BPF_PROG(dma_unmap_page, struct device *dev, __u64 dma, __u64 size, __u64 dir)
{
	AITRACE_RETURN_IF_HELD();
	return on_unmap(dev, dma, size, dir);
}

SEC("raw_tp/dma_unmap_resource")
int BPF_PROG(dma_unmap_resource, struct device *dev, __u64 dma, __u64 size, __u64 dir)
{
	AITRACE_RETURN_IF_HELD();
	return on_unmap(dev, dma, size, dir);
}

/* ---- scatterlists: paired by the scatterlist pointer, which map and unmap share ---- */

/* (dev, struct scatterlist *sgl, int nents, int ents, dir, attrs) */
SEC("raw_tp/dma_map_sg")
int BPF_PROG(dma_map_sg, struct device *dev, struct scatterlist *sgl, int nents, int ents, __u64 dir)
{
	AITRACE_RETURN_IF_HELD();
	struct aitrace_dma_live_key k = { .dev = (__u64)dev, .addr = (__u64)sgl, .kind = AITRACE_DMA_KIND_SG };
	struct aitrace_dma_dir_stats *s;
	__u64 bytes;

	dma_note_device(dev);
	bytes = ents > 0 ? dma_sg_bytes(sgl, ents, true) : 0;
	s = dma_dir_slot((__u64)dev, dir);
	if (s) {
		s->sg_map_count++;
		s->sg_map_nents += nents > 0 ? nents : 0;
		s->sg_map_ents += ents > 0 ? ents : 0;
		s->sg_map_bytes += bytes;
	}
	dma_live_add(&k, bytes);
	return 0;
}

/* (dev, sgl, int nents, int err, dir, attrs): the mapping failed */
SEC("raw_tp/dma_map_sg_err")
int BPF_PROG(dma_map_sg_err, struct device *dev, struct scatterlist *sgl, int nents, int err, __u64 dir)
{
	AITRACE_RETURN_IF_HELD();
	struct aitrace_dma_dir_stats *s;

	dma_note_device(dev);
	s = dma_dir_slot((__u64)dev, dir);
	if (s)
		s->sg_map_errors++;
	return 0;
}

/* (dev, sgl, int nents, dir, attrs) */
SEC("raw_tp/dma_unmap_sg")
int BPF_PROG(dma_unmap_sg, struct device *dev, struct scatterlist *sgl, int nents, __u64 dir)
{
	AITRACE_RETURN_IF_HELD();
	struct aitrace_dma_live_key k = { .dev = (__u64)dev, .addr = (__u64)sgl, .kind = AITRACE_DMA_KIND_SG };
	struct aitrace_dma_dir_stats *s;
	__u64 bytes;

	dma_note_device(dev);
	s = dma_dir_slot((__u64)dev, dir);
	bytes = pair_unmap(s, &k, dir);
	if (s) {
		s->sg_unmap_count++;
		s->sg_unmap_bytes += bytes;
	}
	return 0;
}

/* ---- syncs ---- */

static __always_inline int on_sync(struct device *dev, __u64 bytes, __u64 dir, bool for_cpu)
{
	struct aitrace_dma_dir_stats *s;

	dma_note_device(dev);
	s = dma_dir_slot((__u64)dev, dir);
	if (!s)
		return 0;
	if (for_cpu) {
		s->sync_cpu_count++;
		s->sync_cpu_bytes += bytes;
	} else {
		s->sync_device_count++;
		s->sync_device_bytes += bytes;
	}
	return 0;
}

/* (dev, dma_addr_t dma, size_t size, dir) */
SEC("raw_tp/dma_sync_single_for_cpu")
int BPF_PROG(dma_sync_single_for_cpu, struct device *dev, __u64 dma, __u64 size, __u64 dir)
{
	AITRACE_RETURN_IF_HELD();
	return on_sync(dev, size, dir, true);
}

SEC("raw_tp/dma_sync_single_for_device")
int BPF_PROG(dma_sync_single_for_device, struct device *dev, __u64 dma, __u64 size, __u64 dir)
{
	AITRACE_RETURN_IF_HELD();
	return on_sync(dev, size, dir, false);
}

/* (dev, sgl, int nelems, dir): nelems is the CPU-side entry count, so sum sg->length */
SEC("raw_tp/dma_sync_sg_for_cpu")
int BPF_PROG(dma_sync_sg_for_cpu, struct device *dev, struct scatterlist *sgl, int nelems, __u64 dir)
{
	AITRACE_RETURN_IF_HELD();
	return on_sync(dev, nelems > 0 ? dma_sg_bytes(sgl, nelems, false) : 0, dir, true);
}

SEC("raw_tp/dma_sync_sg_for_device")
int BPF_PROG(dma_sync_sg_for_device, struct device *dev, struct scatterlist *sgl, int nelems, __u64 dir)
{
	AITRACE_RETURN_IF_HELD();
	return on_sync(dev, nelems > 0 ? dma_sg_bytes(sgl, nelems, false) : 0, dir, false);
}

/* ---- coherent allocations ---- */

static __always_inline int on_alloc(struct device *dev, __u64 size, __u64 dir, int what)
{
	struct aitrace_dma_dir_stats *s;

	dma_note_device(dev);
	s = dma_dir_slot((__u64)dev, dir);
	if (!s)
		return 0;
	if (what == 1) {
		s->alloc_count++;
		s->alloc_bytes += size;
	} else if (what == 0) {
		s->free_count++;
		s->free_bytes += size;
	} else {
		s->alloc_errors++;
	}
	return 0;
}

/* 6.12: (dev, void *virt, dma_addr_t dma, size_t size, gfp_t flags, attrs); later a
 * direction was inserted before flags. Coherent memory without one is bidirectional. */
SEC("raw_tp/dma_alloc")
int BPF_PROG(dma_alloc, struct device *dev, void *virt, __u64 dma, __u64 size)
{
	AITRACE_RETURN_IF_HELD();
	return on_alloc(dev, size, alloc_has_dir ? ctx[4] : 0, 1);
}

/* (dev, void *virt, dma_addr_t dma, size_t size, dir, gfp_t flags, attrs) */
SEC("raw_tp/dma_alloc_pages")
int BPF_PROG(dma_alloc_pages, struct device *dev, void *virt, __u64 dma, __u64 size, __u64 dir)
{
	AITRACE_RETURN_IF_HELD();
	return on_alloc(dev, size, dir, 1);
}

/* (dev, struct sg_table *sgt, size_t size, dir, gfp_t flags, attrs) */
SEC("raw_tp/dma_alloc_sgt")
int BPF_PROG(dma_alloc_sgt, struct device *dev, void *sgt, __u64 size, __u64 dir)
{
	AITRACE_RETURN_IF_HELD();
	return on_alloc(dev, size, dir, 1);
}

/* (dev, void *virt, dma_addr_t dma, size_t size, dir, gfp_t flags, attrs) */
SEC("raw_tp/dma_alloc_sgt_err")
int BPF_PROG(dma_alloc_sgt_err, struct device *dev, void *virt, __u64 dma, __u64 size, __u64 dir)
{
	AITRACE_RETURN_IF_HELD();
	return on_alloc(dev, size, dir, 2);
}

/* 6.12: (dev, void *virt, dma_addr_t dma, size_t size, attrs); later (..., size, dir, attrs) */
SEC("raw_tp/dma_free")
int BPF_PROG(dma_free, struct device *dev, void *virt, __u64 dma, __u64 size)
{
	AITRACE_RETURN_IF_HELD();
	return on_alloc(dev, size, free_has_dir ? ctx[4] : 0, 0);
}

/* (dev, void *virt, dma_addr_t dma, size_t size, dir, attrs) */
SEC("raw_tp/dma_free_pages")
int BPF_PROG(dma_free_pages, struct device *dev, void *virt, __u64 dma, __u64 size, __u64 dir)
{
	AITRACE_RETURN_IF_HELD();
	return on_alloc(dev, size, dir, 0);
}

/* (dev, struct sg_table *sgt, size_t size, dir) */
SEC("raw_tp/dma_free_sgt")
int BPF_PROG(dma_free_sgt, struct device *dev, void *sgt, __u64 size, __u64 dir)
{
	AITRACE_RETURN_IF_HELD();
	return on_alloc(dev, size, dir, 0);
}

/* ---- swiotlb and IOMMU ---- */

/* (dev, dma_addr_t dev_addr, size_t size); before 5.18 a 4th argument (swiotlb_force)
 * followed, which this program does not read. */
SEC("raw_tp/swiotlb_bounced")
int BPF_PROG(swiotlb_bounced, struct device *dev, __u64 dma, __u64 size)
{
	AITRACE_RETURN_IF_HELD();
	struct aitrace_dma_dev_stats *s;

	dma_note_device(dev);
	s = dma_dev_slot((__u64)dev);
	if (s) {
		s->swiotlb_count++;
		s->swiotlb_bytes += size;
	}
	return 0;
}

static __always_inline struct aitrace_dma_iommu_stats *iommu_stats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&dma_iommu, &zero);
}

/* iommu:map (unsigned long iova, phys_addr_t paddr, size_t size) */
SEC("raw_tp/map")
int BPF_PROG(iommu_map, __u64 iova, __u64 paddr, __u64 size)
{
	AITRACE_RETURN_IF_HELD();
	struct aitrace_dma_iommu_stats *s = iommu_stats();

	if (s) {
		s->map_count++;
		s->map_bytes += size;
	}
	return 0;
}

/* iommu:unmap (unsigned long iova, size_t size, size_t unmapped_size) */
SEC("raw_tp/unmap")
int BPF_PROG(iommu_unmap, __u64 iova, __u64 size, __u64 unmapped)
{
	AITRACE_RETURN_IF_HELD();
	struct aitrace_dma_iommu_stats *s = iommu_stats();

	if (s) {
		s->unmap_count++;
		s->unmap_requested += size;
		s->unmap_bytes += unmapped;
	}
	return 0;
}

/* iommu:io_page_fault (struct device *dev, unsigned long iova, int flags) */
SEC("raw_tp/io_page_fault")
int BPF_PROG(iommu_io_page_fault, struct device *dev, __u64 iova, int flags)
{
	AITRACE_RETURN_IF_HELD();
	struct aitrace_dma_iommu_stats *is = iommu_stats();
	struct aitrace_dma_dev_stats *s;

	if (is)
		is->faults++;
	dma_note_device(dev);
	s = dma_dev_slot((__u64)dev);
	if (s)
		s->iommu_faults++;
	return 0;
}

/* The process filter's fork and free programs (user/core/filter_hooks.cpp attaches them). */
AITRACE_FILTER_PROGRAMS(dma)

#include "dma_fence.bpf.h"

char LICENSE[] SEC("license") = "GPL";
