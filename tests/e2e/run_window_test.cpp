// One window for a whole run (docs/architecture.md, "One window"; counting_window.hpp), read from
// the kernel while aitrace runs: the programs it holds (prog_id in its fds' fdinfo), the maps
// each program uses, and their names. Every counting program of every object reads the same
// aitrace_window map, and no object kept a hold of its own, which libbpf would have created for
// it as a map named ".data.window".
#include "test_support.hpp"

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <vector>

namespace aitrace {
namespace {

namespace fs = std::filesystem;

struct Program {
  std::string name;  // as the kernel keeps it: 15 characters
  std::vector<std::string> maps;  // the names of the maps it uses
};

// Every program `pid` holds through an fd, by id (two objects may have programs of one name).
std::map<uint32_t, Program> programs_and_maps(pid_t pid, std::set<uint32_t>* window_ids) {
  std::set<uint32_t> prog_ids;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fdinfo", ec)) {
    const std::string info = test::read_file(entry.path().string());
    const auto at = info.find("prog_id:");
    if (at != std::string::npos) prog_ids.insert(static_cast<uint32_t>(std::strtoul(info.c_str() + at + 8, nullptr, 10)));
  }
  std::map<uint32_t, Program> out;
  for (const uint32_t id : prog_ids) {
    const int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    std::vector<uint32_t> map_ids(256);
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    info.nr_map_ids = static_cast<uint32_t>(map_ids.size());
    info.map_ids = reinterpret_cast<uint64_t>(map_ids.data());
    const int err = bpf_prog_get_info_by_fd(fd, &info, &len);
    close(fd);
    EXPECT_EQ(err, 0) << "program " << id;
    EXPECT_LE(info.nr_map_ids, map_ids.size());
    map_ids.resize(std::min<size_t>(info.nr_map_ids, map_ids.size()));
    out[id].name = info.name;
    std::vector<std::string>& names = out[id].maps;
    for (const uint32_t map_id : map_ids) {
      const int map_fd = bpf_map_get_fd_by_id(map_id);
      if (map_fd < 0) continue;
      bpf_map_info map_info{};
      uint32_t map_len = sizeof(map_info);
      if (bpf_map_get_info_by_fd(map_fd, &map_info, &map_len) == 0) {
        names.emplace_back(map_info.name);
        if (names.back() == "aitrace_window") window_ids->insert(map_id);
      }
      close(map_fd);
    }
  }
  return out;
}

bool uses(const std::vector<std::string>& maps, const std::string& name) {
  return std::find(maps.begin(), maps.end(), name) != maps.end();
}

struct WindowCase {
  std::string name;
  std::vector<std::string> args;      // after `aitrace`; DIR: a scratch directory
  // How a program of each object the run loads begins ("dma_": dma_fence_* on every kernel,
  // dma_map_* and the like where the dma:* events exist, 6.12+).
  std::vector<std::string> programs;
  friend void PrintTo(const WindowCase& c, std::ostream* os) { *os << c.name; }
};

// Whether a program's name begins with `prefix`.
bool any_begins(const std::map<uint32_t, Program>& programs, const std::string& prefix) {
  return std::any_of(programs.begin(), programs.end(),
                     [&](const auto& p) { return p.second.name.rfind(prefix, 0) == 0; });
}

class RunWindow : public ::testing::TestWithParam<WindowCase> {};

TEST_P(RunWindow, EveryObjectOfTheRunReadsOneWindow) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const std::string dir =
      (fs::temp_directory_path() / ("aitrace_window_" + GetParam().name + "_" + std::to_string(getpid()))).string();
  const std::string err = dir + ".err";
  fs::remove_all(dir);
  std::vector<std::string> argv = {test::aitrace_binary()};
  for (const std::string& a : GetParam().args) argv.push_back(a == "DIR" ? dir : a);
  test::Background run(argv, err);
  ASSERT_GT(run.pid(), 0);
  ASSERT_TRUE(test::wait_for_text(err, "aitrace: tracing")) << test::read_file(err);

  std::set<uint32_t> window_ids;
  const auto programs = programs_and_maps(run.pid(), &window_ids);
  for (const std::string& p : GetParam().programs)
    EXPECT_TRUE(any_begins(programs, p)) << "no program of the run begins with " << p;
  EXPECT_EQ(window_ids.size(), 1u) << "one aitrace_window map for the whole run";
  // Without a target no task filter loads, whose fork and free programs are the only ones never
  // held: every program of these runs reads the window.
  for (const auto& [id, p] : programs) {
    EXPECT_FALSE(uses(p.maps, ".data.window")) << p.name << " reads a hold of its own object";
    EXPECT_TRUE(uses(p.maps, "aitrace_window")) << p.name << " does not read the run's window";
  }

  kill(run.pid(), SIGTERM);
  EXPECT_EQ(run.wait(), 0) << test::read_file(err);
  fs::remove_all(dir);
  fs::remove(err);
}

INSTANTIATE_TEST_SUITE_P(
    Runs, RunWindow,
    ::testing::Values(WindowCase{"capture",
                                 {"capture", "--trace", "-d", "30s", "-o", "DIR"},
                                 {"sched_switch_", "st_switch_", "migrate_end_", "offcpu_switch_", "dma_"}},
                      WindowCase{"offcpu", {"offcpu", "-d", "30s"}, {"offcpu_switch_"}}),
    [](const ::testing::TestParamInfo<WindowCase>& i) { return i.param.name; });

}  // namespace
}  // namespace aitrace
