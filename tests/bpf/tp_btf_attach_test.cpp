// tp_btf programs loaded without libbpf's parse of the kernel BTF (tp_btf_attach.hpp): the
// attach target each program reaches the kernel with must be the one libbpf's own lookup finds
// (the reference: libbpf_find_vmlinux_btf_id), the program must attach, and libbpf must not have
// read the kernel BTF during the load (its debug log says when it does).
#include "aitrace/core/bpf_object.hpp"
#include "aitrace/core/tp_btf_attach.hpp"
#include "test_support.hpp"

#include "aitrace/filter.h"
#include "aitrace/sched_events.h"
#include "aitrace/sched_slow_events.h"

#include "sched.skel.h"

#include <bpf/bpf.h>
#include <gtest/gtest.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>

namespace aitrace {
namespace {

using SchedSkel = AITRACE_SKELETON_TYPE(sched);

// Everything libbpf prints while alive, debug included.
class LibbpfDebugLog {
 public:
  LibbpfDebugLog() : previous_(libbpf_set_print(&LibbpfDebugLog::print)) { current_ = this; }
  ~LibbpfDebugLog() {
    libbpf_set_print(previous_);
    current_ = nullptr;
  }
  LibbpfDebugLog(const LibbpfDebugLog&) = delete;
  LibbpfDebugLog& operator=(const LibbpfDebugLog&) = delete;
  bool read_kernel_btf() const { return text_.find(kNeedle) != std::string::npos; }
  // The lines around libbpf's message, for a failure.
  std::string around() const {
    const size_t at = text_.find(kNeedle);
    if (at == std::string::npos) return text_.substr(0, 400);
    const size_t from = at > 200 ? at - 200 : 0;
    return text_.substr(from, 400);
  }

 private:
  static constexpr const char* kNeedle = "kernel BTF";
  static int print(enum libbpf_print_level, const char* format, va_list args) {
    char line[1024];
    vsnprintf(line, sizeof(line), format, args);
    if (current_) current_->text_ += line;
    return 0;
  }
  static inline LibbpfDebugLog* current_ = nullptr;
  libbpf_print_fn_t previous_;
  std::string text_;
};

TEST(TpBtfAttach, TargetsAreLibbpfsOwnAndTheKernelBtfIsNotRead) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  {
    // The detector: libbpf's own lookup reads the kernel BTF and says so.
    LibbpfDebugLog log;
    ASSERT_GT(libbpf_find_vmlinux_btf_id("sched_switch", BPF_TRACE_RAW_TP), 0);
    ASSERT_TRUE(log.read_kernel_btf()) << log.around();
  }
  auto skel = SchedSkel::open("sched");
  ASSERT_TRUE(skel.ok()) << skel.error().message;
  bpf_program* p = nullptr;
  int tp_btf = 0;
  bpf_object__for_each_program(p, (*skel)->obj) {
    const bool btf = std::string_view(bpf_program__section_name(p)).starts_with("tp_btf/");
    bpf_program__set_autoload(p, btf);  // one flavour, as the collector loads it
    tp_btf += btf;
  }
  ASSERT_GT(tp_btf, 0);
  {
    LibbpfDebugLog log;
    auto loaded = skel->load("sched");
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    EXPECT_FALSE(log.read_kernel_btf()) << log.around();
  }
  bpf_object__for_each_program(p, (*skel)->obj) {
    if (!bpf_program__autoload(p)) continue;
    const std::string tracepoint = std::string(bpf_program__section_name(p)).substr(std::strlen("tp_btf/"));
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    ASSERT_EQ(bpf_prog_get_info_by_fd(bpf_program__fd(p), &info, &len), 0) << tracepoint;
    EXPECT_EQ(info.type, BPF_PROG_TYPE_TRACING) << tracepoint;
    EXPECT_EQ(static_cast<int>(info.attach_btf_id), libbpf_find_vmlinux_btf_id(tracepoint.c_str(), BPF_TRACE_RAW_TP))
        << tracepoint;
  }
  // The kernel takes the attach, through the handler's attach callback.
  bpf_link* link = bpf_program__attach((*skel)->progs.sched_switch_btf);
  ASSERT_NE(link, nullptr) << "attach: " << errno;
  // A tp_btf program's link is a raw tracepoint link, named by its tracepoint.
  char tp_name[64] = {};
  bpf_link_info li{};
  li.raw_tracepoint.tp_name = reinterpret_cast<__u64>(tp_name);
  li.raw_tracepoint.tp_name_len = sizeof(tp_name);
  __u32 len = sizeof(li);
  EXPECT_EQ(bpf_link_get_info_by_fd(bpf_link__fd(link), &li, &len), 0);
  EXPECT_EQ(li.type, BPF_LINK_TYPE_RAW_TRACEPOINT);
  EXPECT_STREQ(tp_name, "sched_switch");
  bpf_link__destroy(link);
}

// A target libbpf resolved itself before the load (what resolve_tp_btf_targets() does for a
// tracepoint the facts lack, here forced on one the facts know) goes to the kernel as libbpf found
// it; the program loads and its id is libbpf's.
TEST(TpBtfAttach, ATargetLibbpfResolvedStands) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto skel = SchedSkel::open("sched");
  ASSERT_TRUE(skel.ok()) << skel.error().message;
  bpf_program* p = nullptr;
  bpf_object__for_each_program(p, (*skel)->obj) bpf_program__set_autoload(p, p == (*skel)->progs.sched_wakeup_btf);
  // Every tracepoint of sched is in the facts: nothing is left to libbpf's lookup.
  EXPECT_EQ(resolve_tp_btf_targets((*skel)->obj), 0);
  ASSERT_EQ(bpf_program__set_attach_target((*skel)->progs.sched_wakeup_btf, 0, "sched_wakeup"), 0);
  auto loaded = skel->load("sched");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  ASSERT_EQ(bpf_prog_get_info_by_fd(bpf_program__fd((*skel)->progs.sched_wakeup_btf), &info, &len), 0);
  EXPECT_EQ(static_cast<int>(info.attach_btf_id), libbpf_find_vmlinux_btf_id("sched_wakeup", BPF_TRACE_RAW_TP));
}

}  // namespace
}  // namespace aitrace
