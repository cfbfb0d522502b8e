#include "aitrace/core/tp_btf_attach.hpp"

#include "aitrace/core/kernel_btf_facts.hpp"
#include "aitrace/core/log.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <string_view>

namespace aitrace {
namespace {

constexpr std::string_view kSection = "tp_btf/";

// What mark_tp_btf_programs() stores as attach_prog_fd. libbpf only keeps it (it never reads,
// closes or passes it on with this handler), and the load callback replaces it by 0.
constexpr int kPlaceholderFd = 1;

std::optional<std::string_view> tracepoint_of(const bpf_program* prog) {
  const char* sec = bpf_program__section_name(prog);
  std::string_view s = sec ? sec : "";
  if (!s.starts_with(kSection) || s.size() == kSection.size()) return std::nullopt;
  return s.substr(kSection.size());
}

// The btf_trace_<name> typedef id from the facts; 0 when they do not have it.
uint32_t facts_typedef_id(std::string_view tracepoint) {
  const KernelBtfFacts* f = kernel_btf_facts();
  auto proto = f ? f->tracepoint(tracepoint) : std::nullopt;
  return proto ? proto->typedef_id : 0;
}

int prepare_load(bpf_program* prog, bpf_prog_load_opts* opts, long /*cookie*/) {
  auto tp = tracepoint_of(prog);
  if (!tp) return -EINVAL;  // "tp_btf" without a target: libbpf's handler refuses it too
  int id = static_cast<int>(facts_typedef_id(*tp));
  if (id == 0) {
    // Not in the facts: libbpf's own lookup in the kernel BTF (it parses the whole of it).
    const std::string name(*tp);
    id = libbpf_find_vmlinux_btf_id(name.c_str(), BPF_TRACE_RAW_TP);
    if (id < 0) return id;
  }
  opts->attach_prog_fd = 0;
  opts->attach_btf_obj_fd = 0;  // vmlinux
  opts->attach_btf_id = static_cast<__u32>(id);
  return 0;
}

int attach(const bpf_program* prog, long /*cookie*/, bpf_link** link) {
  *link = bpf_program__attach_trace(prog);
  return *link ? 0 : -errno;
}

bool g_registered = false;

}  // namespace

void register_tp_btf_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    LIBBPF_OPTS(libbpf_prog_handler_opts, opts, .prog_prepare_load_fn = prepare_load, .prog_attach_fn = attach);
    const int id = libbpf_register_prog_handler("tp_btf+", BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, &opts);
    g_registered = id >= 0;
    if (!g_registered) debug("tp_btf: libbpf's own handler stays ({})", std::strerror(-id));
  });
}

int mark_tp_btf_programs(bpf_object* obj) {
  // With libbpf's own handler the placeholder would be taken for a program to attach to.
  if (!g_registered) return 0;
  int marked = 0;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, obj) {
    if (!bpf_program__autoload(prog) || bpf_program__type(prog) != BPF_PROG_TYPE_TRACING ||
        bpf_program__expected_attach_type(prog) != BPF_TRACE_RAW_TP)
      continue;
    auto tp = tracepoint_of(prog);
    if (!tp || facts_typedef_id(*tp) == 0) continue;
    if (bpf_program__set_attach_target(prog, kPlaceholderFd, nullptr) == 0) marked++;
  }
  return marked;
}

}  // namespace aitrace
