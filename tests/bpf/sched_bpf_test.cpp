// The sched programs in the real kernel: both hook flavours pass the verifier, attach, and count
// this test thread's own sleeps and switches, checked against its /proc/thread-self/schedstat.
#include "aitrace/core/filter_sweep.hpp"
#include "aitrace/core/hooks.hpp"
#include "aitrace/core/run_loop.hpp"
#include "aitrace/sched/sched_collector.hpp"
#include "sched_attached.hpp"
#include "test_support.hpp"

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace aitrace {
namespace {

using test::attached_collector;
using test::own_schedstat;
using test::Schedstat;

class SchedBpf : public ::testing::TestWithParam<const char*> {};


// Only thread `tid`, grouped by thread.
SchedConfig one_thread(uint32_t tid) {
  SchedConfig cfg;
  cfg.group_by = SchedGroupBy::thread;
  cfg.targets.cfg.by_tid = 1;
  cfg.targets.tids = {tid};
  return cfg;
}

TEST_P(SchedBpf, LoadsAttachesAndCountsThisThread) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const uint32_t tid = static_cast<uint32_t>(syscall(SYS_gettid));
  auto collector = attached_collector(GetParam(), one_thread(tid));
  ASSERT_TRUE(collector.ok()) << collector.error().message;
  EXPECT_STREQ(hook_kind_name(collector->flavour()), GetParam());
  for (const char* ev :
       {"sched:sched_switch", "sched:sched_wakeup", "sched:sched_wakeup_new", "sched:sched_migrate_task"})
    EXPECT_TRUE(collector->hooks().attached(ev)) << ev << ": " << collector->hooks().status(ev)->state_text();
  // Without `-- CMD` there are no children to follow: the fork hook stays off.
  EXPECT_EQ(collector->hooks().status("sched:sched_process_fork"), nullptr);

  // Each nap is a switch-out in interruptible sleep, a wakeup and a switch-in.
  constexpr int kNaps = 50;
  Schedstat before = own_schedstat();
  for (int i = 0; i < kNaps; i++) usleep(500);
  collector->detach();
  // After detach: every switch-in the collector saw since `before` is in this window too.
  Schedstat after = own_schedstat();
  auto snap = collector->read();
  ASSERT_TRUE(snap.ok()) << snap.error().message;

  const SchedGroup* mine = nullptr;
  for (const auto& g : snap->groups) {
    EXPECT_TRUE(g.other || g.tid == tid) << "filtered out thread " << g.tid << " was counted";
    if (!g.other && g.tid == tid) mine = &g;
  }
  ASSERT_NE(mine, nullptr);
  // The group id is the tid (low 32 bits) with the thread's start time (task_struct.start_time,
  // monotonic) in 1024 ns units above it, wrapping every 2^42 ns. /proc has the start time on the
  // boot-time clock in clock ticks (field 22 of stat): moved to the monotonic clock, it agrees to
  // the tick.
  EXPECT_EQ(mine->id & 0xffffffffu, tid);
  {
    std::string stat = test::read_file("/proc/thread-self/stat");
    std::istringstream rest(stat.substr(stat.rfind(')') + 2));  // fields 3.. after the comm
    std::string field;
    for (int i = 3; i <= 22 && rest >> field; i++) {
    }
    const uint64_t tick_ns = 1000000000ull / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
    timespec mono{}, boot{};
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_BOOTTIME, &boot);
    auto ns = [](const timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec; };
    const uint64_t start_mono = std::stoull(field) * tick_ns - static_cast<uint64_t>(ns(boot) - ns(mono));
    const auto units = static_cast<int32_t>(static_cast<uint32_t>(mine->id >> 32) -
                                            static_cast<uint32_t>(start_mono >> 10));
    EXPECT_LE(std::abs(static_cast<int64_t>(units)) << 10, static_cast<int64_t>(2 * tick_ns))
        << "group id " << mine->id << ", /proc start " << field << " ticks";
  }
  EXPECT_EQ(mine->pid, static_cast<uint32_t>(getpid()));
  // Each nap normally sleeps once, but not always: a nap whose timer fires before the thread
  // reaches schedule() never sleeps (seen right after a build). The kernel's own count of real
  // sleeps is voluntary_ctxt_switches; every one of them is a sleep or block sample ending in a
  // wakeup, give or take the switches just outside the window (see the slices below).
  const uint64_t asleep = mine->count[AITRACE_SCHED_OFFCPU_SLEEP] + mine->count[AITRACE_SCHED_OFFCPU_BLOCK];
  const uint64_t voluntary = after.voluntary - before.voluntary;
  EXPECT_LE(asleep, voluntary + 3);
  EXPECT_GE(asleep + 3, voluntary);
  EXPECT_LE(mine->count[AITRACE_SCHED_RUNQ_WAKEUP], asleep + 3);
  EXPECT_GE(mine->count[AITRACE_SCHED_RUNQ_WAKEUP] + 3, asleep);
  EXPECT_GE(mine->count[AITRACE_SCHED_OFFCPU_SLEEP], static_cast<uint64_t>(kNaps - 5))
      << "naps must be classified as sleep";
  // Naps are interruptible sleeps. The thread may still block uninterruptibly a few times on a
  // kernel lock (the /proc read, a page fault on a freshly linked binary under writeback): seen
  // in a TCG guest and right after a build, never for most of the 50 naps.
  EXPECT_LE(mine->count[AITRACE_SCHED_OFFCPU_BLOCK], 10u);
  // Switch-ins between the two schedstat reads, give or take the few between attach and
  // `before` (seen only by the collector) and between detach and `after` (only by schedstat).
  uint64_t slices = after.slices - before.slices;
  EXPECT_GE(mine->counters.switches + 3, slices);
  EXPECT_LE(mine->counters.switches, slices + 3);
  // Every nap sleeps at least 500 us; the kernel may oversleep, never undersleep.
  Histogram sleep = mine->histogram(AITRACE_SCHED_OFFCPU_SLEEP);
  EXPECT_GE(sleep.percentile(0.5), 500000u);
  EXPECT_EQ(sleep.count(), mine->count[AITRACE_SCHED_OFFCPU_SLEEP]);
  EXPECT_EQ(sleep.sum(), mine->sum[AITRACE_SCHED_OFFCPU_SLEEP]);
  EXPECT_LE(sleep.min(), sleep.percentile(0.5));
  EXPECT_EQ(snap->lost.task_state_missing, 0u);
  EXPECT_EQ(snap->lost.groups_overflow, 0u);
}

