// SPDX-License-Identifier: GPL-2.0
/*
 * Test support, never part of aitrace: a page of real kernel memory (this object's .bss) that a
 * test fills through the skeleton's mmap with fake kernel objects (devices, scatterlists,
 * fences), so that the CO-RE reads of the programs under test find something to read, and a
 * program that tells its kernel address (run it once with BPF_PROG_TEST_RUN).
 */
#include "common/core.bpf.h"

char LICENSE[] SEC("license") = "GPL";

__u8 scratch[4096] = {};
__u64 scratch_addr = 0;

SEC("raw_tp")
int report_scratch_addr(void *ctx)
{
	scratch_addr = (__u64)scratch;
	return 0;
}
