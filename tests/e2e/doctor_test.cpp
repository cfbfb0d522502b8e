// `aitrace doctor` run as a real process; each claim is checked against an independent read of
// /sys, /proc or the kernel (a direct libbpf load, bpftool-free BTF lookups, zcat).
#include "aitrace/core/hooks.hpp"
#include "aitrace/doctor/sysinfo_parse.hpp"
#include "probe.skel.h"
#include "test_support.hpp"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace aitrace {
namespace {

using json = nlohmann::json;

// Doctor's JSON from one run, shared by the tests of this suite (it probes hooks: run it once).
const json& doctor_json_as_root() {
  static const json j = [] {
    auto r = test::run_command({test::aitrace_binary(), "doctor", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    return json::parse(r.out);
  }();
  return j;
}

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The bracketed word, read without doctor's parser.
std::string bracketed(const std::string& path) {
  std::string t = test::read_file(path);
  auto a = t.find('['), b = t.find(']');
  return a == std::string::npos || b == std::string::npos ? "" : t.substr(a + 1, b - a - 1);
}

std::vector<std::string> node_dirs() {
  std::vector<std::string> out;
  DIR* d = opendir("/sys/devices/system/node");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 4 && n.rfind("node", 0) == 0 && std::isdigit(static_cast<unsigned char>(n[4]))) out.push_back(n);
  }
  closedir(d);
  return out;
}

class DoctorRoot : public ::testing::Test {
 protected:
  void SetUp() override { AITRACE_REQUIRE_BPF_OR_SKIP(); }
  const json& j() { return doctor_json_as_root(); }
};

TEST_F(DoctorRoot, KernelReleaseAndBtfMatchTheSystem) {
  EXPECT_EQ(j()["schema"], "aitrace.doctor/1");
  utsname u{};
  ASSERT_EQ(uname(&u), 0);
  EXPECT_EQ(j()["kernel"]["release"]["value"], u.release);
  EXPECT_EQ(j()["kernel"]["machine"]["value"], u.machine);
  EXPECT_EQ(j()["kernel"]["btf"]["value"].get<bool>(), access("/sys/kernel/btf/vmlinux", F_OK) == 0);
}

TEST_F(DoctorRoot, TimerHzMatchesZcatOfTheKernelConfig) {
  // Doctor reads /proc/config.gz, else /boot/config-<release>; with neither it must say unknown.
  utsname u{};
  uname(&u);
  std::string boot = std::string("/boot/config-") + u.release;
  std::string cmd = exists("/proc/config.gz") ? "zcat /proc/config.gz" : exists(boot) ? "cat " + boot : "";
  if (cmd.empty()) {
    EXPECT_TRUE(j()["scheduler"]["timer_hz"]["value"].is_null());
    EXPECT_EQ(j()["scheduler"]["timer_hz"]["status"], "unknown");
    return;
  }
  auto r = test::run_command({"sh", "-c", cmd + " | sed -n 's/^CONFIG_HZ=//p'"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_FALSE(trimmed(r.out).empty());
  EXPECT_EQ(j()["scheduler"]["timer_hz"]["value"], std::stoi(r.out));
  EXPECT_EQ(j()["scheduler"]["timer_hz"]["source"], exists("/proc/config.gz") ? "/proc/config.gz" : boot);
}

TEST_F(DoctorRoot, CapabilitiesAreThoseOfTheCaller) {
  // Doctor runs as this process's child and inherits its effective set.
  std::string status = test::read_file("/proc/self/status");
  auto pos = status.find("CapEff:");
  ASSERT_NE(pos, std::string::npos);
  unsigned long long eff = std::stoull(status.substr(pos + 7), nullptr, 16);
  char hex[32];
  std::snprintf(hex, sizeof hex, "0x%016llx", eff);
  EXPECT_EQ(j()["privileges"]["capabilities"]["value"]["effective"], hex);
  EXPECT_EQ(j()["privileges"]["can_trace"]["value"], true);
}

TEST_F(DoctorRoot, HookProbesMatchWhatTheKernelDoes) {
  const json& h = j()["hooks"];
  // Floor kernels (5.12+ with BTF) accept all tracepoint flavours, uprobes and ring buffers.
  for (const char* k : {"tp_btf", "raw_tp", "tracepoint", "uprobe", "ringbuf"}) {
    EXPECT_EQ(h[k]["status"], "ok") << k << ": " << h[k].dump();
    EXPECT_EQ(h[k]["value"]["works"], true) << k;
  }
  EXPECT_EQ(h["uprobe"]["value"]["works"].get<bool>(), exists("/sys/bus/event_source/devices/uprobe"));

  // kprobes: the kernel has them iff the kprobe PMU / kprobe_events interface exists.
  bool kprobes = exists("/sys/bus/event_source/devices/kprobe") || exists("/sys/kernel/tracing/kprobe_events");
  EXPECT_EQ(h["kprobe"]["value"]["works"].get<bool>(), kprobes) << h["kprobe"].dump();
  if (!kprobes) {
    EXPECT_FALSE(h["kprobe"]["value"]["error"].get<std::string>().empty());
  }

  // fentry: load the same kind of program here, directly, and compare the outcome.
  probe_bpf* s = probe_bpf__open();
  ASSERT_NE(s, nullptr);
  bpf_program* p;
  bpf_object__for_each_program(p, s->obj) bpf_program__set_autoload(p, p == s->progs.probe_fentry);
  int err = probe_bpf__load(s);
  bool fentry_works = false;
  if (err == 0) {
    bpf_link* l = bpf_program__attach(s->progs.probe_fentry);
    fentry_works = l != nullptr;
    bpf_link__destroy(l);
  }
  probe_bpf__destroy(s);
  EXPECT_EQ(h["fentry"]["value"]["works"].get<bool>(), fentry_works) << h["fentry"].dump();
  if (err == -EPERM) {
    EXPECT_NE(h["fentry"]["value"]["error"].get<std::string>().find("EPERM"), std::string::npos) << h["fentry"].dump();
  }
}

TEST_F(DoctorRoot, TracepointPresenceMatchesTracefsAndBtf) {
  std::string tracefs = "/sys/kernel/tracing";
  if (!exists(tracefs + "/events")) AITRACE_REQUIRE_ENV_OR_SKIP("tracefs not mounted at " + tracefs);
  btf* b = btf__load_vmlinux_btf();
  ASSERT_TRUE(b && !libbpf_get_error(b));
  size_t checked = 0;
  const std::string events = tracefs + "/events/";
  for (const char* c : {"sched", "migrate", "dma", "offcpu"}) {
    const json& f = j()["tracepoints"][c];
    ASSERT_TRUE(f["value"].is_object()) << c;
    int present = 0;
    for (const auto& e : f["value"]["events"]) {
      std::string ev = e["event"];
      auto colon = ev.find(':');
      ASSERT_NE(colon, std::string::npos) << ev;
      std::string name = ev.substr(colon + 1), dir = ev;
      dir[colon] = '/';  // "sched:sched_switch" -> events/sched/sched_switch
      bool in_fs = exists(events + dir);
      bool in_btf = btf__find_by_name_kind(b, ("btf_trace_" + name).c_str(), BTF_KIND_TYPEDEF) > 0;
      EXPECT_EQ(e["in_tracefs"].get<bool>(), in_fs) << ev;
      EXPECT_EQ(e["in_btf"].get<bool>(), in_btf) << ev;
      EXPECT_EQ(e["present"].get<bool>(), in_fs || in_btf) << ev;
      if (e["listed"].get<bool>()) present += in_fs || in_btf;
      checked++;
    }
    EXPECT_EQ(f["value"]["present"], present) << c;
  }
  btf__free(b);
  EXPECT_GE(checked, 9u + 4u + 20u);
  // Every event directory of the dma categories is in the report (new kernels add events).
  std::set<std::string> reported;
  for (const auto& e : j()["tracepoints"]["dma"]["value"]["events"]) reported.insert(e["event"]);
  for (const char* cat : {"dma", "dma_fence", "iommu", "swiotlb"}) {
    DIR* d = opendir((tracefs + "/events/" + cat).c_str());
    if (!d) continue;
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == ".." || n == "enable" || n == "filter") continue;
      if (std::string(cat) == "iommu" && n != "map" && n != "unmap" && n != "io_page_fault") continue;
      EXPECT_TRUE(reported.count(std::string(cat) + ":" + n)) << cat << ":" << n;
    }
    closedir(d);
  }
}

TEST_F(DoctorRoot, SchedulerKindMatchesThisKernel) {
  utsname u{};
  ASSERT_EQ(uname(&u), 0);
  auto version = aitrace::parse_release_version(u.release);
  ASSERT_TRUE(version) << u.release;
  // Mainline replaced CFS's pick logic with EEVDF in 6.6.
  bool eevdf = version.value().at_least(6, 6);
  EXPECT_EQ(j()["scheduler"]["kind"]["value"], eevdf ? "EEVDF" : "CFS");
  EXPECT_EQ(j()["scheduler"]["sched_entity_fields"]["value"]["vlag"], eevdf);
  // Base slice: reported only when debugfs shows it, and then exactly. The mode bits do not say:
  // where debugfs is mounted under lockdown, the file is 0644 and reading it fails with EPERM.
  const std::string knob = test::read_file("/sys/kernel/debug/sched/base_slice_ns");
  if (!knob.empty()) {
    EXPECT_EQ(j()["scheduler"]["base_slice_ns"]["value"], std::stoll(knob));
  } else if (eevdf) {
    EXPECT_EQ(j()["scheduler"]["base_slice_ns"]["status"], "unknown");
    EXPECT_TRUE(j()["scheduler"]["base_slice_ns"]["value"].is_null());
  }
  // Doctor's own slice equals ours: both are plain tasks without a custom slice.
  std::string sched = test::read_file("/proc/self/sched");
  auto pos = sched.find("se.slice");
  if (eevdf && pos != std::string::npos) {
    auto colon = sched.find(':', pos);
    EXPECT_EQ(j()["scheduler"]["own_slice_ns"]["value"], std::stoll(sched.substr(colon + 1)));
  }
}

TEST_F(DoctorRoot, NumaThpAndBalancingMatchSysfs) {
  const json& m = j()["memory"];
  EXPECT_EQ(m["nodes"]["value"].size(), node_dirs().size());
  // Memory-only nodes: a node directory with memory but an empty cpulist.
  size_t memory_only = 0;
  for (const auto& n : node_dirs()) {
    std::string cpus = trimmed(test::read_file("/sys/devices/system/node/" + n + "/cpulist"));
    std::string meminfo = test::read_file("/sys/devices/system/node/" + n + "/meminfo");
    auto p = meminfo.find("MemTotal:");
    unsigned long long kb = p == std::string::npos ? 0 : std::stoull(meminfo.substr(p + 9));
    memory_only += cpus.empty() && kb > 0;
  }
  EXPECT_EQ(m["memory_only_nodes"]["value"].size(), memory_only);

  std::string bal = "/proc/sys/kernel/numa_balancing";
  if (exists(bal)) {
    EXPECT_EQ(m["numa_balancing"]["value"], std::stoi(test::read_file(bal)));
  }
  std::string thp = "/sys/kernel/mm/transparent_hugepage/";
  if (exists(thp + "enabled")) {
    EXPECT_EQ(m["thp_enabled"]["value"], bracketed(thp + "enabled"));
    EXPECT_EQ(m["thp_defrag"]["value"], bracketed(thp + "defrag"));
    EXPECT_EQ(m["thp_shmem"]["value"], bracketed(thp + "shmem_enabled"));
  }
}

TEST_F(DoctorRoot, DmaPathsMatchSysfsAndCmdline) {
  const json& d = j()["dma"];
  size_t units = 0;
  if (DIR* dir = opendir("/sys/class/iommu")) {
    while (dirent* e = readdir(dir)) units += e->d_name[0] != '.';
    closedir(dir);
    EXPECT_EQ(d["iommu"]["value"]["units"].size(), units);
    EXPECT_EQ(d["iommu"]["value"]["present"].get<bool>(), units > 0);
  }
  std::string cmdline = test::read_file("/proc/cmdline");
  cmdline = cmdline.substr(0, cmdline.find(" -- "));
  if (cmdline.find("swiotlb=noforce") != std::string::npos) {
    EXPECT_EQ(d["swiotlb_forced"]["value"], false);
  } else if (cmdline.find("swiotlb=force") != std::string::npos) {
    EXPECT_EQ(d["swiotlb_forced"]["value"], true);
  } else {
    EXPECT_EQ(d["swiotlb_forced"]["status"], "unknown");
  }
  if (access("/sys/kernel/debug/swiotlb/io_tlb_nslabs", R_OK) != 0) {
    EXPECT_EQ(d["swiotlb_pool"]["status"], "unknown");
  }
}

TEST_F(DoctorRoot, CgroupLayoutAndLsmsMatchTheSystem) {
  std::ifstream mi("/proc/self/mountinfo");
  std::string line;
  size_t v1 = 0, v2 = 0;
  while (std::getline(mi, line)) {
    v1 += line.find(" - cgroup ") != std::string::npos;
    v2 += line.find(" - cgroup2 ") != std::string::npos;
  }
  const json& c = j()["isolation"]["cgroup_layout"]["value"];
  EXPECT_EQ(c["v1"].size(), v1);
  EXPECT_EQ(c["v2_mounts"].size(), v2);
  EXPECT_EQ(c["mode"], v1 && v2 ? "hybrid" : v2 ? "unified" : v1 ? "legacy" : "none");

  const json& lsm = j()["isolation"]["lsm"];
  if (access("/sys/kernel/security/lsm", R_OK) == 0) {
    std::string want = trimmed(test::read_file("/sys/kernel/security/lsm"));
    std::string got;
    for (const auto& l : lsm["value"]) got += (got.empty() ? "" : ",") + l.get<std::string>();
    EXPECT_EQ(got, want);
  } else if (lsm["status"] != "unknown") {
    // Without securityfs the list comes from lsm_list_modules(2); "capability" is always active.
    EXPECT_EQ(lsm["source"], "lsm_list_modules(2)");
    bool has_capability = false;
    for (const auto& l : lsm["value"]) has_capability |= l == "capability";
    EXPECT_TRUE(has_capability) << lsm.dump();
  }
}

TEST_F(DoctorRoot, TextReportAndOutputFile) {
  auto r = test::run_command({test::aitrace_binary(), "doctor"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* title : {"Kernel", "Privileges", "BPF hook types", "Tracepoints per collector", "Scheduler",
                            "Memory and NUMA", "DMA paths", "Security modules and cgroups"})
    EXPECT_NE(r.out.find(std::string("\n") + title), std::string::npos) << title;
  utsname u{};
  uname(&u);
  EXPECT_NE(r.out.find(u.release), std::string::npos);

  std::string path = ::testing::TempDir() + "aitrace_doctor_" + std::to_string(getpid()) + ".json";
  unlink(path.c_str());
  auto w = test::run_command({test::aitrace_binary(), "doctor", "--json", "-o", path});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  EXPECT_EQ(w.out, "");
  json file = json::parse(test::read_file(path));
  EXPECT_EQ(file["schema"], "aitrace.doctor/1");
  EXPECT_EQ(file["kernel"]["release"]["value"], u.release);
  unlink(path.c_str());

  auto bad = test::run_command({test::aitrace_binary(), "doctor", "-o", "/nonexistent-dir/doctor.json"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err, "aitrace: cannot write /nonexistent-dir/doctor.json: No such file or directory\n");
  EXPECT_EQ(bad.out, "");
}

// Runs argv as nobody (uid/gid 65534, no groups, so no capabilities); needs root to switch.
test::CommandResult run_as_nobody(std::vector<std::string> argv) {
  std::vector<std::string> full = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"};
  full.insert(full.end(), argv.begin(), argv.end());
  return test::run_command(full);
}

// The build tree may sit under a 0700 home directory: nobody runs a copy in a world-readable
// temporary directory instead.
struct RemoveDirAtExit {
  std::string dir;
  ~RemoveDirAtExit() {
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

const std::string& nobody_aitrace() {
  static RemoveDirAtExit cleanup;
  static const std::string path = [] {
    std::string dir = (std::filesystem::temp_directory_path() / "aitrace-nobody-XXXXXX").string();
    if (!mkdtemp(dir.data())) return test::aitrace_binary();
    cleanup.dir = dir;
    chmod(dir.c_str(), 0755);
    std::string copy = dir + "/aitrace";
    std::error_code ec;
    std::filesystem::copy_file(test::aitrace_binary(), copy, ec);
    chmod(copy.c_str(), 0755);
    return ec ? test::aitrace_binary() : copy;
  }();
  return path;
}

std::string nobody_unusable_reason() {
  if (geteuid() != 0) return "needs root to switch to nobody with setpriv";
  auto probe = run_as_nobody({"test", "-x", nobody_aitrace()});
  if (probe.exit_code == 127) return "setpriv not installed";
  if (probe.exit_code != 0) return "the aitrace binary is not executable by nobody: " + nobody_aitrace();
  return {};
}

TEST(DoctorUnprivileged, ReportsMissingCapabilitiesInsteadOfFailing) {
  std::string why = nobody_unusable_reason();
  if (!why.empty()) AITRACE_REQUIRE_ENV_OR_SKIP(why);
  auto r = run_as_nobody({nobody_aitrace(), "doctor", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["privileges"]["can_trace"]["value"], false);
  EXPECT_EQ(j["privileges"]["capabilities"]["value"]["effective"], "0x0000000000000000");
  EXPECT_NE(
      j["privileges"]["can_trace"]["remark"].get<std::string>().find("needs CAP_BPF and CAP_PERFMON (have neither)"),
      std::string::npos);
  for (const char* k : {"tp_btf", "raw_tp", "tracepoint", "fentry", "kprobe", "uprobe", "ringbuf"}) {
    EXPECT_EQ(j["hooks"][k]["status"], "unknown") << k;
    EXPECT_EQ(j["hooks"][k]["unknown"], "not probed: needs CAP_BPF+CAP_PERFMON") << k;
    EXPECT_TRUE(j["hooks"][k]["value"].is_null()) << k;
  }
  // Everything that needs no privilege is still reported.
  utsname u{};
  uname(&u);
  EXPECT_EQ(j["kernel"]["release"]["value"], u.release);
  if (exists("/sys/kernel/btf/vmlinux")) {
    EXPECT_EQ(j["tracepoints"]["sched"]["status"], "ok");  // from BTF even where tracefs is private
  }
  auto text = run_as_nobody({nobody_aitrace(), "doctor"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("unknown: not probed: needs CAP_BPF+CAP_PERFMON"), std::string::npos) << text.out;
}

// The privilege check every tracing command runs first (prepare_tracing): as nobody it must stop
// before loading anything, with exit code 4 (privilege) and one line naming what is missing.
class UnprivilegedTracing : public ::testing::TestWithParam<const char*> {};

TEST_P(UnprivilegedTracing, ExitsFourNamingTheMissingCapabilities) {
  std::string why = nobody_unusable_reason();
  if (!why.empty()) AITRACE_REQUIRE_ENV_OR_SKIP(why);
  auto r = run_as_nobody({nobody_aitrace(), GetParam(), "-d", "1"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_EQ(r.err, "aitrace: needs CAP_BPF and CAP_PERFMON (have neither); run as root or grant them\n");
  EXPECT_EQ(r.out, "");
}

INSTANTIATE_TEST_SUITE_P(Commands, UnprivilegedTracing, ::testing::Values("sched", "migrate", "dma", "offcpu"));

}  // namespace
}  // namespace aitrace