bool contains(const std::vector<uint32_t>& v, uint32_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// The filter of `-- CMD`, with this process as the command.
SchedConfig following_this_process() {
  SchedConfig cfg;
  cfg.targets.cfg.follow_forks = 1;
  cfg.targets.cfg.by_tgid = 1;
  cfg.targets.tgids = {static_cast<uint32_t>(getpid())};
  return cfg;
}

// The process filter of `-- CMD`: a child forked by a followed process joins it, and leaves it
// once reaped (sched_process_free, after an RCU grace period), so that a long job which keeps
// starting processes never fills the filter and a reused pid is never traced.
// A round whose frees all ran while a PID-1 thread was current is seen by no program (docs/
// sched.md, "Frees no program sees": the softirq frees a whole batch at once, 2 rounds in ~310
// beside two CPU hogs). The sweep must then drop those ids, and the round is run again: a free
// program that does not work misses every round, where the blind spot took one round in ~150.
TEST_P(SchedBpf, FollowedChildrenJoinTheFilterAndLeaveItWhenReaped) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto collector = attached_collector(GetParam(), following_this_process());
  ASSERT_TRUE(collector.ok()) << collector.error().message;
  for (const char* ev : {"sched:sched_process_fork", "sched:sched_process_free"})
    ASSERT_TRUE(collector->hooks().attached(ev)) << ev;
  const std::vector<uint32_t> only_me = {static_cast<uint32_t>(getpid())};

  constexpr int kChildren = 20, kRounds = 3;
  int round = 0;
  for (; round < kRounds; round++) {
    std::vector<uint32_t> children;
    int release[2];
    ASSERT_EQ(pipe(release), 0);
    for (int i = 0; i < kChildren; i++) {
      pid_t pid = fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        char c;
        close(release[1]);
        (void)!read(release[0], &c, 1);  // until the parent closes its end
        _exit(0);
      }
      children.push_back(static_cast<uint32_t>(pid));
    }
    close(release[0]);
    auto while_alive = test::own_map_keys_u32("filter_tgids");
    close(release[1]);
    for (uint32_t pid : children) waitpid(static_cast<pid_t>(pid), nullptr, 0);

    EXPECT_TRUE(contains(while_alive, only_me[0]));
    for (uint32_t pid : children) EXPECT_TRUE(contains(while_alive, pid)) << "child " << pid << " not followed";
    std::vector<uint32_t> after;
    for (int tries = 0; tries < 100; tries++) {  // task structs are freed after a grace period
      after = test::own_map_keys_u32("filter_tgids");
      if (after.size() <= 1) break;
      usleep(20000);
    }
    if (after == only_me) break;
    ASSERT_TRUE(contains(after, only_me[0])) << "the followed process itself left the filter";
    for (uint32_t id : after) EXPECT_TRUE(id == only_me[0] || contains(children, id)) << id << " never followed";
    // At most: a free that comes between the read and the sweep leaves the sweep less to do.
    EXPECT_LE(collector->sweep_filter(), after.size() - 1) << "round " << round;
    EXPECT_EQ(test::own_map_keys_u32("filter_tgids"), only_me) << "round " << round << ": the sweep drops the missed frees";
  }
  EXPECT_LT(round, kRounds) << "no round's reaped children left the filter through its free program";
  auto snap = collector->read();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->lost.fork_overflow, 0u);
  collector->detach();
}

