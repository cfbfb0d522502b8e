// DMA paths: IOMMU presence and default domain type, swiotlb bounce buffering.
#include "aitrace/doctor/doctor.hpp"
#include "doctor_internal.hpp"

#include "aitrace/core/parse_number.hpp"

#include <dirent.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace aitrace {
namespace {

std::vector<std::string> list_dir(const std::string& dir, bool* ok) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  *ok = d != nullptr;
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") out.emplace_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

void add_iommu(DoctorSection& s) {
  bool ok = false;
  auto units = list_dir("/sys/class/iommu", &ok);
  Finding& f = s.add("iommu", "IOMMU");
  f.source = "/sys/class/iommu";
  if (!ok) {
    f.status = FindingStatus::unknown;
    f.unknown = "/sys/class/iommu is absent (kernel without IOMMU support)";
    f.value = nullptr;
  } else {
    nlohmann::ordered_json v = nlohmann::ordered_json::array();
    for (const auto& u : units) v.push_back(u);
    f.value = {{"present", !units.empty()}, {"units", v}};
    std::string names;
    for (const auto& u : units) names += (names.empty() ? "" : " ") + u;
    f.text = units.empty() ? "none" : fmt::format("{} unit{}: {}", units.size(), units.size() == 1 ? "" : "s", names);
    f.remark = units.empty() ? "No IOMMU: devices DMA to physical addresses; iommu:map/unmap never fire."
                             : "Device DMA is translated; iommu:map/unmap fire per mapping in translated domains.";
  }

  const std::string groups_dir = "/sys/kernel/iommu_groups";
  auto groups = list_dir(groups_dir, &ok);
  std::map<std::string, int> types;
  for (const auto& g : groups) {
    auto t = read_text_file(fmt::format("{}/{}/type", groups_dir, g));
    types[t.ok() ? first_line(*t) : "unreadable"]++;
  }
  if (!ok) {
    s.add_unknown("iommu_default_domain", "default domain", groups_dir + " is absent");
  } else {
    Finding& d = s.add("iommu_default_domain", "default domain");
    nlohmann::ordered_json counts = nlohmann::ordered_json::object();
    std::string text;
    for (const auto& [type, n] : types) {
      counts[type] = n;
      text += fmt::format("{}{} x{}", text.empty() ? "" : ", ", type, n);
    }
    std::string main_type = types.empty() ? "none" : types.size() == 1 ? types.begin()->first : "mixed";
    d.value = {{"type", main_type}, {"groups", groups.size()}, {"group_types", counts}};
    d.text =
        groups.empty() ? "none (no IOMMU groups)" : fmt::format("{} ({} groups: {})", main_type, groups.size(), text);
    d.source = groups_dir + "/*/type";
    d.remark = groups.empty() ? "No IOMMU groups: no translated DMA domains."
                              : "DMA/DMA-FQ: translated (FQ batches IOTLB flushes, cheaper unmap); identity: "
                                "passthrough, no translation cost and no iommu map events.";
  }

  std::vector<std::string> opts;
  for (const char* key : {"iommu", "intel_iommu", "amd_iommu", "iommu.passthrough", "iommu.strict"})
    if (auto v = doctor::cmdline_option(key)) opts.push_back(std::string(key) + (v->empty() ? "" : "=" + *v));
  if (doctor::kernel_cmdline()) {
    Finding& c = s.add("iommu_cmdline", "IOMMU cmdline");
    nlohmann::ordered_json v = nlohmann::ordered_json::array();
    std::string text;
    for (const auto& o : opts) {
      v.push_back(o);
      text += (text.empty() ? "" : " ") + o;
    }
    c.value = v;
    c.text = text.empty() ? "none (kernel defaults)" : text;
    c.source = "/proc/cmdline";
    c.remark = "iommu=pt / iommu.passthrough=1 give identity domains; iommu.strict=1 flushes on every unmap.";
  }
}

void add_swiotlb(DoctorSection& s) {
  auto opt = doctor::cmdline_option("swiotlb");
  Finding* f = nullptr;
  if (!doctor::kernel_cmdline()) {
    f = &s.add_unknown("swiotlb_forced", "swiotlb forced", "/proc/cmdline unreadable");
  } else if (opt && opt->find("noforce") != std::string::npos) {
    f = &s.add("swiotlb_forced", "swiotlb forced");
    f->value = false;
    f->text = "no (swiotlb=" + *opt + ": bounce buffering disabled)";
    f->remark = "swiotlb=noforce turns bounce buffering off: no swiotlb_bounced events.";
  } else if (opt && opt->find("force") != std::string::npos) {
    f = &s.add("swiotlb_forced", "swiotlb forced");
    f->value = true;
    f->text = "yes (swiotlb=" + *opt + ")";
    f->status = FindingStatus::warn;
    f->remark =
        "Every streaming DMA is copied through bounce buffers: extra memcpy per transfer; "
        "swiotlb:swiotlb_bounced fires for each.";
  } else {
    f = &s.add_unknown("swiotlb_forced", "swiotlb forced",
                       "not set on the kernel command line; the kernel may still force it (SEV/TDX guests)");
    f->remark = "Devices that cannot reach all memory still bounce; swiotlb:swiotlb_bounced counts it.";
  }
  f->source = "/proc/cmdline";

  const std::string dir = "/sys/kernel/debug/swiotlb";
  auto nslabs = read_text_file(dir + "/io_tlb_nslabs");
  if (!nslabs.ok()) {
    s.add_unknown(
        "swiotlb_pool", "swiotlb pool",
        doctor::unreadable_reason(dir + "/io_tlb_nslabs", "debugfs", "/sys/kernel/debug", nslabs.error().message));
    return;
  }
  auto n = parse_number_line<uint64_t>(*nslabs);
  if (!n) {
    s.add_unknown("swiotlb_pool", "swiotlb pool",
                  fmt::format("{}/io_tlb_nslabs holds '{}', not a number", dir, first_line(*nslabs)));
    return;
  }
  auto used_text = read_text_file(dir + "/io_tlb_used");
  std::optional<uint64_t> used;
  if (used_text.ok()) used = parse_number_line<uint64_t>(*used_text);
  Finding& p = s.add("swiotlb_pool", "swiotlb pool");
  // A slab is IO_TLB_SIZE = 2 KiB.
  p.value = {{"slabs", *n}, {"used", used ? nlohmann::ordered_json(*used) : nlohmann::ordered_json()}};
  p.text = fmt::format("{} slabs ({}), {} in use", *n, doctor::format_bytes(*n * 2048),
                       used ? std::to_string(*used) : "unknown");
  p.source = dir;
  p.remark = "Bounce-buffer pool; a full pool makes DMA mappings fail.";
}

}  // namespace

DoctorSection doctor_devices_section() {
  DoctorSection s{"dma", "DMA paths", {}};
  add_iommu(s);
  add_swiotlb(s);
  return s;
}

}  // namespace aitrace
