// `aitrace serve` against the real kernel and real clients: a Prometheus server (Debian's
// prometheus package) scraping it every second, promtool's parser, curl. Counters are checked
// against a direct scrape and across scrapes, never against a constant.
#include "aitrace/core/parse_number.hpp"
#include "aitrace/core/targets.hpp"
#include "test_support.hpp"

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace aitrace {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("aitrace_serve_" + std::to_string(getpid()) + "_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

struct Http {
  int code = 0;
  std::string body;
};

Http get(const std::string& url, const std::string& accept = "") {
  std::vector<std::string> argv = {"curl", "-sS", "-m", "5", "-w", "\n%{http_code}"};
  if (!accept.empty()) argv.insert(argv.end(), {"-H", "Accept: " + accept});
  argv.push_back(url);
  auto r = test::run_command(argv, 10s);
  Http h;
  size_t nl = r.out.rfind('\n');
  if (nl == std::string::npos) return h;
  h.code = aitrace::parse_number<int>(std::string_view(r.out).substr(nl + 1)).value_or(0);
  h.body = r.out.substr(0, nl);
  return h;
}

// A background process with stderr in a file; SIGTERM and reaped when it goes out of scope.
class Background {
 public:
  Background(const std::vector<std::string>& argv, const std::string& err_path)
      : pid_(test::spawn_background(argv, err_path)), err_path_(err_path) {}
  ~Background() { stop(); }
  // The exit status after SIGTERM (128+signal when it died of one).
  int stop() {
    if (pid_ <= 0) return status_;
    kill(pid_, SIGTERM);
    int st = 0;
    for (int i = 0; i < 100 && waitpid(pid_, &st, WNOHANG) == 0; i++) std::this_thread::sleep_for(50ms);
    if (waitpid(pid_, &st, WNOHANG) == 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &st, 0);
    }
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    pid_ = -1;
    return status_;
  }
  // False once it exited (reaped here: a zombie would still take kill(pid, 0)).
  bool running() {
    if (pid_ <= 0) return false;
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) != pid_) return true;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    pid_ = -1;
    return false;
  }
  std::string err() const { return test::read_file(err_path_); }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::string err_path_;
};

// aitrace serve on a free loopback port, waited for until /healthz answers 200 (first refresh).
class Serve {
 public:
  explicit Serve(std::vector<std::string> args, const std::string& name)
      : port_(test::free_port()), dir_(temp_dir(name)) {
    std::vector<std::string> argv = {test::aitrace_binary(), "serve", "--listen", addr()};
    argv.insert(argv.end(), args.begin(), args.end());
    proc_ = std::make_unique<Background>(argv, dir_ + "/serve.err");
    for (int i = 0; i < 200; i++) {
      if (get(url("/healthz")).code == 200) {
        ready_ = true;
        return;
      }
      if (!proc_->running()) return;
      std::this_thread::sleep_for(50ms);
    }
  }
  ~Serve() { fs::remove_all(dir_); }
  bool ready() const { return ready_; }
  std::string addr() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url(const std::string& path) const { return "http://" + addr() + path; }
  std::string scrape(const std::string& accept = "") const { return get(url("/metrics"), accept).body; }
  std::string err() const { return proc_->err(); }
  int stop() { return proc_->stop(); }
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }

 private:
  int port_;
  std::string dir_;
  std::unique_ptr<Background> proc_;
  bool ready_ = false;
};

// Every sample line of a text exposition: "name{labels}" -> value.
std::map<std::string, double> samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    const char* value = line.c_str() + sp + 1;
    char* end = nullptr;
    const double v = std::strtod(value, &end);
    // Not a sample line (the 503 body "aitrace: collectors starting" a poll may get): left out,
    // where atof used to record it as 0.
    if (end == value || *end != '\0') continue;
    out[line.substr(0, sp)] = v;
  }
  return out;
}

std::string runq_count(const std::string& comm) {
  return "aitrace_sched_runqueue_wait_seconds_count{comm=\"" + comm + "\",kind=\"wakeup\"}";
}