// The filter's sweep (core/filter_sweep.hpp), which a run's loop does every second: the id of a
// reaped process whose free no program saw (docs/sched.md, "Frees no program sees"; here put back
// by hand after the free) leaves the filter; a live process and a zombie, whose ids are still
// taken, stay.
TEST_P(SchedBpf, TheSweepDropsFilterIdsOfReapedProcessesOnly) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto collector = attached_collector(GetParam(), following_this_process());
  ASSERT_TRUE(collector.ok()) << collector.error().message;
  const auto child = [] {
    const pid_t pid = fork();
    if (pid == 0) _exit(0);
    return pid;
  };
  const pid_t zombie = child(), reaped = child();
  ASSERT_GT(zombie, 0);
  ASSERT_GT(reaped, 0);
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(zombie), &info, WEXITED | WNOWAIT), 0);  // exited, not reaped
  ASSERT_EQ(waitpid(reaped, nullptr, 0), reaped);
  const std::vector<int> fds = test::own_map_fds_u32("filter_tgids");
  ASSERT_EQ(fds.size(), 1u);
  const uint32_t stale = static_cast<uint32_t>(reaped);
  const uint8_t one = 1;
  // Put back only after the free program forgot it (an RCU grace period after the reap), or the
  // free would take it out again and the sweep would have nothing to do.
  for (int tries = 0; tries < 100 && contains(test::own_map_keys_u32("filter_tgids"), stale); tries++) usleep(20000);
  ASSERT_EQ(bpf_map_update_elem(fds[0], &stale, &one, BPF_ANY), 0);

  // Two sweep periods and a half: the loop checks its end before its periodic work, so a run just
  // past one period could end on a stalled machine without sweeping.
  RunLoop loop(RunOptions{.duration = 2 * kFilterSweepEvery + std::chrono::milliseconds(500)});
  collector->add_to(loop);
  auto ran = loop.run([](bool) { return Status{}; });
  ASSERT_TRUE(ran.ok()) << ran.error().message;
  std::vector<uint32_t> left = test::own_map_keys_u32("filter_tgids");
  std::sort(left.begin(), left.end());
  std::vector<uint32_t> want{static_cast<uint32_t>(getpid()), static_cast<uint32_t>(zombie)};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(left, want);
  EXPECT_EQ(collector->sweep_filter(), 0u);
  ASSERT_EQ(bpf_map_update_elem(fds[0], &stale, &one, BPF_ANY), 0);
  EXPECT_EQ(collector->sweep_filter(), 1u);
  waitpid(zombie, nullptr, 0);
  collector->detach();
}

// Every switch-in closes a run-queue wait (after a wakeup or a preemption), under a storm of
// signals too. A signal that lands after the thread set TASK_INTERRUPTIBLE but before
// __schedule() decides keeps it queued, and 5.18-6.1-era kernels still pass the stale sleeping
// prev_state: without the collector's check of the live state that wait went unmeasured. The
// window is narrow (neither this host's kernel, which reports RUNNING there, nor a 6.1 TCG guest
// hit it in our runs); the invariant holds whether or not a run hits it.
void on_usr1(int) {}

