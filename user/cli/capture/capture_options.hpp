// `aitrace capture`'s options and their checked form.
#pragma once

#include "aitrace/driver/options.hpp"
#include "aitrace/driver/registration.hpp"
#include "aitrace/sched/sched_collector.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

namespace aitrace {

struct CaptureOptions {
  CommonOptions common;
  TargetOptions targets;
  std::string output;  // -o DIR (not common.output: the driver writes no report file)
  bool force = false;
  bool trace = false;
  std::string by = "process";
  size_t top = 10;
  std::string slower = "1ms", slower_offcpu;
};

struct CaptureConfig {
  SchedGroupBy group_by = SchedGroupBy::process;
  uint64_t slower_ns = 0, slower_offcpu_ns = 0;
  bool flight_recorder = false;
};

void add_capture_options(CLI::App* cmd, CaptureOptions& o);
// Checks the options (a bad one is a usage error before anything runs) and fills in the defaults:
// -d 30s and -i 1s.
Result<CaptureConfig> capture_config(CaptureOptions& o);

}  // namespace aitrace
