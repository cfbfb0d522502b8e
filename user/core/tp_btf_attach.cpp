#include "aitrace/core/tp_btf_attach.hpp"

#include "aitrace/core/kernel_btf_facts.hpp"
#include "aitrace/core/log.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace aitrace {
namespace {

constexpr std::string_view kSection = "tp_btf/";

// What the setup callback stores as attach_prog_fd. libbpf 1.4 tests it (prog_needs_vmlinux_btf)
// and copies it into the load options, which the prepare callback sets back to 0; it never uses
// it as an fd with this handler (not closed, not attached to: attach goes by the program's fd).
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

int setup(bpf_program* prog, long /*cookie*/) {
  auto tp = tracepoint_of(prog);
  if (tp && facts_typedef_id(*tp) != 0) bpf_program__set_attach_target(prog, kPlaceholderFd, nullptr);
  return 0;
}

int prepare_load(bpf_program* prog, bpf_prog_load_opts* opts, long /*cookie*/) {
  opts->attach_prog_fd = 0;
  // Resolved by libbpf before the load (resolve_tp_btf_targets(), or the caller's own
  // bpf_program__set_attach_target()): its id and BTF object stand.
  if (opts->attach_btf_id) return 0;
  auto tp = tracepoint_of(prog);
  if (!tp) return -EINVAL;  // "tp_btf" without a target: libbpf's handler refuses it too
  int id = static_cast<int>(facts_typedef_id(*tp));
  if (id == 0) {
    // Loaded without resolve_tp_btf_targets() and unknown to the facts: libbpf's lookup in
    // vmlinux (a module's tracepoint is not found this way).
    const std::string name(*tp);
    id = libbpf_find_vmlinux_btf_id(name.c_str(), BPF_TRACE_RAW_TP);
    if (id < 0) return id;
  }
  opts->attach_btf_obj_fd = 0;  // vmlinux
  opts->attach_btf_id = static_cast<__u32>(id);
  return 0;
}

int attach(const bpf_program* prog, long /*cookie*/, bpf_link** link) {
  *link = bpf_program__attach_trace(prog);
  return *link ? 0 : -errno;
}

}  // namespace

void register_tp_btf_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    LIBBPF_OPTS(libbpf_prog_handler_opts, opts, .prog_setup_fn = setup, .prog_prepare_load_fn = prepare_load,
                .prog_attach_fn = attach);
    const int id = libbpf_register_prog_handler("tp_btf+", BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, &opts);
    if (id < 0) debug("tp_btf: libbpf's own handler stays ({})", std::strerror(-id));
  });
}

int resolve_tp_btf_targets(bpf_object* obj) {
  int resolved = 0;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, obj) {
    if (!bpf_program__autoload(prog) || bpf_program__type(prog) != BPF_PROG_TYPE_TRACING ||
        bpf_program__expected_attach_type(prog) != BPF_TRACE_RAW_TP)
      continue;
    auto tp = tracepoint_of(prog);
    if (!tp || facts_typedef_id(*tp) != 0) continue;
    const std::string name(*tp);
    if (bpf_program__set_attach_target(prog, 0, name.c_str()) == 0) resolved++;
  }
  return resolved;
}

}  // namespace aitrace
