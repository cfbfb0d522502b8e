// dma report logic that needs no kernel: interval deltas, the JSON contract, text rendering.
#include "aitrace/dma/dma_report.hpp"
#include "aitrace/dma/dma.hpp"

#include <gtest/gtest.h>

namespace aitrace {
namespace {

DmaSnapshot sample(uint64_t maps, uint64_t lifetime_in_bucket_40) {
  DmaSnapshot s;
  DmaDevice& d = s.devices[0xffff888000001000ull];
  d.name = "0000:3b:00.0";
  d.driver = "nvidia";
  d.dirs[1].map_count = maps;
  d.dirs[1].map_bytes = maps * 4096;
  d.lifetime[1].buckets[40] = lifetime_in_bucket_40;
  d.lifetime[1].count = lifetime_in_bucket_40;
  d.lifetime[1].sum = lifetime_in_bucket_40 * aitrace_hist_bucket_low(40);
  d.dev.swiotlb_count = maps;
  d.dev.swiotlb_bytes = maps * 100;
  s.iommu.map_count = maps;
  s.fence.wait_start = maps;
  s.lost.live_full = maps / 2;
  s.waiters[42].comm = "python3";
  s.waiters[42].hist.count = maps;
  s.waiters[42].hist.buckets[10] = maps;
  return s;
}

TEST(DmaReport, dma_delta_subtracts_every_counter_and_histogram) {
  DmaSnapshot before = sample(10, 3), now = sample(25, 7);
  DmaDevice& fresh = now.devices[0x2000];  // appeared during the interval: kept whole
  fresh.dirs[2].unmap_unmatched = 4;
  DmaSnapshot d = dma_delta(now, before);
  const DmaDevice& dev = d.devices.at(0xffff888000001000ull);
  EXPECT_EQ(dev.dirs[1].map_count, 15u);
  EXPECT_EQ(dev.dirs[1].map_bytes, 15u * 4096);
  EXPECT_EQ(dev.lifetime[1].count, 4u);
  EXPECT_EQ(dev.lifetime[1].buckets[40], 4u);
  EXPECT_EQ(dev.dev.swiotlb_bytes, 1500u);
  EXPECT_EQ(dev.name, "0000:3b:00.0");
  EXPECT_EQ(d.devices.at(0x2000).dirs[2].unmap_unmatched, 4u);
  EXPECT_EQ(d.iommu.map_count, 15u);
  EXPECT_EQ(d.fence.wait_start, 15u);
  EXPECT_EQ(d.lost.live_full, 12u - 5u);
  EXPECT_EQ(d.waiters.at(42).hist.count, 15u);
  EXPECT_EQ(d.waiters.at(42).comm, "python3");
  EXPECT_EQ(d.unmatched_unmaps(), 4u);
}

TEST(DmaReport, dma_json_contract) {
  DmaReport r;
  r.hooks = {{"dma:dma_map_phys", "attached", ""},
             {"dma:dma_map_page", "absent", ""},
             {"iommu:map", "failed: Invalid argument (EINVAL)", ""}};
  r.data = sample(2, 2);
  r.duration_ns = 1'500'000'000;
  nlohmann::json j = dma_report_json(r);
  for (const char* envelope_key : {"schema", "duration_ns", "duration_s", "lost", "hooks", "interval"})
    EXPECT_FALSE(j.contains(envelope_key)) << envelope_key << " is the driver's (report_envelope)";
  ASSERT_EQ(j["devices"].size(), 1u);
  const auto& dev = j["devices"][0];
  EXPECT_EQ(dev["name"], "0000:3b:00.0");
  EXPECT_EQ(dev["driver"], "nvidia");
  EXPECT_FALSE(dev.contains("id"));         // no kernel pointers in output
  EXPECT_EQ(dev["directions"].size(), 1u);  // only directions with traffic
  EXPECT_EQ(dev["directions"]["to_device"]["map"]["count"], 2);
  EXPECT_EQ(dev["directions"]["to_device"]["lifetime"]["count"], 2);
  EXPECT_EQ(dev["swiotlb"]["bytes"], 200);
  EXPECT_EQ(j["swiotlb"]["count"], 2);
  EXPECT_EQ(j["iommu"]["map"]["count"], 2);
  EXPECT_EQ(j["dma_fence"]["waits"][0]["comm"], "python3");
  EXPECT_EQ(j["dma_fence"]["waits"][0]["tid"], 42);
  EXPECT_EQ(dma_lost_json(r.data)["live_full"], 1);
  EXPECT_TRUE(dev["directions"]["to_device"]["lifetime"].contains("max_bound")) << "buckets only: bounds";
  EXPECT_EQ(j.dump().find("ffff888"), std::string::npos);
}

TEST(DmaReport, dma_text_lists_absent_hooks_devices_and_losses) {
  DmaReport r;
  r.hooks = {{"dma:dma_map_phys", "attached", ""}, {"dma:dma_map_page", "absent", ""}};
  r.data = sample(3, 1);
  r.filter = "pid 7";
  std::string t = dma_report_text(r);
  EXPECT_NE(t.find("1/2 hooks attached"), std::string::npos) << t;
  EXPECT_NE(t.find("dma:dma_map_page (absent)"), std::string::npos) << t;
  EXPECT_NE(t.find("0000:3b:00.0"), std::string::npos) << t;
  EXPECT_NE(t.find("to_device"), std::string::npos) << t;
  EXPECT_NE(t.find("mapping lifetime 0000:3b:00.0 to_device"), std::string::npos) << t;
  EXPECT_NE(t.find("fence waits: pid 7"), std::string::npos) << t;
  EXPECT_NE(t.find("live table full 1"), std::string::npos) << t;
}

}  // namespace
}  // namespace aitrace