// Prometheus scrapes serve every second (in OpenMetrics: it asks for it first); the count it
// stores rises with the workload and, once the workload is done, equals a direct scrape.
TEST(ServeE2E, PrometheusScrapesAHistogramCountThatRisesAndMatchesADirectScrape) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  if (!fs::exists("/usr/bin/prometheus")) AITRACE_REQUIRE_ENV_OR_SKIP("prometheus is not installed (scripts/setup)");
  Serve serve({"--by", "comm", "-i", "200ms", "--comm", "srv_steady"}, "prom");
  ASSERT_TRUE(serve.ready()) << serve.err();
  const int prom_port = test::free_port();
  const std::string dir = serve.dir();
  {
    std::ofstream cfg(dir + "/prometheus.yml");
    cfg << "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
        << "scrape_configs:\n  - job_name: aitrace\n    static_configs:\n      - targets: ['" << serve.addr()
        << "']\n";
  }
  Background prom({"prometheus", "--config.file=" + dir + "/prometheus.yml", "--storage.tsdb.path=" + dir + "/data",
                   "--web.listen-address=127.0.0.1:" + std::to_string(prom_port), "--log.level=warn"},
                  dir + "/prometheus.err");
  const std::string api = "http://127.0.0.1:" + std::to_string(prom_port) + "/api/v1/query?query=";
  // -1: no sample (yet); the query names the series by its labels.
  auto prom_value = [&](const std::string& promql) -> double {
    auto h = get(api + promql);
    auto doc = nlohmann::json::parse(h.body, nullptr, false);
    if (doc.is_discarded() || doc.value("status", "") != "success") return -1;
    const auto& res = doc["data"]["result"];
    if (!res.is_array() || res.empty()) return -1;
    return std::stod(res[0]["value"][1].get<std::string>());
  };
  const std::string q = "aitrace_sched_runqueue_wait_seconds_count%7Bcomm%3D%22srv_steady%22%2Ckind%3D%22wakeup%22%7D";
  auto wait_stable = [&](double above) {
    // Until Prometheus holds what serve shows now, the workload being done (at most ~15 s).
    for (int i = 0; i < 60; i++) {
      const double direct = samples(serve.scrape())[runq_count("srv_steady")];
      const double stored = prom_value(q);
      if (stored > above && stored == direct) return stored;
      std::this_thread::sleep_for(250ms);
    }
    return -1.0;
  };
  auto run_workload = [] {
    auto r = test::run_command({test::workload("named_threads"), "steady", "400", "srv_steady"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  };
  run_workload();
  const double first = wait_stable(0);
  ASSERT_GT(first, 0) << "Prometheus never stored the count of a direct scrape\nserve: " << serve.err()
                      << "\nprometheus: " << test::read_file(dir + "/prometheus.err");
  run_workload();
  const double second = wait_stable(first);
  ASSERT_GT(second, first) << "the stored count did not rise, or stopped matching a direct scrape";
  // Prometheus parsed every scrape (up == 1) and negotiated OpenMetrics.
  EXPECT_EQ(prom_value("up%7Bjob%3D%22aitrace%22%7D"), 1);
  const Http om = get(serve.url("/metrics"), "application/openmetrics-text;version=1.0.0");
  EXPECT_TRUE(om.body.ends_with("# EOF\n"));
  EXPECT_EQ(serve.stop(), 0) << serve.err();
}

// promtool's parser and linter accept a scrape, hostile comm names included, and the label
// values read back as the bytes the tasks set.
TEST(ServeE2E, PromtoolAcceptsAScrapeWithHostileCommNames) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  if (!fs::exists("/usr/bin/promtool")) AITRACE_REQUIRE_ENV_OR_SKIP("promtool is not installed (scripts/setup)");
  Serve serve({"--by", "comm", "-i", "100ms"}, "hostile");
  ASSERT_TRUE(serve.ready()) << serve.err();
  const std::vector<std::string> names = {"q\"uote", "back\\slash", "new\nline", "brace}{,=", "tab\tx",
                                         "esc\x1b[31m",  "bad\xff",      "lit\\xff"};
  std::vector<std::string> argv = {test::workload("named_threads"), "steady", "300"};
  argv.insert(argv.end(), names.begin(), names.end());
  auto r = test::run_command(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::this_thread::sleep_for(300ms);
  const std::string text = serve.scrape();
  const std::string file = serve.dir() + "/scrape.txt";
  std::ofstream(file) << text;
  auto check = test::run_command({"/bin/sh", "-c", "promtool check metrics < " + file});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  auto m = samples(text);
  EXPECT_GT(m[runq_count("q\\\"uote")], 0) << text.substr(0, 2000);
  // The value is the comm as JSON has it (a backslash doubled, so a literal `\xff` and a 0xff byte
  // differ), escaped once more for the exposition format.
  EXPECT_GT(m[runq_count("back\\\\\\\\slash")], 0);
  EXPECT_GT(m[runq_count("new\\nline")], 0);
  EXPECT_GT(m[runq_count("brace}{,=")], 0);
  EXPECT_GT(m[runq_count("tab\\\\x09x")], 0);
  EXPECT_GT(m[runq_count("esc\\\\x1b[31m")], 0);
  EXPECT_GT(m[runq_count("bad\\\\xff")], 0);
  EXPECT_GT(m[runq_count("lit\\\\\\\\xff")], 0);
  // No line of the scrape is anything but a comment or one sample.
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) EXPECT_TRUE(line.starts_with("# ") || line.starts_with("aitrace_")) << line;
}

