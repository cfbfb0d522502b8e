// NUMA node lists as sysfs prints them, and a host's possible nodes read from a sysfs tree (a
// temporary directory standing in for /sys: the real one here has a single node).
#include "aitrace/core/numa_nodes.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

namespace aitrace {
namespace {

namespace fs = std::filesystem;

TEST(NumaNodes, CountsTheNodesOfAList) {
  EXPECT_EQ(count_node_list("0"), 1u);
  EXPECT_EQ(count_node_list("0\n"), 1u);
  EXPECT_EQ(count_node_list("0-1\n"), 2u);
  EXPECT_EQ(count_node_list("0-3"), 4u);
  EXPECT_EQ(count_node_list("0,2-3,7"), 4u);
}

TEST(NumaNodes, RefusesWhatIsNotAList) {
  for (const char* bad : {"", "\n", "x", "0-", "-1", "3-1", "0,", ",0", "0--1", "0 - 1", "1,,2"})
    EXPECT_EQ(count_node_list(bad), std::nullopt) << '"' << bad << '"';
}

class NumaNodesSysfs : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("aitrace-numa-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "devices/system");
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const std::string& rel, const std::string& text) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << text;
  }
  fs::path root_;
};

TEST_F(NumaNodesSysfs, PossibleNodesComeFromTheNodeDirectory) {
  write("devices/system/node/possible", "0-1\n");
  EXPECT_EQ(possible_numa_nodes(root_.string()), 2u);
  write("devices/system/node/possible", "0\n");
  EXPECT_EQ(possible_numa_nodes(root_.string()), 1u);
}

TEST_F(NumaNodesSysfs, NoNodeDirectoryIsOneNodeOnlyWhereCpusAreListed) {
  // Neither directory: this is not a sysfs that says anything.
  EXPECT_EQ(possible_numa_nodes(root_.string()), std::nullopt);
  // CONFIG_NUMA=n: CPUs, no nodes.
  write("devices/system/cpu/online", "0-1\n");
  EXPECT_EQ(possible_numa_nodes(root_.string()), 1u);
}

TEST_F(NumaNodesSysfs, AnUnreadableOrGarbledListSaysNothing) {
  fs::create_directories(root_ / "devices/system/node");
  EXPECT_EQ(possible_numa_nodes(root_.string()), std::nullopt);  // no "possible" file
  write("devices/system/node/possible", "garbage\n");
  EXPECT_EQ(possible_numa_nodes(root_.string()), std::nullopt);
}

}  // namespace
}  // namespace aitrace
