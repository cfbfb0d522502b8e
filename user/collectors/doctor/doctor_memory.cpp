// Memory placement: NUMA nodes, CXL-style memory-only nodes and tiers, NUMA balancing, THP.
#include "aitrace/doctor/doctor.hpp"
#include "doctor_internal.hpp"

#include "aitrace/core/parse_number.hpp"

#include <dirent.h>
#include <fmt/format.h>

#include <algorithm>

namespace aitrace {
namespace {

// A function, not a static std::string: its constructor could throw before main().
std::string node_path(std::string_view leaf) { return std::string("/sys/devices/system/node/").append(leaf); }

nlohmann::ordered_json json_ints(const std::vector<int>& v) {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  for (int x : v) a.push_back(x);
  return a;
}

Result<std::vector<int>> read_node_list(const std::string& path) {
  auto t = read_text_file(path);
  if (!t.ok()) return t.error();
  return parse_node_list(*t);
}

// "Node 0 MemTotal:  7170252 kB" -> bytes.
std::optional<uint64_t> node_mem_total(int node) {
  auto t = read_text_file(node_path("node" + std::to_string(node) + "/meminfo"));
  if (!t.ok()) return std::nullopt;
  size_t pos = t->find("MemTotal:");
  if (pos == std::string::npos) return std::nullopt;
  std::string_view value = std::string_view(*t).substr(pos + std::string_view("MemTotal:").size());
  value = value.substr(0, value.find('\n'));
  value.remove_prefix(std::min(value.find_first_not_of(' '), value.size()));
  auto kb = parse_number_between<uint64_t>(value, "", " kB");
  if (!kb) return std::nullopt;
  return *kb * 1024;
}

void add_nodes(DoctorSection& s) {
  auto online = read_node_list(node_path("online"));
  if (!online.ok()) {
    s.add_unknown("nodes", "NUMA nodes", online.error().message).remark =
        "No NUMA information (kernel without CONFIG_NUMA?): placement effects cannot be judged.";
    return;
  }
  auto with_cpu = read_node_list(node_path("has_cpu"));
  auto with_mem = read_node_list(node_path("has_memory"));
  Finding& f = s.add("nodes", "NUMA nodes");
  f.value = json_ints(*online);
  f.source = node_path("online");
  f.text = fmt::format("{} ({})", online->size(), format_node_list(*online));
  f.remark = online->size() > 1
                 ? "Several nodes: remote memory access, NUMA balancing and page migration can slow a job."
                 : "One node: no remote-memory effects; page migrations come from compaction or pinning only.";
  for (int n : *online) {
    auto cpus = read_text_file(node_path("node" + std::to_string(n) + "/cpulist"));
    auto mem = node_mem_total(n);
    f.details.push_back(fmt::format("node {}: cpus {}, memory {}", n,
                                    cpus.ok() && !first_line(*cpus).empty() ? first_line(*cpus) : "none",
                                    mem ? doctor::format_bytes(*mem) : "unknown"));
  }
  if (!with_cpu.ok() || !with_mem.ok()) {
    s.add_unknown("memory_only_nodes", "memory-only nodes",
                  !with_cpu.ok() ? with_cpu.error().message : with_mem.error().message);
    return;
  }
  std::vector<int> memory_only;
  std::set_difference(with_mem->begin(), with_mem->end(), with_cpu->begin(), with_cpu->end(),
                      std::back_inserter(memory_only));
  Finding& m = s.add("memory_only_nodes", "memory-only nodes");
  m.value = json_ints(memory_only);
  m.source = node_path("has_memory minus has_cpu");
  m.text = memory_only.empty() ? "none" : format_node_list(memory_only);
  m.remark = memory_only.empty()
                 ? "No CPU-less memory nodes (no CXL-style slow tier)."
                 : "CPU-less memory (CXL or persistent memory tier): pages there are slower; demotions and "
                   "promotions show up in the migrate collector.";
}

void add_tiers(DoctorSection& s) {
  const std::string dir = "/sys/devices/virtual/memory_tiering";
  DIR* d = opendir(dir.c_str());
  if (!d) {
    s.add_unknown("memory_tiers", "memory tiers", dir + " is absent (kernel without memory tiering, < 6.1)");
    return;
  }
  std::vector<std::pair<int, std::string>> tiers;
  while (dirent* e = readdir(d)) {
    auto id = parse_number_between<int>(e->d_name, "memory_tier", "");
    if (!id) continue;
    auto nodes = read_text_file(dir + "/" + e->d_name + "/nodelist");
    tiers.emplace_back(*id, nodes.ok() ? first_line(*nodes) : "?");
  }
  closedir(d);
  std::sort(tiers.begin(), tiers.end());
  nlohmann::ordered_json v = nlohmann::ordered_json::array();
  std::string text;
  for (const auto& [id, nodes] : tiers) {
    auto parsed = parse_node_list(nodes);
    v.push_back({{"tier", id}, {"nodes", parsed.ok() ? json_ints(*parsed) : nlohmann::ordered_json(nodes)}});
    text += fmt::format("{}tier {}: nodes {}", text.empty() ? "" : "; ", id, nodes);
  }
  Finding& f = s.add("memory_tiers", "memory tiers");
  f.value = v;
  f.text = text.empty() ? "none" : text;
  f.source = dir;
  f.remark = tiers.size() > 1 ? "Several tiers: cold pages may be demoted to the slower tier and promoted back."
                              : "A single tier: no demotion/promotion between memory tiers.";
}

void add_balancing(DoctorSection& s) {
  const std::string path = "/proc/sys/kernel/numa_balancing";
  auto t = read_text_file(path);
  if (!t.ok()) {
    s.add_unknown("numa_balancing", "numa_balancing", t.error().message + " (kernel without CONFIG_NUMA_BALANCING?)");
    return;
  }
  auto parsed = parse_number_line<int>(*t);
  if (!parsed) {
    s.add_unknown("numa_balancing", "numa_balancing", fmt::format("{} holds '{}', not a number", path, first_line(*t)));
    return;
  }
  int v = *parsed;
  Finding& f = s.add("numa_balancing", "numa_balancing");
  f.value = v;
  f.source = path;
  // Bit 0: NUMA_BALANCING_NORMAL, bit 1: NUMA_BALANCING_MEMORY_TIERING (5.18+).
  const char* mode = v == 0   ? "disabled"
                     : v == 1 ? "normal"
                     : v == 2 ? "memory tiering"
                     : v == 3 ? "normal + memory tiering"
                              : "unrecognised";
  f.text = fmt::format("{} ({})", v, mode);
  f.remark = v == 0 ? "Off: the kernel will not move pages or tasks toward each other; no NUMA hinting faults."
                    : "On: hinting faults sample the job's memory and pages/tasks migrate between nodes; the "
                      "migrate collector shows what that costs.";
}

void add_thp_file(DoctorSection& s, const std::string& id, const std::string& label, const std::string& file,
                  const char* remark) {
  const std::string path = "/sys/kernel/mm/transparent_hugepage/" + file;
  auto t = read_text_file(path);
  if (!t.ok()) {
    s.add_unknown(id, label, t.error().message + " (kernel without CONFIG_TRANSPARENT_HUGEPAGE?)");
    return;
  }
  auto sel = parse_selected_choice(*t);
  if (!sel) {
    s.add_unknown(id, label, "no [selected] value in " + path);
    return;
  }
  Finding& f = s.add(id, label);
  f.value = *sel;
  f.source = path;
  f.details.push_back("choices: " + first_line(*t));
  f.remark = remark;
}

void add_mthp(DoctorSection& s) {
  const std::string dir = "/sys/kernel/mm/transparent_hugepage";
  DIR* d = opendir(dir.c_str());
  if (!d) return;  // reported by thp_enabled already
  std::vector<std::pair<int, std::string>> sizes;
  while (dirent* e = readdir(d)) {
    auto kb = parse_number_between<int>(e->d_name, "hugepages-", "kB");
    if (!kb) continue;
    // Some sizes exist only for shmem (no "enabled" file for anonymous memory).
    auto t = read_text_file(dir + "/" + e->d_name + "/enabled");
    if (!t.ok()) continue;
    auto sel = parse_selected_choice(*t);
    sizes.emplace_back(*kb, sel ? *sel : "unknown");
  }
  closedir(d);
  if (sizes.empty()) return;  // kernels before 6.8 have no per-size (mTHP) controls
  std::sort(sizes.begin(), sizes.end());
  nlohmann::ordered_json v = nlohmann::ordered_json::object();
  std::string on;
  for (const auto& [kb, mode] : sizes) {
    v[std::to_string(kb) + "kB"] = mode;
    if (mode != "never") on += fmt::format("{}{}kB={}", on.empty() ? "" : " ", kb, mode);
  }
  Finding& f = s.add("thp_sizes", "THP sizes");
  f.value = v;
  f.text = on.empty() ? "all sizes never" : on;
  f.source = dir + "/hugepages-*kB/enabled";
  f.remark = "Per-size (mTHP) settings; 'inherit' follows thp_enabled.";
}

}  // namespace

DoctorSection doctor_memory_section() {
  DoctorSection s{"memory", "Memory and NUMA", {}};
  add_nodes(s);
  add_tiers(s);
  add_balancing(s);
  add_thp_file(s, "thp_enabled", "THP enabled", "enabled",
               "always: large anonymous mappings (model weights, activations) get 2 MiB pages; madvise: only "
               "regions that ask for them; never: none. Huge pages cut TLB misses but migrate as a unit.");
  add_thp_file(s, "thp_defrag", "THP defrag", "defrag",
               "always/madvise(direct) stall the faulting thread to compact memory: page-fault latency spikes; "
               "defer hands compaction to kcompactd.");
  add_thp_file(s, "thp_shmem", "THP shmem", "shmem_enabled",
               "Huge pages for shared memory (tmpfs, /dev/shm used by dataloaders and NCCL).");
  add_mthp(s);
  return s;
}

}  // namespace aitrace
