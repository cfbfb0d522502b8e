// Which BPF hook types really load and attach here, and which tracepoints each collector finds.
#include "aitrace/doctor/doctor.hpp"
#include "aitrace/core/hooks.hpp"
#include "aitrace/core/tracepoint_catalog.hpp"
#include "doctor_internal.hpp"

#include <fmt/format.h>
#include <unistd.h>

namespace aitrace {
namespace {

struct HookInfo {
  HookKind kind;
  bool needed;  // a collector depends on it (tracepoint flavours: at least one of them)
  const char* works;
  const char* fails;
};

const HookInfo kHooks[] = {
    {HookKind::tp_btf, true, "Typed tracepoint arguments from BTF, lowest overhead: aitrace's first choice.",
     "Collectors fall back to raw_tp."},
    {HookKind::raw_tp, true, "Raw tracepoint arguments: the fallback when tp_btf is refused.",
     "Collectors fall back to classic tracepoints."},
    {HookKind::tracepoint, true, "Classic perf tracepoints (need tracefs): the last fallback.",
     "No classic tracepoints; tp_btf/raw_tp still serve if they work."},
    {HookKind::fentry, false, "BPF trampolines work (no aitrace collector uses fentry/fexit).",
     "No BPF trampolines here; aitrace never depends on fentry/fexit."},
    {HookKind::kprobe, false, "kprobes work (no aitrace collector uses them).",
     "No kprobes here; aitrace never depends on them."},
    {HookKind::uprobe, false, "User-space probes work: CUDA/NCCL library functions could be probed.",
     "No uprobes: user-space library probing is unavailable."},
    {HookKind::ringbuf, true, "BPF ring buffers work: trace mode streams per-event records.",
     "No ring buffers: trace mode (Perfetto) cannot run; histograms still can."},
};

}  // namespace

DoctorSection doctor_hooks_section(bool probe, const std::string& not_probed_reason) {
  DoctorSection s{"hooks", "BPF hook types (loaded and attached for real)", {}};
  bool any_tracepoint = false;
  for (const HookInfo& h : kHooks) {
    const char* name = hook_kind_name(h.kind);
    if (!probe) {
      Finding& f = s.add_unknown(name, name, not_probed_reason);
      if (s.findings.size() == 1) f.remark = "Run doctor with CAP_BPF + CAP_PERFMON (or as root) to test hook types.";
      continue;
    }
    const ProbeOutcome p = run_hook_probe(h.kind);
    Finding& f = s.add(name, name);
    f.value = {{"works", p.works}, {"error", p.works ? nlohmann::ordered_json() : nlohmann::ordered_json(p.error)}};
    f.text = p.works ? "works" : "fails: " + p.error;
    f.source = "bpf/probe.bpf.c";
    f.remark = p.works ? h.works : h.fails;
    f.status = p.works ? FindingStatus::ok : h.needed ? FindingStatus::warn : FindingStatus::info;
    if (h.kind == HookKind::tp_btf || h.kind == HookKind::raw_tp || h.kind == HookKind::tracepoint)
      any_tracepoint |= p.works;
  }
  if (probe && !any_tracepoint) {
    for (auto& f : s.findings)
      if (f.id == "tp_btf" || f.id == "raw_tp" || f.id == "tracepoint") f.status = FindingStatus::problem;
  }
  return s;
}

DoctorSection doctor_tracepoints_section(const std::vector<CollectorTracepoints>& catalog) {
  DoctorSection s{"tracepoints", "Tracepoints per collector", {}};
  std::string root = tracefs_root();
  std::string mounted = doctor::mount_point_of("tracefs");
  if (!root.empty()) {
    Finding& t = s.add("tracefs", "tracefs");
    t.value = root;
    t.status = FindingStatus::ok;
    t.remark = "Classic tracepoints can attach; event formats are readable.";
  } else {
    std::string why = mounted.empty() ? "tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)"
                                      : fmt::format("tracefs is mounted at {} but not readable by this user", mounted);
    s.add_unknown("tracefs", "tracefs", why).remark =
        "Presence below comes from BTF only; classic tracepoints cannot attach without tracefs.";
  }
  bool have_btf = vmlinux_btf() != nullptr;
  for (const auto& c : catalog) {
    auto events = collector_tracepoint_presence(c);
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    size_t listed = 0, present = 0, covered = 0;
    std::string present_names, absent_names, covered_names, extra_names;
    for (const auto& e : events) {
      nlohmann::ordered_json alts = nlohmann::ordered_json::array();
      for (const auto& a : e.alternatives) alts.push_back(a);
      list.push_back(
          {{"event", e.event()},
           {"present", e.present()},
           {"in_btf", e.in_btf},
           {"in_tracefs", e.in_tracefs},
           {"listed", e.listed},
           {"alternatives", alts},
           {"covered_by", e.covered_by.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(e.covered_by)}});
      if (!e.present() && !e.covered_by.empty()) {
        covered_names += (covered_names.empty() ? "" : " ") + e.event() + " (by " + e.covered_by + ")";
      } else {
        std::string& dst = !e.present() ? absent_names : e.listed ? present_names : extra_names;
        dst += (dst.empty() ? "" : " ") + e.event();
      }
      if (e.listed) {
        listed++;
        present += e.present();
        covered += !e.present() && !e.covered_by.empty();
      }
    }
    Finding& f = s.add(std::string(c.collector), std::string(c.collector));
    f.value = {{"present", present}, {"covered", covered}, {"listed", listed}, {"events", list}};
    f.text = covered ? fmt::format("{} of {} present, {} covered by newer events", present, listed, covered)
                     : fmt::format("{} of {} present", present, listed);
    f.source = root.empty() ? "BTF btf_trace_*" : "BTF btf_trace_* and " + root + "/events";
    if (!present_names.empty()) f.details.push_back("present: " + present_names);
    if (!covered_names.empty()) f.details.push_back("replaced here: " + covered_names);
    if (!absent_names.empty()) f.details.push_back("absent: " + absent_names);
    if (!extra_names.empty()) f.details.push_back("also here: " + extra_names);
    if (!have_btf && root.empty()) {
      f.status = FindingStatus::unknown;
      f.unknown = "neither kernel BTF nor tracefs is readable";
      f.value = nullptr;
      continue;
    }
    f.status = present + covered == listed ? FindingStatus::ok
               : present == 0              ? FindingStatus::problem
                                           : FindingStatus::warn;
    std::string remark = present + covered == listed ? "Every event the collector uses exists (or its replacement)."
                         : present == 0              ? "None of the collector's events exist; it cannot run here."
                                                     : "A missing event disables only its own metric.";
    if (c.collector == "dma")
      remark +=
          " DMA events fire only when a driver maps memory through the DMA API (GPU, NIC, NVMe); "
          "iommu events need an IOMMU, swiotlb_bounced needs bounce buffering.";
    f.remark = remark;
  }
  return s;
}

}  // namespace aitrace