// --by container: a spinner in a fake docker container's cgroup (made by the test, named as
// docker's systemd driver names it) is exported under that container's id; promtool accepts it.
TEST(ServeE2E, ByContainerLabelsTheContainersSeries) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const std::string mount = cgroup2_mount();
  if (mount.empty()) AITRACE_REQUIRE_ENV_OR_SKIP("no cgroup2 mount");
  const std::string id = "5e7e" + std::string(60, '1');
  const fs::path base = fs::path(mount) / ("aitrace-serve-" + std::to_string(getpid()) + ".slice");
  const fs::path scope = base / ("docker-" + id + ".scope");
  std::error_code ec;
  fs::create_directories(scope, ec);
  ASSERT_FALSE(ec) << scope << ": " << ec.message();
  Serve serve({"--by", "container", "-i", "200ms"}, "container");
  const pid_t spinner = test::spawn_background({"sh", "-c", "while :; do :; done"});
  std::ofstream(scope / "cgroup.procs") << spinner << "\n";
  std::this_thread::sleep_for(1s);
  const std::string text = serve.scrape();
  kill(spinner, SIGKILL);
  waitpid(spinner, nullptr, 0);
  rmdir(scope.c_str());
  rmdir(base.c_str());
  ASSERT_TRUE(serve.ready()) << serve.err();
  auto m = samples(text);
  const std::string labels = "container=\"" + id.substr(0, 12) + "\",container_id=\"" + id + "\",pod_uid=\"\"";
  EXPECT_GT(m["aitrace_sched_oncpu_seconds_count{" + labels + "}"], 0) << text.substr(0, 3000);
  EXPECT_GT(m["aitrace_sched_switches_total{container=\"host\",container_id=\"\",pod_uid=\"\"}"], 0);
  if (fs::exists("/usr/bin/promtool")) {
    const std::string file = serve.dir() + "/scrape.txt";
    std::ofstream(file) << text;
    auto check = test::run_command({"/bin/sh", "-c", "promtool check metrics < " + file});
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  }
}

// Threads that exit and are replaced (each a new task, its state dropped in the kernel): no
// counter or bucket of any series ever goes down between scrapes.
TEST(ServeE2E, CountersStayMonotonicAcrossThreadsThatExitAndAreReplaced) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  Serve serve({"--by", "comm", "-i", "100ms"}, "monotonic");
  ASSERT_TRUE(serve.ready()) << serve.err();
  Background churn({test::workload("named_threads"), "churn", "2500", "srv_churn"}, serve.dir() + "/churn.err");
  std::map<std::string, double> last;
  size_t checked = 0, scrapes = 0;
  while (churn.running() && scrapes < 40) {
    auto now = samples(serve.scrape());
    scrapes++;
    for (const auto& [k, v] : now) {
      if (!(k.find("_total") != std::string::npos || k.find("_count{") != std::string::npos ||
            k.find("_bucket{") != std::string::npos))
        continue;
      auto it = last.find(k);
      if (it != last.end()) {
        EXPECT_GE(v, it->second) << k << " went backwards";
        checked++;
      }
    }
    for (const auto& [k, v] : now) last[k] = v;
    std::this_thread::sleep_for(150ms);
  }
  churn.stop();
  auto final_samples = samples(serve.scrape());
  EXPECT_GT(scrapes, 5u);
  EXPECT_GT(checked, 100u);
  EXPECT_GT(final_samples["aitrace_sched_switches_total{comm=\"srv_churn\"}"], 100) << "the churning threads ran";
}

