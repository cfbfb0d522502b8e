// What /proc says about a task that a trace record names. A pid is reused as soon as its task is
// reaped, so /proc/PID is trusted only while its start time is the record's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace aitrace {

// /proc/TGID/task/TID/stat's start time (clock ticks since boot), in the unit of
// task->start_boottime (ns) rounded down to a tick: equal for the same task.
uint64_t boottime_ns_to_ticks(uint64_t ns);

// The argv of process `tgid` (/proc/TGID/cmdline split at NULs), provided /proc/TGID/task/TID is
// the thread that started at `start_boottime_ns`; nullopt when that task is gone, the pid is
// someone else's by now, or the process has no command line (a kernel thread, a zombie).
std::optional<std::vector<std::string>> task_cmdline(uint32_t tgid, uint32_t tid, uint64_t start_boottime_ns);

}  // namespace aitrace