TEST_P(SchedBpf, SignalledSleepsStillMeasureTheirRunQueueWait) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const std::vector<int> cpus = test::allowed_cpus();
  ASSERT_FALSE(cpus.empty());
  struct sigaction sa = {};
  struct sigaction old_sa = {};
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old_sa), 0);
  const uint32_t tid = static_cast<uint32_t>(syscall(SYS_gettid));
  auto collector = attached_collector(GetParam(), one_thread(tid));
  ASSERT_TRUE(collector.ok()) << collector.error().message;

  // The window is hit when the signal comes from another CPU and this CPU has another runnable
  // task to switch to (else the kernel just keeps running this one): a spinner shares this
  // thread's CPU, the sender runs on another.
  std::atomic<bool> done{false};
  const pthread_t self = pthread_self();
  std::thread spinner([&] {
    test::CpuPin pin(cpus.front());
    EXPECT_TRUE(pin.pinned()) << "spinner on CPU " << cpus.front();
    while (!done.load(std::memory_order_relaxed)) sched_yield();
  });
  std::thread storm([&] {
    test::CpuPin pin(cpus.size() > 1 ? cpus[1] : cpus.front());
    EXPECT_TRUE(pin.pinned()) << "signal sender";
    const timespec gap{0, 30000};  // a few signals per nap: most naps really sleep
    while (!done.load(std::memory_order_relaxed)) {
      pthread_kill(self, SIGUSR1);
      nanosleep(&gap, nullptr);
    }
  });
  {
    test::CpuPin pin(cpus.front());
    EXPECT_TRUE(pin.pinned()) << "sleeper on CPU " << cpus.front();
    const timespec nap{0, 20000};
    for (int i = 0; i < 3000; i++) nanosleep(&nap, nullptr);  // EINTR is the point
  }
  done = true;
  storm.join();
  spinner.join();
  auto snap = collector->read();
  collector->detach();
  sigaction(SIGUSR1, &old_sa, nullptr);
  ASSERT_TRUE(snap.ok()) << snap.error().message;

  const SchedGroup* mine = nullptr;
  for (const auto& g : snap->groups)
    if (!g.other && g.tid == tid) mine = &g;
  ASSERT_NE(mine, nullptr);
  const uint64_t measured = mine->count[AITRACE_SCHED_RUNQ_WAKEUP] + mine->count[AITRACE_SCHED_RUNQ_PREEMPT];
  EXPECT_GT(mine->counters.switches, 500u);
  // The first switch-in after attach has no wait to close; the rest all do.
  EXPECT_LE(mine->counters.switches, measured + 2)
      << "switch-ins without a run-queue sample (wakeup " << mine->count[AITRACE_SCHED_RUNQ_WAKEUP] << ", preempt "
      << mine->count[AITRACE_SCHED_RUNQ_PREEMPT] << ", involuntary " << mine->counters.involuntary << ")";
  // A wait whose switch-in went unseen (docs/sched.md, "Switches this VM never traces") is
  // repaired from the kernel's stamps or, where the arrival stamp lagged or the wakeup went unseen
  // too, from the growth of run_delay. Beside two CPU hogs 1 run in ~1,100 still counts one lost
  // (a growth that did not fit its gap, cause not found: docs/sched.md); unloaded, none was seen.
  EXPECT_EQ(snap->lost.transitions_missed, 0u) << "repaired " << snap->transitions_repaired;
}

// -t: a traced thread leaves the tid filter once it is freed, so a reused tid is not traced.
TEST_P(SchedBpf, ExitedThreadsLeaveTheTidFilter) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  std::promise<uint32_t> tid_promise;
  std::promise<void> release;
  std::thread worker([&] {
    tid_promise.set_value(static_cast<uint32_t>(syscall(SYS_gettid)));
    release.get_future().wait();
  });
  const uint32_t tid = tid_promise.get_future().get();
  auto collector = attached_collector(GetParam(), one_thread(tid));
  ASSERT_TRUE(collector.ok()) << collector.error().message;
  EXPECT_TRUE(collector->hooks().attached("sched:sched_process_free"));
  EXPECT_EQ(test::own_map_keys_u32("filter_tids"), std::vector<uint32_t>{tid});
  release.set_value();
  worker.join();
  std::vector<uint32_t> after;
  for (int tries = 0; tries < 100; tries++) {  // freed after an RCU grace period
    after = test::own_map_keys_u32("filter_tids");
    if (after.empty()) break;
    usleep(20000);
  }
  EXPECT_TRUE(after.empty()) << "tid " << tid << " still in the filter after its thread exited";
  collector->detach();
}

