// The run loop: duration, interval ticks (coalesced when slow), signals, periodic work.
#include "aitrace/core/run_loop.hpp"
#include "test_support.hpp"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace aitrace {
namespace {

using namespace std::chrono_literals;

TEST(RunLoop, StopsAfterDurationWithIntervalTicksAndOneFinalTick) {
  block_stop_signals();
  RunLoop loop({.duration = 350ms, .interval = 100ms});
  int ticks = 0, finals = 0;
  auto t0 = std::chrono::steady_clock::now();
  auto r = loop.run([&](bool final) {
    (final ? finals : ticks)++;
    return Status{};
  });
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, StopReason::duration);
  EXPECT_EQ(ticks, 3);
  EXPECT_EQ(finals, 1);
  EXPECT_GE(took, 350ms);
}

// `aitrace sched 1 10`: COUNT reports, then the summary at once (no duration involved).
TEST(RunLoop, CountStopsAfterThatManyTicks) {
  block_stop_signals();
  RunLoop loop({.interval = 50ms, .count = 3});
  int ticks = 0, finals = 0;
  StopReason seen_in_final = StopReason::error;
  auto t0 = std::chrono::steady_clock::now();
  auto r = loop.run([&](bool final) {
    (final ? finals : ticks)++;
    if (final) seen_in_final = loop.stop_reason();
    return Status{};
  });
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, StopReason::intervals);
  EXPECT_EQ(seen_in_final, StopReason::intervals) << "the final tick knows why the run ended";
  EXPECT_EQ(ticks, 3);
  EXPECT_EQ(finals, 1);
  EXPECT_GE(took, 150ms);
}

// -p A,B: the run ends when both pidfds fired, not at the first.
TEST(RunLoop, StopSetEndsTheRunOnlyWhenEveryFdFired) {
  block_stop_signals();
  int a[2], b[2];
  ASSERT_EQ(pipe(a), 0);
  ASSERT_EQ(pipe(b), 0);
  RunLoop loop({.duration = 10s});
  loop.add_stop_set({a[0], b[0]});
  std::thread closer([&] {
    std::this_thread::sleep_for(100ms);
    close(a[1]);  // readable (EOF) from here on: must not end the run alone
    std::this_thread::sleep_for(300ms);
    close(b[1]);
  });
  auto t0 = std::chrono::steady_clock::now();
  auto r = loop.run([&](bool) { return Status{}; });
  auto took = std::chrono::steady_clock::now() - t0;
  closer.join();
  close(a[0]);
  close(b[0]);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, StopReason::stop_set);
  EXPECT_GE(took, 400ms);
  EXPECT_LT(took, 5s);
}

TEST(RunLoop, SigtermStopsTheLoopCleanly) {
  block_stop_signals();
  RunLoop loop({.duration = 30s});
  std::thread killer([] {
    std::this_thread::sleep_for(100ms);
    kill(getpid(), SIGTERM);
  });
  int finals = 0;
  auto r = loop.run([&](bool final) {
    finals += final;
    return Status{};
  });
  killer.join();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, StopReason::signal);
  EXPECT_EQ(finals, 1);
}

// A tick that takes longer than the interval (a big map walk with -i 1ms) must not starve the
// loop: missed ticks are coalesced into one and the signalfd is still polled every iteration.
TEST(RunLoop, SlowTicksAreCoalescedAndASignalStillStopsTheLoop) {
  block_stop_signals();
  RunLoop loop({.duration = 10s, .interval = 1ms});
  std::thread killer([] {
    std::this_thread::sleep_for(200ms);
    kill(getpid(), SIGTERM);
  });
  int ticks = 0;
  auto t0 = std::chrono::steady_clock::now();
  auto r = loop.run([&](bool final) {
    if (!final) {
      ticks++;
      std::this_thread::sleep_for(5ms);  // 5 intervals per tick
    }
    return Status{};
  });
  auto took = std::chrono::steady_clock::now() - t0;
  killer.join();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, StopReason::signal);
  // Generous: the signal comes at 200 ms; one tick (5 ms) plus scheduling noise after it.
  EXPECT_LT(took, 5s) << "the loop ignored SIGTERM while ticks were behind";
  // Coalesced: at most one tick per 5 ms of wall time, never a backlog of 1 ms ticks.
  auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
  EXPECT_LE(ticks, elapsed_ms / 5 + 1);
}

// Coalescing skips missed ticks; the schedule stays on the interval grid (no drift).
TEST(RunLoop, CoalescedTicksStayOnTheIntervalGrid) {
  RunLoop loop({.duration = 500ms, .interval = 100ms});
  int ticks = 0;
  auto r = loop.run([&](bool final) {
    if (!final && ++ticks == 1) std::this_thread::sleep_for(250ms);  // misses the ticks at 200 ms
    return Status{};
  });
  ASSERT_TRUE(r.ok());
  // The tick at 100 ms ends at 350 ms; those due at 200 and 300 ms fold into the next one on
  // the grid, at 400 ms; 500 ms is the end (the final tick). Without coalescing: 100, 350, 350
  // (back to back), 400.
  EXPECT_EQ(ticks, 2);
}

// Periodic work (the trace's fdatasync) runs from the loop, not from a ring consumer: about once
// per period, also without -i, and its error ends the run.
TEST(RunLoop, PeriodicWorkRunsOncePerPeriodWithoutTicks) {
  RunLoop loop({.duration = 550ms});
  int runs = 0;
  loop.add_periodic(100ms, [&] {
    runs++;
    return Status{};
  });
  auto r = loop.run([](bool) { return Status{}; });
  ASSERT_TRUE(r.ok());
  EXPECT_GE(runs, 3);  // due at 100..500 ms; the loop wakes at least every 100 ms
  EXPECT_LE(runs, 5);

  RunLoop failing({.duration = 5s});
  failing.add_periodic(10ms, [] { return Status{make_error(ErrorKind::runtime, "disk gone")}; });
  auto f = failing.run([](bool) { return Status{}; });
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().message, "disk gone");
}

TEST(RunLoop, TickErrorEndsTheLoopWithThatError) {
  RunLoop loop({.duration = 5s, .interval = 10ms});
  auto r = loop.run([](bool) -> Status { return make_error(ErrorKind::runtime, "sink broke"); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "sink broke");
}

}  // namespace
}  // namespace aitrace
