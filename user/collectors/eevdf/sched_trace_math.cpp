#include "aitrace/eevdf/sched_trace_math.hpp"

#include <array>

namespace aitrace::eevdf {
namespace {

using i128 = __int128;

struct Sums {
  i128 avg;   // sum of w * key, key = v - zero_vruntime
  i128 load;  // sum of w
};

i128 key(const CfsState& c, uint64_t v) { return static_cast<int64_t>(v - c.zero_vruntime); }

// The kernel accumulates in s64; 128 bits give the same result without its overflow edge.
Sums sums(const CfsState& c, std::optional<Entity> extra) {
  Sums s{c.sum_w_vruntime, static_cast<i128>(c.sum_weight)};
  if (c.curr_on_rq) {
    s.avg += key(c, c.curr_vruntime) * c.curr_weight;
    s.load += c.curr_weight;
  }
  if (extra) {
    s.avg += key(c, extra->vruntime) * extra->weight;
    s.load += extra->weight;
  }
  return s;
}

}  // namespace

uint64_t avg_vruntime(const CfsState& c, std::optional<Entity> extra) {
  Sums s = sums(c, extra);
  i128 avg = s.avg;
  if (s.load) {
    // Floor, not truncation: "sign flips effective floor / ceiling" in the kernel.
    if (avg < 0) avg -= s.load - 1;
    avg /= s.load;
  }
  return c.zero_vruntime + static_cast<uint64_t>(static_cast<int64_t>(avg));
}

int64_t lag(const CfsState& c, uint64_t vruntime, std::optional<Entity> extra) {
  return static_cast<int64_t>(avg_vruntime(c, extra) - vruntime);
}

bool eligible(const CfsState& c, uint64_t vruntime, std::optional<Entity> extra) {
  Sums s = sums(c, extra);
  return s.avg >= key(c, vruntime) * s.load;
}

int64_t lag_service_ns(int64_t vlag, uint32_t weight) {
  return static_cast<int64_t>(static_cast<i128>(vlag) * weight / 1024);
}

uint32_t nice_to_weight(int nice) {
  static constexpr std::array<uint32_t, 40> kWeights = {
      88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916, 9548, 7620, 6100, 4904,
      3906,  3121,  2501,  1991,  1586,  1277,  1024,  820,   655,   526,   423,  335,  272,  215,
      172,   137,   110,   87,    70,    56,    45,    36,    29,    23,    18,   15};
  if (nice < -20) nice = -20;
  if (nice > 19) nice = 19;
  return kWeights[static_cast<size_t>(nice + 20)];  // NOLINT(bugprone-misplaced-widening-cast): clamped to 0..39 above
}

int64_t ftrace_prev_state(uint32_t prev_state, int32_t exit_state, bool preempt) {
  // The kernel's __trace_sched_switch_state() and __task_state_index() (include/linux/sched.h),
  // which mask: TASK_IDLE with TASK_FREEZABLE or TASK_WAKEKILL next to it is still I. Bit
  // values of 6.1+; TASK_FREEZABLE (0x2000) and TASK_FROZEN (0x8000) came with 6.1's freezer
  // rewrite, and older kernels never set those bits.
  constexpr uint32_t kTaskReport = 0x7f, kReportIdle = 0x80, kReportMax = 0x100;
  constexpr uint32_t kTaskIdle = 0x402, kRtlockWait = 0x1000, kFrozen = 0x8000, kUninterruptible = 0x2;
  if (preempt) return kReportMax;
  uint32_t state = (prev_state | static_cast<uint32_t>(exit_state)) & kTaskReport;
  if ((prev_state & kTaskIdle) == kTaskIdle) state = kReportIdle;
  // An RT sleeping lock's wait and a frozen task are reported as uninterruptible.
  if (prev_state & (kRtlockWait | kFrozen)) state = kUninterruptible;
  if (!state) return 0;
  int fls = 32 - __builtin_clz(state);  // index of the highest bit, 1-based
  return int64_t{1} << (fls - 1);
}

}  // namespace aitrace::eevdf