// Many short-lived processes with --by process: the exported groups stay at the cap, the rest
// fold into other, and every fold is counted.
TEST(ServeE2E, CardinalityCapHoldsUnderManyShortLivedProcesses) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  constexpr int kCap = 50, kProcesses = 3000;
  Serve serve({"--by", "process", "--max-groups", std::to_string(kCap), "-i", "200ms"}, "cap");
  ASSERT_TRUE(serve.ready()) << serve.err();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = test::run_command(
      {"/bin/sh", "-c", "i=0; while [ $i -lt " + std::to_string(kProcesses) + " ]; do /bin/true; i=$((i+1)); done"},
      120s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::cerr << kProcesses << " processes in "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s\n";
  std::this_thread::sleep_for(500ms);
  const std::string text = serve.scrape();
  auto m = samples(text);
  std::set<std::string> pids;
  for (const auto& [k, v] : m)
    if (k.starts_with("aitrace_sched_switches_total{pid=\"")) pids.insert(k.substr(0, k.find(',')));
  EXPECT_LE(pids.size(), static_cast<size_t>(kCap) + 1);
  EXPECT_EQ(pids.count("aitrace_sched_switches_total{pid=\"other\""), 1u);
  EXPECT_EQ(m["aitrace_serve_groups"], kCap);
  EXPECT_GE(m["aitrace_serve_folded_groups_total"], kProcesses - kCap);
  EXPECT_LT(text.size(), 2u << 20) << "the scrape grew with the processes";
}

// Processes come and go for longer than the cap lasts: with --retire-after, the exited ones'
// groups end and later processes get their own series instead of `other`, and no sample of any
// label set ever goes down across the scrapes taken meanwhile.
TEST(ServeE2E, ExitedProcessGroupsRetireSoLaterProcessesAreExported) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  constexpr int kCap = 20;
  Serve serve({"--by", "process", "--max-groups", std::to_string(kCap), "--retire-after", "600ms", "-i", "200ms"},
              "retire");
  ASSERT_TRUE(serve.ready()) << serve.err();
  std::map<std::string, double> highest;
  size_t decreases = 0;
  auto scrape = [&] {
    auto m = samples(serve.scrape());
    for (const auto& [k, v] : m) {
      if (!k.ends_with("_total") && k.find("_total{") == std::string::npos && k.find("_count") == std::string::npos &&
          k.find("_bucket") == std::string::npos)
        continue;
      if (k.starts_with("aitrace_serve_groups")) continue;
      auto [it, fresh] = highest.try_emplace(k, v);
      if (!fresh && v < it->second) {
        decreases++;
        ADD_FAILURE() << k << " went from " << it->second << " to " << v;
      }
      it->second = std::max(it->second, v);
    }
    return m;
  };
  // Three waves of 100 processes, each more than the cap; between them the exited ones retire.
  std::set<std::string> exported_pids;
  double retired = 0;
  for (int wave = 0; wave < 3; wave++) {
    auto r = test::run_command({"/bin/sh", "-c", "i=0; while [ $i -lt 100 ]; do /bin/true; i=$((i+1)); done"}, 60s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (int i = 0; i < 8; i++) {
      std::this_thread::sleep_for(200ms);
      auto m = scrape();
      for (const auto& [k, v] : m)
        if (k.starts_with("aitrace_sched_switches_total{pid=\"") && !k.starts_with("aitrace_sched_switches_total{pid=\"other"))
          exported_pids.insert(k.substr(0, k.find(',')));
      EXPECT_LE(m["aitrace_serve_groups"], kCap);
      retired = m["aitrace_serve_retired_groups_total"];
    }
  }
  // Without retirement at most kCap processes ever get series (a process is named when first
  // seen, before its exec: most of the waves' are "sh"); each wave brought new ones.
  EXPECT_GT(exported_pids.size(), static_cast<size_t>(kCap)) << "later processes were all folded";
  // Every place beyond the cap was freed by a retirement.
  EXPECT_GE(retired + kCap, static_cast<double>(exported_pids.size()));
  EXPECT_GT(retired, 0);
  EXPECT_EQ(decreases, 0u);
}

