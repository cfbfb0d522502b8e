/*
 * Keys and values of the dma collector's maps, shared by bpf/dma.bpf.c and
 * user/collectors/dma*.cpp. Everything is aggregated in the kernel; userspace reads the maps.
 *
 * Devices are keyed by the struct device pointer value (never printed: it would leak kernel
 * addresses); the kernel side stores each device's name once in dma_dev_names. Keying by the
 * pointer also lets BPF_PROG_TEST_RUN drive the handlers with made-up device ids: the name read
 * of a fake pointer fails harmlessly and the statistics still land under that id.
 *
 * Counter structs hold only __u64 so userspace can subtract two snapshots field by field.
 */
#ifndef AITRACE_DMA_EVENTS_H
#define AITRACE_DMA_EVENTS_H

#include "aitrace/histogram.h"
#include "aitrace/types.h"

#define AITRACE_DMA_NAME_LEN 32
/* enum dma_data_direction: BIDIRECTIONAL=0, TO_DEVICE=1, FROM_DEVICE=2, NONE=3 */
#define AITRACE_DMA_DIRS 4
/* Scatterlist entries walked per event to sum bytes (without / with bpf_loop); longer lists
 * count sg_walk_truncated. */
#define AITRACE_DMA_SG_WALK_MAX 64
#define AITRACE_DMA_SG_WALK_LOOP_MAX 65536

/* Default map sizes; userspace may change them before load (tests shrink dma_live). */
#define AITRACE_DMA_MAX_DEVICES 1024
#define AITRACE_DMA_MAX_LIVE 65536
#define AITRACE_DMA_MAX_HISTS 512
#define AITRACE_DMA_MAX_WAITERS 4096
#define AITRACE_DMA_MAX_FENCES 65536

/* What a live mapping was made by: the kind is part of the pairing key. */
#define AITRACE_DMA_KIND_SINGLE 1 /* dma_map_phys/page/resource: keyed by dma address */
#define AITRACE_DMA_KIND_SG 2     /* dma_map_sg: keyed by the scatterlist pointer */

/* DMA address the mapping API returns on failure (DMA_MAPPING_ERROR). */
#define AITRACE_DMA_MAPPING_ERROR (~(__u64)0)

struct aitrace_dma_dir_key {
	__u64 dev; /* struct device * value */
	__u32 dir; /* enum dma_data_direction, clamped to 0..3 */
	__u32 pad;
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_dma_dir_key) == 16, "dma dir key layout");

/* Per device and direction (per-CPU map: userspace sums the CPUs). */
struct aitrace_dma_dir_stats {
	__u64 map_count;        /* single mappings (phys/page/resource) */
	__u64 map_bytes;
	__u64 map_errors;       /* returned DMA_MAPPING_ERROR */
	__u64 unmap_count;
	__u64 unmap_bytes;
	__u64 unmap_unmatched;  /* unmaps (single or sg) with no map seen: mapped before start, or table full */
	__u64 sg_map_count;
	__u64 sg_map_nents;     /* scatterlist entries handed to dma_map_sg */
	__u64 sg_map_ents;      /* DMA segments it produced (after IOMMU merging) */
	__u64 sg_map_bytes;     /* sum of the mapped segments' DMA lengths (first SG_WALK_MAX) */
	__u64 sg_map_errors;
	__u64 sg_unmap_count;
	__u64 sg_unmap_bytes;   /* from the matched map; 0 when unmatched */
	__u64 sync_cpu_count;   /* dma_sync_{single,sg}_for_cpu */
	__u64 sync_cpu_bytes;
	__u64 sync_device_count;
	__u64 sync_device_bytes;
	__u64 alloc_count;      /* dma_alloc, dma_alloc_pages, dma_alloc_sgt */
	__u64 alloc_bytes;
	__u64 alloc_errors;     /* dma_alloc_sgt_err */
	__u64 free_count;
	__u64 free_bytes;
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_dma_dir_stats) == 22 * 8, "dma dir stats layout");

/* Per device, direction-less events (per-CPU map). */
struct aitrace_dma_dev_stats {
	__u64 swiotlb_count;    /* swiotlb_bounced: bounce-buffer copies */
	__u64 swiotlb_bytes;
	__u64 iommu_faults;     /* iommu:io_page_fault */
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_dma_dev_stats) == 3 * 8, "dma dev stats layout");

