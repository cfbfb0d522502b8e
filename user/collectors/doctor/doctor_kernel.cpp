// Kernel identity, BTF, kernel config, and the privileges this process has.
#include "aitrace/doctor/doctor.hpp"
#include "aitrace/core/hooks.hpp"
#include "doctor_internal.hpp"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <cstdio>

namespace aitrace {
namespace {

void add_release(DoctorSection& s) {
  utsname u{};
  if (uname(&u) != 0) {
    s.add_unknown("release", "release", "uname() failed");
    return;
  }
  Finding& f = s.add("release", "release");
  f.value = u.release;
  f.text = fmt::format("{} ({})", u.release, u.machine);
  f.source = "uname";
  auto version = parse_release_version(u.release);
  if (!version) {
    f.status = FindingStatus::warn;
    f.remark = "Cannot tell the version from the release string; aitrace needs Linux 5.12+ with BTF.";
  } else if (version->at_least(5, 12)) {
    f.status = FindingStatus::ok;
    f.remark = "At or above aitrace's floor (Linux 5.12 with BTF).";
  } else {
    f.status = FindingStatus::problem;
    f.remark = "Below aitrace's floor (Linux 5.12: BPF atomic fetch-and-add and compare-and-exchange arrived there).";
  }
  Finding& m = s.add("machine", "machine");
  m.value = u.machine;
  m.source = "uname";
  m.remark = "BPF programs are CO-RE; vmlinux.h is committed for x86 (vmlinux/).";
  Finding& b = s.add("build", "build");
  b.value = u.version;
  b.source = "uname";
}

void add_btf(DoctorSection& s) {
  struct stat st {};
  bool present = stat("/sys/kernel/btf/vmlinux", &st) == 0;
  Finding& f = s.add("btf", "BTF");
  f.value = present;
  f.source = "/sys/kernel/btf/vmlinux";
  if (!present) {
    f.text = "absent";
    f.status = FindingStatus::problem;
    f.remark =
        "No kernel BTF: CO-RE programs cannot be relocated and aitrace cannot run "
        "(needs CONFIG_DEBUG_INFO_BTF=y).";
    return;
  }
  size_t modules = 0;
  if (DIR* d = opendir("/sys/kernel/btf")) {
    while (dirent* e = readdir(d)) {
      std::string_view n = e->d_name;
      modules += n != "." && n != ".." && n != "vmlinux";
    }
    closedir(d);
  }
  bool parsed = vmlinux_btf() != nullptr;
  f.text = fmt::format("present ({}, {} module BTF{}){}", doctor::format_bytes(static_cast<uint64_t>(st.st_size)),
                       modules, modules == 1 ? "" : "s", parsed ? "" : " but libbpf cannot parse it");
  f.status = parsed ? FindingStatus::ok : FindingStatus::problem;
  f.remark = parsed ? "CO-RE relocations work; tp_btf hooks and EEVDF field checks can use the kernel's types."
                    : "libbpf could not load the kernel BTF; CO-RE programs will fail to load.";
}

void add_config(DoctorSection& s) {
  const auto& cfg = doctor::kernel_config();
  if (cfg.text.empty()) {
    s.add_unknown("config", "kernel config", cfg.unknown).remark =
        "Timer HZ and build options stay unknown; nothing else depends on the config.";
    s.add_unknown("kprobes", "CONFIG_KPROBES", "kernel config unreadable");
    return;
  }
  Finding& f = s.add("config", "kernel config");
  f.value = cfg.source;
  f.source = cfg.source;
  f.status = FindingStatus::ok;
  f.remark = "Build options below come from here.";
  auto kp = kernel_config_value(cfg.text, "CONFIG_KPROBES");
  Finding& k = s.add("kprobes", "CONFIG_KPROBES");
  k.source = cfg.source;
  k.value = kp ? *kp : "n";
  k.text = kp && *kp == "y" ? "y" : "not set";
  k.remark = kp && *kp == "y" ? "kprobes are built in (no aitrace collector uses them; doctor probes them for you)."
                              : "No kprobes in this kernel: kprobe programs cannot attach; aitrace never needs them.";
}

std::optional<long> read_long(const std::string& path, std::string* err) {
  auto t = read_text_file(path);
  if (!t.ok()) {
    *err = t.error().message;
    return std::nullopt;
  }
  try {
    return std::stol(*t);
  } catch (...) {
    *err = "malformed " + path;
    return std::nullopt;
  }
}

}  // namespace

DoctorSection doctor_kernel_section() {
  DoctorSection s{"kernel", "Kernel", {}};
  add_release(s);
  add_btf(s);
  add_config(s);
  return s;
}

DoctorSection doctor_privilege_section(const Result<Capabilities>& caps) {
  DoctorSection s{"privileges", "Privileges", {}};
  if (!caps.ok()) {
    s.add_unknown("capabilities", "capabilities", caps.error().message).remark =
        "Cannot tell whether tracing commands may load BPF programs.";
  } else {
    Finding& f = s.add("capabilities", "capabilities");
    f.source = "/proc/self/status CapEff";
    f.value = {{"effective", fmt::format("0x{:016x}", caps->effective)},
               {"cap_bpf", caps->has(kCapBpf)},
               {"cap_perfmon", caps->has(kCapPerfmon)},
               {"cap_sys_admin", caps->has(kCapSysAdmin)}};
    f.text = capability_names(caps.value());
    Status st = check_tracing_capabilities(caps.value());
    f.status = st.ok() ? FindingStatus::ok : FindingStatus::warn;
    Finding& t = s.add("can_trace", "can trace");
    t.value = st.ok();
    t.source = "/proc/self/status CapEff";
    if (st.ok()) {
      t.status = FindingStatus::ok;
      t.text = "yes";
      t.remark = caps->has(kCapBpf) && caps->has(kCapPerfmon)
                     ? "CAP_BPF + CAP_PERFMON: every collector may load and attach."
                     : "CAP_SYS_ADMIN stands in for CAP_BPF + CAP_PERFMON (as root).";
    } else {
      t.status = FindingStatus::warn;
      t.text = "no";
      t.remark = st.error().message + " (tracing commands exit 4; doctor reports the rest).";
    }
  }
  std::string err;
  if (auto v = read_long("/proc/sys/kernel/unprivileged_bpf_disabled", &err)) {
    Finding& u = s.add("unprivileged_bpf_disabled", "unprivileged BPF");
    u.value = *v;
    u.source = "/proc/sys/kernel/unprivileged_bpf_disabled";
    u.text = *v == 0 ? "0 (allowed)" : *v == 1 ? "1 (disabled until reboot)" : fmt::format("{} (disabled)", *v);
    u.remark = "Only socket filters ever work unprivileged; tracing needs CAP_BPF + CAP_PERFMON either way.";
  } else {
    s.add_unknown("unprivileged_bpf_disabled", "unprivileged BPF", err);
  }
  if (auto v = read_long("/proc/sys/kernel/perf_event_paranoid", &err)) {
    Finding& p = s.add("perf_event_paranoid", "perf_event_paranoid");
    p.value = *v;
    p.source = "/proc/sys/kernel/perf_event_paranoid";
    p.remark = "Classic tracepoint and uprobe attachment go through perf events; CAP_PERFMON overrides this.";
  } else {
    s.add_unknown("perf_event_paranoid", "perf_event_paranoid", err);
  }
  return s;
}

}  // namespace aitrace