long long vmstat(const std::string& key) {
  std::istringstream in(test::read_file("/proc/vmstat"));
  std::string k;
  long long v;
  while (in >> k >> v)
    if (k == key) return v;
  return -1;
}

// Page migrations by reason: the succeeded pages serve counts over a compaction run equal the
// kernel's own pgmigrate_success delta. Background migrations (kcompactd) can fall between the
// two reads on one attempt, so within five attempts one must move pages and match exactly.
TEST(ServeE2E, MigratedPagesByReasonEqualTheVmstatDelta) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  Serve serve({"-i", "100ms"}, "migrate");
  ASSERT_TRUE(serve.ready()) << serve.err();
  auto served_pages = [&] {
    std::this_thread::sleep_for(300ms);  // every migration so far is in a refresh
    double total = 0;
    for (const auto& [k, v] : samples(serve.scrape()))
      if (k.starts_with("aitrace_migrate_pages_total{") && k.find("result=\"succeeded\"") != std::string::npos)
        total += v;
    return static_cast<long long>(total);
  };
  bool exact = false;
  std::string log;
  for (int attempt = 0; attempt < 5 && !exact; attempt++) {
    const long long s0 = served_pages(), v0 = vmstat("pgmigrate_success");
    auto r = test::run_command({test::workload("migrate_fragment"), "--mb", "32", "--drop-caches-if-stuck"}, 60s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const long long v1 = vmstat("pgmigrate_success"), s1 = served_pages();
    log += "attempt " + std::to_string(attempt) + ": served " + std::to_string(s1 - s0) + ", vmstat " +
           std::to_string(v1 - v0) + "\n";
    exact = v1 > v0 && s1 - s0 == v1 - v0;
  }
  EXPECT_TRUE(exact) << log;
  const std::string text = serve.scrape();
  EXPECT_NE(text.find("aitrace_migrate_pages_total{reason=\"compaction\",result=\"succeeded\"}"), std::string::npos)
      << log;
  EXPECT_NE(text.find("aitrace_migrate_call_duration_seconds_count{reason=\"compaction\"}"), std::string::npos);
}

// Clients that connect and stall (half a request, never finished; more of them than the HTTP
// thread pool has threads) hold HTTP threads, never the run loop: refreshes go on at -i.
TEST(ServeE2E, StalledClientsDoNotStallCollection) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  Serve serve({"-i", "100ms"}, "stall");
  ASSERT_TRUE(serve.ready()) << serve.err();
  const double before = samples(serve.scrape())["aitrace_serve_refreshes_total"];
  std::vector<int> stalled;
  for (int i = 0; i < 32; i++) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(serve.port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    const char partial[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
    ASSERT_GT(write(s, partial, sizeof(partial) - 1), 0);
    stalled.push_back(s);
  }
  std::this_thread::sleep_for(2s);
  for (int s : stalled) close(s);
  // Scrapes may have queued behind the stalled connections; once they are gone, the count shows
  // the refreshes made meanwhile.
  const double after = samples(serve.scrape())["aitrace_serve_refreshes_total"];
  EXPECT_GE(after - before, 12) << "refreshes stalled while clients held connections";
}

// The HTTP surface beyond a scrape: HEAD answers without a body, another method gets 405 with
// Allow, another path 404, and a keep-alive connection serves two scrapes in a row.
TEST(ServeE2E, MethodsPathsAndKeepAliveAreAnsweredAsHttpSays) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  Serve serve({"-i", "100ms"}, "http");
  ASSERT_TRUE(serve.ready()) << serve.err();
  auto curl = [](std::vector<std::string> args) {
    std::vector<std::string> argv = {"curl", "-sS", "-m", "5"};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::run_command(argv, 10s);
  };
  auto head = curl({"-I", serve.url("/metrics")});
  EXPECT_EQ(head.out.rfind("HTTP/1.1 200", 0), 0u) << head.out;
  EXPECT_NE(head.out.find("Content-Length: "), std::string::npos) << head.out;
  auto post = curl({"-X", "POST", "-D", "-", "-o", "/dev/null", serve.url("/metrics")});
  EXPECT_EQ(post.out.rfind("HTTP/1.1 405", 0), 0u) << post.out;
  EXPECT_NE(post.out.find("Allow: GET, HEAD"), std::string::npos) << post.out;
  EXPECT_EQ(get(serve.url("/nope")).code, 404);
  // curl reuses the connection for the second URL and says so on stderr with -v.
  auto two = curl({"-v", "-o", "/dev/null", "-o", "/dev/null", serve.url("/metrics"), serve.url("/metrics")});
  EXPECT_EQ(two.exit_code, 0) << two.err;
  EXPECT_NE(two.err.find("Re-using existing connection"), std::string::npos) << two.err;
}

