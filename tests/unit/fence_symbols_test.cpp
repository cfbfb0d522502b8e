// Fence ops symbolization: a kallsyms-format table, read once per new address, not per tick.
#include "aitrace/dma/fence_symbols.hpp"
#include "test_support.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace aitrace {
namespace {

struct TableFile {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("aitrace-kallsyms-" + std::to_string(getpid()));
  void write(const std::string& text) { std::ofstream(path) << text; }
  ~TableFile() { std::filesystem::remove(path); }
};

TEST(FenceSymbols, NamesTheOpsTableElseItsFunctionAndReadsTheTableOncePerNewAddress) {
  TableFile t;
  t.write("ffffffffc0a01000 d amdgpu_fence_ops\t[amdgpu]\n"
          "ffffffff81234560 T dma_fence_default_wait\n"
          "0000000000000000 T hidden_symbol\n");
  FenceSymbols syms(t.path.string());
  syms.resolve({{0xffffffffc0a01000, 0x1}, {0x2000, 0xffffffff81234560}, {0x3000, 0x4000}});
  EXPECT_EQ(syms.table_reads(), 1u);
  EXPECT_EQ(syms.driver(0xffffffffc0a01000, 0x1), "amdgpu_fence_ops [amdgpu]");
  EXPECT_EQ(syms.driver(0x2000, 0xffffffff81234560), "dma_fence_default_wait");
  EXPECT_EQ(syms.driver(0x3000, 0x4000), "?");
  // Later ticks with the same timelines (an unlisted one included) read nothing.
  for (int tick = 0; tick < 100; tick++) syms.resolve({{0xffffffffc0a01000, 0x1}, {0x3000, 0x4000}});
  EXPECT_EQ(syms.table_reads(), 1u);
  // A timeline that appears later (a module loaded mid-run) is resolved from a fresh read.
  t.write("ffffffffc0b02000 d i915_fence_ops\t[i915]\n");
  syms.resolve({{0xffffffffc0b02000, 0x5}, {0x3000, 0x4000}});
  EXPECT_EQ(syms.table_reads(), 2u);
  EXPECT_EQ(syms.driver(0xffffffffc0b02000, 0x5), "i915_fence_ops [i915]");
}

}  // namespace
}  // namespace aitrace
