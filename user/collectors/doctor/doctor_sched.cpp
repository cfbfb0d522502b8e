// Scheduler: EEVDF or CFS (from the kernel's own types), slices, and the timer tick.
#include "aitrace/doctor/doctor.hpp"
#include "aitrace/core/hooks.hpp"
#include "aitrace/core/parse_number.hpp"
#include "doctor_internal.hpp"

#include <bpf/btf.h>
#include <fmt/format.h>

#include <map>

namespace aitrace {
namespace {

// Marks the members of a struct found in `out`, looking into anonymous unions/structs (6.18 put
// vlag in a union with vprot).
void mark_members(const btf* b, const btf_type* t, std::map<std::string, bool>& out, int depth) {
  if (!t || !btf_is_composite(t) || depth > 4) return;
  const btf_member* m = btf_members(t);
  for (unsigned short i = 0; i < btf_vlen(t); i++, m++) {
    const char* name = btf__name_by_offset(b, m->name_off);
    if (name && *name) {
      if (out.count(name)) out[name] = true;
    } else {
      mark_members(b, btf__type_by_id(b, m->type), out, depth + 1);
    }
  }
}

// Members of struct sched_entity; nullopt without BTF.
std::optional<std::map<std::string, bool>> sched_entity_fields(const std::vector<std::string>& wanted) {
  const btf* b = vmlinux_btf();
  if (!b) return std::nullopt;
  int id = btf__find_by_name_kind(b, "sched_entity", BTF_KIND_STRUCT);
  if (id <= 0) return std::nullopt;
  std::map<std::string, bool> out;
  for (const auto& w : wanted) out[w] = false;
  mark_members(b, btf__type_by_id(b, static_cast<__u32>(id)), out, 0);
  return out;
}

std::string format_ns(int64_t ns) { return fmt::format("{} ns ({:.3f} ms)", ns, static_cast<double>(ns) / 1e6); }

void add_kind(DoctorSection& s, bool* eevdf) {
  auto fields = sched_entity_fields({"deadline", "vlag", "slice", "custom_slice", "vruntime", "min_vruntime"});
  if (!fields) {
    s.add_unknown("kind", "scheduler", vmlinux_btf() ? "struct sched_entity not in kernel BTF" : "no kernel BTF")
        .remark = "EEVDF fields (lag, deadline) cannot be located without BTF.";
    return;
  }
  *eevdf = (*fields)["deadline"] && (*fields)["vlag"];
  Finding& f = s.add("kind", "scheduler");
  f.value = *eevdf ? "EEVDF" : "CFS";
  f.source = "BTF struct sched_entity";
  f.status = FindingStatus::ok;
  f.remark = *eevdf ? "EEVDF (6.6+): the sched collector can report lag, deadlines and slices per task."
                    : "CFS: no lag/deadline fields; the sched collector reports vruntime and run-queue waits only.";
  Finding& m = s.add("sched_entity_fields", "sched_entity");
  nlohmann::ordered_json v = nlohmann::ordered_json::object();
  std::string have;
  for (const auto& [name, present] : *fields) {
    v[name] = present;
    if (present) have += (have.empty() ? "" : " ") + name;
  }
  m.value = v;
  m.text = "has " + (have.empty() ? std::string("none of the checked fields") : have);
  m.source = "BTF struct sched_entity";
  m.remark = (*fields)["custom_slice"]
                 ? "custom_slice: tasks can ask for their own slice with sched_setattr(sched_runtime) (6.12+)."
                 : "No custom_slice: every task gets the base slice.";
}

void add_base_slice(DoctorSection& s, bool eevdf) {
  // EEVDF names its knob base_slice_ns; CFS had min_granularity_ns, which is not a slice.
  const std::string path =
      eevdf ? "/sys/kernel/debug/sched/base_slice_ns" : "/sys/kernel/debug/sched/min_granularity_ns";
  const char* id = eevdf ? "base_slice_ns" : "min_granularity_ns";
  auto t = read_text_file(path);
  std::optional<int64_t> ns = t.ok() ? parse_number_line<int64_t>(*t) : std::nullopt;
  if (!ns) {
    std::string why = t.ok() ? "malformed " + path
                             : doctor::unreadable_reason(path, "debugfs", "/sys/kernel/debug", t.error().message);
    s.add_unknown(id, eevdf ? "base slice" : "min granularity", why).remark =
        "Not guessed: the default scales with the CPU count and may be tuned at run time.";
    return;
  }
  Finding& f = s.add(id, eevdf ? "base slice" : "min granularity");
  f.value = *ns;
  f.text = format_ns(*ns);
  f.source = path;
  f.remark = eevdf ? "A task runs at most this long before a waiting task with an earlier deadline may take the CPU."
                   : "CFS minimum run time before preemption.";
}

void add_own_slice(DoctorSection& s) {
  auto t = read_text_file("/proc/self/sched");
  std::optional<int64_t> ns;
  if (t.ok()) ns = parse_proc_sched_ns(*t, "se.slice");
  if (!ns) {
    s.add_unknown("own_slice_ns", "own slice",
                  t.ok() ? "no se.slice in /proc/self/sched (CFS kernels have none)" : t.error().message);
    return;
  }
  Finding& f = s.add("own_slice_ns", "own slice");
  f.value = *ns;
  f.text = format_ns(*ns);
  f.source = "/proc/self/sched se.slice";
  f.remark = "The slice doctor itself runs with; a task without a custom slice (sched_setattr) gets the base slice.";
}

void add_hz(DoctorSection& s) {
  const auto& cfg = doctor::kernel_config();
  std::optional<std::string> hz;
  if (!cfg.text.empty()) hz = kernel_config_value(cfg.text, "CONFIG_HZ");
  int value = hz ? parse_number<int>(*hz).value_or(0) : 0;
  if (value <= 0) {
    s.add_unknown("timer_hz", "timer HZ", cfg.text.empty() ? cfg.unknown : "no CONFIG_HZ in " + cfg.source);
    return;
  }
  Finding& f = s.add("timer_hz", "timer HZ");
  f.value = value;
  f.text = fmt::format("{} (tick every {:.1f} ms)", value, 1000.0 / value);
  f.source = cfg.source;
  f.remark = fmt::format(
      "A CPU hog's expired slice is noticed at the next tick, so run-queue waits behind it come in ~{:.0f} ms steps "
      "(unless HRTICK is on).",
      1000.0 / value);
}

void add_cpus(DoctorSection& s) {
  auto t = read_text_file("/sys/devices/system/cpu/online");
  auto cpus = t.ok() ? parse_node_list(*t) : Result<std::vector<int>>(t.error());
  if (!cpus.ok()) {
    s.add_unknown("cpus_online", "CPUs online", cpus.error().message);
    return;
  }
  Finding& f = s.add("cpus_online", "CPUs online");
  f.value = cpus->size();
  f.text = fmt::format("{} ({})", cpus->size(), format_node_list(*cpus));
  f.source = "/sys/devices/system/cpu/online";
  f.remark = "The default base slice grows with log2 of the CPU count (up to 8 CPUs).";
}

}  // namespace

DoctorSection doctor_scheduler_section() {
  DoctorSection s{"scheduler", "Scheduler", {}};
  bool eevdf = false;
  add_kind(s, &eevdf);
  add_base_slice(s, eevdf);
  add_own_slice(s);
  add_hz(s);
  add_cpus(s);
  return s;
}

}  // namespace aitrace