TEST(ServeE2E, ASecondServeOnTheSamePortFailsCleanly) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  Serve first({}, "second");
  ASSERT_TRUE(first.ready()) << first.err();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = test::run_command({test::aitrace_binary(), "serve", "--listen", first.addr()}, 20s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "aitrace: cannot listen on " + first.addr() + ": the port is in use (another aitrace serve?)\n");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s) << "it loaded BPF before binding";
  EXPECT_EQ(get(first.url("/healthz")).code, 200) << "the first serve was disturbed";
}

// Bad --listen values fail before anything is loaded, with one line and the usage exit code.
TEST(ServeE2E, BadListenAddressesGiveOneLineAndNonZeroExit) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  for (const char* bad : {"1.2.3:9477", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "::1:9477", "host:9477"}) {
    auto r = test::run_command({test::aitrace_binary(), "serve", "--listen", bad});
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.err;
    EXPECT_TRUE(r.err.starts_with("aitrace: invalid --listen")) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  // 192.0.2.1 (TEST-NET-1) is on no interface of a test host.
  auto r = test::run_command({test::aitrace_binary(), "serve", "--listen", "192.0.2.1:9477"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err, "aitrace: cannot listen on 192.0.2.1:9477: not an address of this host\n");
}

// What deploy/systemd/aitrace.service grants: a user that is not root, with CAP_BPF and
// CAP_PERFMON only (ambient, bounding set cleared of the rest).
TEST(ServeE2E, ServesAsAnUnprivilegedUserWithOnlyCapBpfAndCapPerfmon) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  if (!fs::exists("/usr/bin/setpriv")) AITRACE_REQUIRE_ENV_OR_SKIP("setpriv is not installed (util-linux)");
  const std::string dir = temp_dir("caps");
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  const std::string bin = dir + "/aitrace";
  fs::copy_file(test::aitrace_binary(), bin);
  const int port = test::free_port();
  const std::string addr = "127.0.0.1:" + std::to_string(port);
  Background serve({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all,+bpf,+perfmon",
                    "--ambient-caps=-all,+bpf,+perfmon", "--bounding-set=-all,+bpf,+perfmon", bin, "serve", "--listen",
                    addr, "-i", "100ms"},
                   dir + "/serve.err");
  double switches = 0;
  for (int i = 0; i < 100 && switches == 0; i++) {
    std::this_thread::sleep_for(100ms);
    for (const auto& [k, v] : samples(get("http://" + addr + "/metrics").body))
      if (k.starts_with("aitrace_sched_switches_total")) switches += v;
  }
  EXPECT_GT(switches, 0) << test::read_file(dir + "/serve.err");
  EXPECT_EQ(serve.stop(), 0) << test::read_file(dir + "/serve.err");
  fs::remove_all(dir);
}

// A port below net.ipv4.ip_unprivileged_port_start without CAP_NET_BIND_SERVICE.
TEST(ServeE2E, APrivilegedPortWithoutTheCapabilityIsRefused) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const int start =
      aitrace::parse_number_line<int>(test::read_file("/proc/sys/net/ipv4/ip_unprivileged_port_start")).value();
  // The kernel checks the privilege before the address is in use, so any port below the start will do.
  if (start <= 1)
    AITRACE_REQUIRE_ENV_OR_SKIP("ip_unprivileged_port_start is " + std::to_string(start) + ": no port needs a capability");
  const std::string port = std::to_string(std::min(80, start - 1));
  if (!fs::exists("/usr/bin/setpriv")) AITRACE_REQUIRE_ENV_OR_SKIP("setpriv is not installed (util-linux)");
  auto r = test::run_command({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                              test::aitrace_binary(), "serve", "--listen", "127.0.0.1:" + port});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_EQ(r.err, "aitrace: cannot listen on 127.0.0.1:" + port +
                       ": ports below net.ipv4.ip_unprivileged_port_start need CAP_NET_BIND_SERVICE\n");
}

}  // namespace
}  // namespace aitrace