struct aitrace_dma_dev_name {
	char name[AITRACE_DMA_NAME_LEN];   /* dev_name(): init_name, else kobj.name */
	char driver[AITRACE_DMA_NAME_LEN]; /* dev->driver->name, empty when unbound */
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_dma_dev_name) == 64, "dma dev name layout");

/* Live mappings waiting for their unmap. */
struct aitrace_dma_live_key {
	__u64 dev;
	__u64 addr; /* dma address (single) or scatterlist pointer (sg) */
	__u32 kind; /* AITRACE_DMA_KIND_* */
	__u32 pad;
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_dma_live_key) == 24, "dma live key layout");

struct aitrace_dma_live {
	__u64 ts_ns;  /* first map */
	__u64 bytes;
	__u64 refs;   /* the same address mapped again before its unmap (dma-direct: dma == phys) */
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_dma_live) == 24, "dma live layout");

/* A histogram filled in the kernel with atomic adds (shared, not per-CPU: it is large). */
struct aitrace_dma_hist {
	__u64 count;
	__u64 sum;
	__u64 buckets[AITRACE_HIST_BUCKETS];
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_dma_hist) == (2 + AITRACE_HIST_BUCKETS) * 8, "dma hist layout");

/* dma-fence wait latency per waiting task (wait_start -> wait_end on the same thread). */
struct aitrace_dma_waiter {
	struct aitrace_dma_hist hist;
	__u32 tgid;
	__u32 pad;
	char comm[AITRACE_COMM_LEN];
};

/* A fence between emit and signaled. The pointer keeps synthetic test fences apart; context
 * and seqno keep a freed-and-reused fence from pairing with its predecessor. */
struct aitrace_dma_fence_key {
	__u64 fence;
	__u64 context;
	__u64 seqno;
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_dma_fence_key) == 24, "dma fence key layout");

/* Execution latency per timeline: the fence context, and the driver by its ops table. */
struct aitrace_dma_timeline_key {
	__u64 ops;     /* struct dma_fence_ops * (symbolized via /proc/kallsyms, never printed raw) */
	__u64 context;
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_dma_timeline_key) == 16, "dma timeline key layout");

struct aitrace_dma_timeline {
	struct aitrace_dma_hist hist;
	__u64 get_driver_name; /* ops->get_driver_name, when ops is not itself a kallsyms symbol */
};

/* IOMMU map/unmap carry no device (iommu:map/unmap give iova, paddr, size only). */
struct aitrace_dma_iommu_stats {
	__u64 map_count;
	__u64 map_bytes;
	__u64 unmap_count;
	__u64 unmap_bytes;      /* bytes really unmapped */
	__u64 unmap_requested;  /* bytes asked for */
	__u64 faults;
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_dma_iommu_stats) == 6 * 8, "dma iommu layout");

/* Event counts that are not per device. */
struct aitrace_dma_fence_stats {
	__u64 init;
	__u64 emit;
	__u64 signaled;
	__u64 destroy;
	__u64 enable_signal;         /* someone needs the signal (a waiter or callback was added) */
	__u64 wait_start;
	__u64 wait_end;
	__u64 signaled_without_emit; /* most drivers never emit a trace_dma_fence_emit */
	__u64 wait_end_unmatched;    /* wait_end whose wait_start was not seen (or table full) */
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_dma_fence_stats) == 9 * 8, "dma fence stats layout");

/* Everything dropped, in the kernel: each one a map that was full (or busy). */
struct aitrace_dma_lost {
	__u64 dir_stats_full;
	__u64 dev_stats_full;
	__u64 dev_names_full;
	__u64 live_full;          /* mappings not tracked for lifetime: their unmaps turn up unmatched */
	__u64 lifetime_hists_full;
	__u64 waits_full;
	__u64 waiters_full;
	__u64 fences_full;
	__u64 timelines_full;
	__u64 sg_walk_truncated;  /* scatterlists longer than the walk limit: bytes undercounted */
};
AITRACE_STATIC_ASSERT(sizeof(struct aitrace_dma_lost) == 10 * 8, "dma lost layout");

#endif
