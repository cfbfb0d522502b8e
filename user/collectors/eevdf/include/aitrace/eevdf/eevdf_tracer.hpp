// The EEVDF trace as a collector of the contract (aitrace/collector/collector.hpp): joins
// `aitrace sched` with --eevdf / --trace FILE, or runs alone (hidden `aitrace sched-trace`).
#pragma once

#include "aitrace/collector/collector.hpp"
#include "aitrace/eevdf/sched_trace.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>

namespace aitrace {

struct EevdfTracerConfig {
  SchedTraceOptions trace;
  bool summary = true;           // the per-thread EEVDF summary (--eevdf), not only the trace file
  bool in_intervals = false;     // also in interval reports (alone); beside sched: final report only
  size_t top = SIZE_MAX;         // text: threads shown (sched's --top), most preempted first
  bool hist = true;              // text: the lag histogram's bars (sched: only with --hist)
};

class EevdfTracer final : public Collector {
 public:
  explicit EevdfTracer(const EevdfTracerConfig& cfg);
  ~EevdfTracer() override;

  std::string_view name() const override { return "eevdf"; }
  std::string_view traces() const override;
  std::vector<std::string> output_paths() const override;
  Status load(const CollectorContext& ctx) override;
  Status attach(const ResolvedTargets& targets) override;
  void add_to(RunLoop& loop) override;
  void start() override;
  void stop() override;
  void detach() override;
  Status finish() override;
  Result<std::unique_ptr<Snapshot>> read() override;
  std::unique_ptr<Snapshot> delta(const Snapshot& now, const Snapshot* before) const override;
  std::string render_text(const Snapshot& s, const RenderContext& ctx) override;
  void render_json(nlohmann::json& doc, const Snapshot& s, const RenderContext& ctx) override;
  const HookSet& hooks() const override;
  std::string_view schema() const override { return "aitrace.eevdf/1"; }
  nlohmann::json lost_json(const Snapshot& s) const override;

  // The summary and stats after (or during) a run; null before load.
  const SchedTraceCollector* collector() const { return collector_.get(); }

 private:
  EevdfTracerConfig cfg_;
  std::unique_ptr<SchedTraceCollector> collector_;
};

std::unique_ptr<Collector> make_eevdf_tracer(const EevdfTracerConfig& cfg);

// Adds the EEVDF trace to a report document: "trace" (records, lost per CPU, file) always;
// with `summary`, "eevdf": {"kernel", "threads":[{tid,tgid,comm,eevdf}]} and, in every group
// that is one thread (`tid` set, as with --by thread), that thread's object as groups[].eevdf.
void add_eevdf_json(nlohmann::json& doc, const SchedTraceCollector& c, bool summary);
// The text counterpart: the per-thread summary (with `summary`: the `top` most preempted
// threads, lag bars with `hist`), the trace line, the file.
std::string eevdf_text(const SchedTraceCollector& c, bool summary, size_t top = SIZE_MAX, bool hist = true);

}  // namespace aitrace
