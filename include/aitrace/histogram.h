/*
 * The one bucket function, shared by BPF C and C++ so in-kernel aggregation and userspace
 * decoding of ring-buffer events give identical histograms.
 *
 * Log-linear buckets: values below 2^SUB_BITS are exact; every power of two above is split into
 * 2^SUB_BITS equal sub-buckets, so a bucket is at most 1/16 of its value wide (percentiles
 * accurate to ~3% with in-bucket interpolation). Values at or above 2^AITRACE_HIST_MAX_LOG2
 * (~73 minutes in ns) land in the last bucket.
 */
#ifndef AITRACE_HISTOGRAM_H
#define AITRACE_HISTOGRAM_H

#include "aitrace/types.h"

#define AITRACE_HIST_SUB_BITS 4
#define AITRACE_HIST_SUB (1u << AITRACE_HIST_SUB_BITS)
#define AITRACE_HIST_MAX_LOG2 42
#define AITRACE_HIST_BUCKETS ((AITRACE_HIST_MAX_LOG2 - AITRACE_HIST_SUB_BITS + 1) * AITRACE_HIST_SUB)

/*
 * floor(log2(v)) for v > 0 (0 for v == 0), without a branch: the highest bit smeared down, then
 * counted. A branchy binary search made the BPF verifier walk the rest of every caller once per
 * distinct result (the index is a precise map offset), 38 times in the sched programs' metric_add:
 * ~7 of aitrace sched's 18 ms of verification. No builtins, so every clang and the verifier take it.
 */
static inline __u32 aitrace_log2_u64(__u64 v)
{
	v |= v >> 1;
	v |= v >> 2;
	v |= v >> 4;
	v |= v >> 8;
	v |= v >> 16;
	v |= v >> 32;
	v >>= 1; /* the bits below the highest: their count is its index */
	v = v - ((v >> 1) & 0x5555555555555555ULL);
	v = (v & 0x3333333333333333ULL) + ((v >> 2) & 0x3333333333333333ULL);
	v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (__u32)((v * 0x0101010101010101ULL) >> 56);
}

static inline __u32 aitrace_hist_bucket(__u64 v)
{
	__u32 msb, shift, idx;

	if (v < AITRACE_HIST_SUB)
		return (__u32)v;
	if (v >> AITRACE_HIST_MAX_LOG2)
		return AITRACE_HIST_BUCKETS - 1;
	msb = aitrace_log2_u64(v);
	shift = msb - AITRACE_HIST_SUB_BITS;
	idx = (msb - AITRACE_HIST_SUB_BITS + 1) * AITRACE_HIST_SUB + (__u32)((v >> shift) & (AITRACE_HIST_SUB - 1));
	return idx < AITRACE_HIST_BUCKETS ? idx : AITRACE_HIST_BUCKETS - 1;
}

/* Smallest value that falls into bucket idx. */
static inline __u64 aitrace_hist_bucket_low(__u32 idx)
{
	__u32 group, sub;

	if (idx < AITRACE_HIST_SUB)
		return idx;
	group = idx / AITRACE_HIST_SUB; /* 1 => [16, 32) */
	sub = idx % AITRACE_HIST_SUB;
	return ((__u64)AITRACE_HIST_SUB + sub) << (group - 1);
}

/* Largest value that falls into bucket idx (inclusive). */
static inline __u64 aitrace_hist_bucket_high(__u32 idx)
{
	if (idx + 1 >= AITRACE_HIST_BUCKETS)
		return ~(__u64)0;
	return aitrace_hist_bucket_low(idx + 1) - 1;
}

#endif
