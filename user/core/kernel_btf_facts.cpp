#include "aitrace/core/kernel_btf_facts.hpp"

#include "btf_raw.hpp"

#include <fcntl.h>
#include <linux/btf.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

namespace aitrace {

using btf_raw::BtfBytes;
using btf_raw::Reader;

namespace btf_raw {

bool read_btf_file(const char* path, BtfBytes& out) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st{};
  if (fstat(fd, &st) != 0 || st.st_size <= 0) {
    close(fd);
    return false;
  }
  out.size = static_cast<size_t>(st.st_size);
  out.mapped = mmap(nullptr, out.size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (out.mapped != MAP_FAILED) {
    close(fd);
    out.data = out.mapped;
    return true;
  }
  out.copy.resize(out.size);
  size_t got = 0;
  while (got < out.size) {
    const ssize_t n = read(fd, out.copy.data() + got, out.size - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  out.data = out.copy.data();
  out.size = got;
  return got > 0;
}

}  // namespace btf_raw

std::optional<TracepointPrototype> KernelBtfFacts::tracepoint(std::string_view name) const {
  auto it = tracepoints.find(std::string(name));
  if (it == tracepoints.end()) return std::nullopt;
  return it->second;
}

std::optional<KernelBtfFacts> scan_kernel_btf(const void* data, size_t size) {
  auto reader = btf_raw::open_raw(data, size);
  if (!reader) return std::nullopt;
  const Reader& r = *reader;
  KernelBtfFacts f;
  constexpr std::string_view prefix = "btf_trace_";
  bool seen_entity = false, seen_cfs_rq = false;
  for (uint32_t id = 1; id < r.count(); id++) {
    const btf_type t = r.type(id);
    const uint32_t kind = BTF_INFO_KIND(t.info);
    if (kind == BTF_KIND_TYPEDEF) {
      const std::string_view n = r.name(t.name_off);
      if (!n.starts_with(prefix)) continue;
      // A prototype the reader cannot follow is left out, as libbpf's lookup would find none.
      if (auto args = r.proto_args(t.type)) f.tracepoints.emplace(std::string(n.substr(prefix.size())), TracepointPrototype{id, *args});
    } else if (kind == BTF_KIND_STRUCT) {
      // The first struct of a name, as btf__find_by_name_kind() answers.
      const std::string_view n = r.name(t.name_off);
      if (n == "sched_entity" && !seen_entity) {
        seen_entity = true;
        f.sched_entity_has_cfs_rq = r.has_member(id, "cfs_rq");
      } else if (n == "cfs_rq" && !seen_cfs_rq) {
        seen_cfs_rq = true;
        f.cfs_rq_has_rq = r.has_member(id, "rq");
      } else if (n == "bpf_mem_alloc") {
        f.has_bpf_mem_alloc = true;
      }
    }
  }
  return f;
}

KernelBtfLoad load_kernel_btf_facts(const char* path) {
  KernelBtfLoad l;
  BtfBytes bytes;
  errno = 0;
  if (!read_btf_file(path, bytes)) {
    l.why_not = errno == ENOENT ? fmt::format("this kernel has no BTF ({}); aitrace needs CONFIG_DEBUG_INFO_BTF=y (Linux 5.12+)", path)
                                : fmt::format("cannot read the kernel's BTF ({}): {}", path, errno ? std::strerror(errno) : "empty file");
    return l;
  }
  auto f = scan_kernel_btf(bytes.data, bytes.size);
  if (!f) {
    l.why_not = fmt::format("cannot read the kernel's BTF ({}): not well-formed, or a type kind this aitrace does not know", path);
    return l;
  }
  l.facts = std::make_unique<KernelBtfFacts>(std::move(*f));
  return l;
}

namespace {
const KernelBtfLoad& loaded_facts() {
  static const KernelBtfLoad loaded = load_kernel_btf_facts("/sys/kernel/btf/vmlinux");
  return loaded;
}
}  // namespace

const KernelBtfFacts* kernel_btf_facts() { return loaded_facts().facts.get(); }

const std::string& kernel_btf_facts_error() { return loaded_facts().why_not; }

}  // namespace aitrace
