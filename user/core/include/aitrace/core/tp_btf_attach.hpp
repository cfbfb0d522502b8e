// tp_btf programs without libbpf's parse of the whole kernel BTF.
//
// libbpf resolves a tp_btf program's attach target (the btf_trace_<name> typedef) in the kernel
// BTF, and to do so parses all of it at every object load: ~5.4 MB read and copied once more
// (two copies at once): aitrace sched's peak RSS was 20.2 MB with it and is 14.3 without
// (bench/startup_overhead.sh, 2026-12-07).
// aitrace's one-pass kernel BTF facts (kernel_btf_facts.hpp) already hold every typedef's id, so:
//   - aitrace registers its own handler of "tp_btf/" sections with libbpf (once per process,
//     before any object is opened): its load callback gives the program the typedef id from
//     the facts, and its attach callback is libbpf's own tp_btf attach (bpf_program__attach_trace);
//   - before a load, mark_tp_btf_programs() sets a placeholder attach_prog_fd on each autoloaded
//     tp_btf program whose tracepoint the facts name: libbpf takes a program that attaches to
//     another program as not needing the kernel BTF, and the load callback clears the placeholder
//     before the program reaches the kernel, which then sees what libbpf's own handler would pass.
// Where the facts lack a tracepoint (a module's, or no readable kernel BTF) the program is left
// unmarked and the callback asks libbpf for the id (libbpf_find_vmlinux_btf_id): the old cost,
// the old behaviour.
#pragma once

struct bpf_object;

namespace aitrace {

// Registers the "tp_btf/" handler; idempotent. Skeleton::open calls it before every open.
void register_tp_btf_handler();

// Before bpf_object__load: marks obj's autoloaded tp_btf programs whose attach target the kernel
// BTF facts know. Returns how many it marked.
int mark_tp_btf_programs(bpf_object* obj);

}  // namespace aitrace
