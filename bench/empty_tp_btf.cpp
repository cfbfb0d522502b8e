// The floor of tp_btf tracing cost on this kernel: an empty program ("r0 = 0; exit") attached
// as tp_btf to each tracepoint named on the command line, held until SIGINT/SIGTERM.
// bench/sched_overhead.sh measures it beside the tracers: what is left of a tracer's ns per
// program run above this is what its own work costs. Prints "attached" on stdout when ready.
//
//   empty_tp_btf sched_switch sched_wakeup sched_wakeup_new
#include "aitrace/core/kernel_btf_facts.hpp"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  const aitrace::KernelBtfFacts* facts = aitrace::kernel_btf_facts();
  if (!facts) {
    std::fprintf(stderr, "empty_tp_btf: no kernel BTF (/sys/kernel/btf/vmlinux)\n");
    return 3;
  }
  const bpf_insn prog[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  for (int i = 1; i < argc; i++) {
    auto proto = facts->tracepoint(argv[i]);
    if (!proto) {
      std::fprintf(stderr, "empty_tp_btf: no tracepoint %s in kernel BTF\n", argv[i]);
      return 2;
    }
    LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_RAW_TP,
                .attach_btf_id = proto->typedef_id);
    const int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "empty_tp_btf", "GPL", prog, 2, &opts);
    // The fds stay open until exit: they hold the programs attached.
    if (fd < 0 || bpf_raw_tracepoint_open(nullptr, fd) < 0) {
      std::fprintf(stderr, "empty_tp_btf: %s: %s\n", argv[i], std::strerror(errno));
      return 3;
    }
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  std::printf("attached\n");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  return 0;
}