// The run's one window (docs/architecture.md): attached but not started, the programs run and
// count nothing; from start() on they count, and after stop() nothing again. The hold is set in
// .bss before load, so this also shows that the loaded object starts out held.
TEST_P(SchedBpf, CountsOnlyBetweenStartAndStop) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const uint32_t tid = static_cast<uint32_t>(syscall(SYS_gettid));
  auto collector = SchedCollector::open(one_thread(tid), test::features(GetParam()));
  ASSERT_TRUE(collector.ok()) << collector.error().message;
  ASSERT_TRUE(collector->load().ok());
  ASSERT_TRUE(collector->attach().ok());
  auto switches = [&] {
    auto snap = collector->read();
    uint64_t n = 0;
    if (snap.ok())
      for (const auto& g : snap->groups) n += g.counters.switches;
    return n;
  };
  for (int i = 0; i < 20; i++) usleep(500);  // 20 switch-outs and switch-ins, held
  EXPECT_EQ(switches(), 0u);
  collector->start();
  // Ground truth: the kernel's own count of this thread's switch-ins (schedstat's pcount), not
  // the number of naps: a nap whose timer fires before the thread reaches schedule() does not
  // switch. The 6.1 TCG guest of a CI run counted 19 for 20 naps.
  const unsigned long long in0 = own_schedstat().slices;
  for (int i = 0; i < 20; i++) usleep(500);
  const unsigned long long in1 = own_schedstat().slices;
  // A switch-in no tracer sees (docs/sched.md, "Switches this VM never traces": the CPU was
  // handed over by a thread of PID 1) is counted at the thread's next switch-out, from the
  // kernel's sched_info stamp. One more nap inside the window gives the last one that switch-out.
  usleep(500);
  collector->stop();
  auto snap = collector->read();
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  const uint64_t counted = switches();
  EXPECT_GE(in1 - in0, 10u) << "the naps mostly switched";
  // Every switch-in between the two reads, counted or, where the stamp could not close it,
  // shown as lost. At most the extra nap's switch-in and a preemption or two outside them more.
  EXPECT_GE(counted + snap->lost.transitions_missed, in1 - in0)
      << "repaired " << snap->transitions_repaired << ", missed " << snap->lost.transitions_missed;
  EXPECT_LE(counted, in1 - in0 + 3);
  for (int i = 0; i < 20; i++) usleep(500);
  EXPECT_EQ(switches(), counted) << "counted after stop()";
  collector->detach();
}

INSTANTIATE_TEST_SUITE_P(Flavours, SchedBpf, ::testing::Values("tp_btf", "raw_tp"),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

TEST(SchedBpfConfig, EveryGroupingAndClockPassesTheVerifier) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  for (SchedGroupBy by :
       {SchedGroupBy::thread, SchedGroupBy::process, SchedGroupBy::cgroup, SchedGroupBy::comm, SchedGroupBy::none}) {
    for (SchedClock clock : {SchedClock::wall, SchedClock::rq}) {
      SchedConfig cfg;
      cfg.group_by = by;
      cfg.clock = clock;
      cfg.max_groups = 4;
      cfg.dense_groups = 2;  // slots 2.. use the sparse histogram map
      cfg.targets.cfg.follow_forks = 1;
      cfg.targets.cfg.by_tgid = 1;
      cfg.targets.tgids = {static_cast<uint32_t>(getpid())};
      auto c = SchedCollector::open(cfg, test::features());
      // The rq clock is reached through se.cfs_rq (CONFIG_FAIR_GROUP_SCHED): refused without it.
      if (clock == SchedClock::rq && !task_has_group_cfs_rq()) {
        EXPECT_FALSE(c.ok());
        continue;
      }
      ASSERT_TRUE(c.ok()) << c.error().message;
      auto st = c->load();
      EXPECT_TRUE(st.ok()) << sched_group_by_name(by) << ": " << st.error().message;
      EXPECT_EQ(c->uses_rq_clock(), clock == SchedClock::rq);
    }
  }
}

}  // namespace
}  // namespace aitrace
