// tp_btf programs without libbpf's parse of the whole kernel BTF.
//
// libbpf resolves a tp_btf program's attach target (the btf_trace_<name> typedef) in the kernel
// BTF, and to do so parses all of it at every object load: ~5.4 MB read and copied once more
// (two copies at once): aitrace sched's peak RSS was 20.2 MB with it and is 14.3 without
// (bench/startup_overhead.sh, 2026-12-07).
// aitrace's one-pass kernel BTF facts (kernel_btf_facts.hpp) already hold every typedef's id, so
// aitrace registers its own handler of "tp_btf/" sections with libbpf, once per process, at the
// first Skeleton::open (before that open: libbpf binds a program to its handler at open):
//   - at open, its setup callback gives each of its programs whose tracepoint the facts name a
//     placeholder attach_prog_fd: libbpf 1.4 takes a tracing program that attaches to another
//     program as not needing the kernel BTF (prog_needs_vmlinux_btf), and otherwise only copies
//     that field into the load options;
//   - at load, its prepare callback puts the typedef id from the facts into the load options and
//     the placeholder back to 0, so the kernel sees what libbpf's own handler would pass;
//   - its attach callback is libbpf's own tp_btf attach (bpf_program__attach_trace).
// A tracepoint the facts lack (a module's) is resolved by libbpf itself before the load
// (resolve_tp_btf_targets(): bpf_program__set_attach_target, which searches vmlinux and the
// modules), at the old cost. tests/bpf/tp_btf_attach_test.cpp holds the ids to libbpf's lookup and
// fails if libbpf reads the kernel BTF: it guards the libbpf internals this relies on.
#pragma once

struct bpf_object;

namespace aitrace {

// Registers the "tp_btf/" handler; idempotent. Skeleton::open calls it before every open.
void register_tp_btf_handler();

// Before bpf_object__load: the autoloaded tp_btf programs whose tracepoint the facts lack get
// their target from libbpf's own lookup. Returns how many.
int resolve_tp_btf_targets(bpf_object* obj);

}  // namespace aitrace
