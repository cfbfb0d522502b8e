// `aitrace doctor`: what this host offers a tracer; its hook catalog is every registered collector's table.
#include "aitrace/doctor/doctor.hpp"

#include "aitrace/driver/options.hpp"
#include "aitrace/driver/report_writer.hpp"
#include "aitrace/core/log.hpp"
#include "aitrace/driver/registration.hpp"

namespace aitrace {
namespace {

struct DoctorCliOptions {
  bool json = false;
  std::string output;
  int verbose = 0;
  std::string bpf_token;
};

Status run_doctor_command(const DoctorCliOptions& o, const std::vector<CollectorTracepoints>& catalog) {
  set_log_level(o.verbose ? LogLevel::debug : LogLevel::warn);
  route_libbpf_log();
  // Opened first so an unwritable -o fails before any probing.
  auto writer = ReportWriter::open(o.output);
  if (!writer) return writer.error();
  DoctorOptions opts;
  opts.catalog = catalog;
  opts.bpf_token = o.bpf_token;
  DoctorReport report = run_doctor(opts);
  return writer->write_final(o.json ? doctor_json(report) : doctor_text(report));
}

void add_commands(CLI::App& app, const CommandContext& ctx) {
  auto* cmd = app.add_subcommand("doctor", "Report what this host offers a tracer and an AI workload");
  auto opts = std::make_shared<DoctorCliOptions>();
  cmd->add_flag("--json", opts->json, "JSON output (schema aitrace.doctor/1, see docs/doctor.md)");
  cmd->add_option("-o,--output", opts->output, "Write the report to FILE (atomically) instead of stdout");
  cmd->add_flag("-v,--verbose", opts->verbose, "Show libbpf messages from the hook probes");
  add_bpf_token_option(cmd, opts->bpf_token);
  cmd->callback([opts, exit_code = ctx.exit_code, catalog = ctx.catalog] {
    Status st = run_doctor_command(*opts, catalog);
    if (!st.ok()) *exit_code = report_error(st.error());
  });
}

}  // namespace

CollectorEntry doctor_collector_entry() { return {"doctor", add_commands, nullptr}; }

}  // namespace aitrace
