// The JSON documents of real runs against the key tables in docs/ (docs/json.md, "Key tables"):
// every key a run emits is documented with its type, and every documented key is emitted, unless
// the table says when it is left out or it sits in a container this run left empty (printed, so
// a reader sees what this host could not exercise).
#include "command_reports.hpp"
#include "test_support.hpp"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace aitrace {
namespace {

using nlohmann::json;

struct DocKey {
  std::string type;  // u64, i64, double, string, bool, object, map, array, H, E, T, [..] (not descended), x|null
  bool optional = false;  // the table's "when" cell names a condition (its own or its shape key's)
  std::string shape_key;  // for a key of a shape: the key of the shape's type it is under ...
  bool required_under_shape_key = false;  // ... and it has no condition of its own in the shape's table
};
using DocKeys = std::map<std::string, DocKey>;

std::string docs_file(const std::string& name) { return test::read_file(std::string(AITRACE_SOURCE_DIR) + "/docs/" + name); }

std::vector<std::string> cells(const std::string& row) {
  std::vector<std::string> out;
  std::string cell;
  bool code = false;
  for (size_t i = 1; i < row.size(); i++) {  // row[0] is the leading '|'
    const char c = row[i];
    if (c == '`') code = !code;
    if (c == '|' && !cell.empty() && cell.back() == '\\') {  // `\|`: a bar inside a cell
      cell.back() = '|';
      continue;
    }
    if (c == '|' && !code) {
      out.push_back(cell);
      cell.clear();
      continue;
    }
    cell += c;
  }
  for (auto& s : out) {
    s.erase(0, s.find_first_not_of(' '));
    s.erase(s.find_last_not_of(' ') + 1);
  }
  return out;
}

std::string unquote(const std::string& s) {
  return s.size() >= 2 && s.front() == '`' && s.back() == '`' ? s.substr(1, s.size() - 2) : s;
}

// The table after `<!-- keys: NAME -->` in `text`: | key | type | when | meaning |.
DocKeys key_table(const std::string& text, const std::string& name) {
  DocKeys keys;
  const std::string marker = "<!-- keys: " + name + " -->";
  size_t at = text.find(marker);
  if (at == std::string::npos) return keys;
  std::istringstream in(text.substr(at + marker.size()));
  std::string line;
  int row = 0;
  while (std::getline(in, line)) {
    if (line.empty() && row == 0) continue;
    if (line.empty() || line[0] != '|') break;
    if (row++ < 2) continue;  // header and separator
    auto c = cells(line);
    if (c.size() < 3) continue;
    keys[unquote(c[0])] = {unquote(c[1]), !c[2].empty(), {}, false};
  }
  return keys;
}

// The shared object shapes a key's type can name, each a table of its own: the histogram `H`
// (json.md), the EEVDF thread object `E` and trace statistics `T` (eevdf.md).
std::map<std::string, DocKeys> shapes() {
  const std::string json_md = docs_file("json.md"), eevdf_md = docs_file("eevdf.md");
  std::map<std::string, DocKeys> out{
      {"H", key_table(json_md, "H")}, {"E", key_table(eevdf_md, "E")}, {"T", key_table(eevdf_md, "T")}};
  for (const auto& [name, keys] : out) EXPECT_FALSE(keys.empty()) << "no <!-- keys: " << name << " --> table";
  return out;
}

// A schema's keys: the envelope's (a report document's; not capture's summary), its own, and a
// shape's under every key of that shape's type (one level: no shape holds another).
DocKeys schema_keys(const std::string& schema, const std::string& doc_file, bool envelope = true) {
  DocKeys all = envelope ? key_table(docs_file("json.md"), "envelope") : DocKeys{};
  const DocKeys own = key_table(docs_file(doc_file), schema);
  EXPECT_FALSE(own.empty()) << "no <!-- keys: " << schema << " --> table in docs/" << doc_file;
  const auto shape_tables = shapes();
  for (const auto& [path, key] : own) {
    all[path] = key;
    auto shape = shape_tables.find(key.type);
    if (shape == shape_tables.end()) continue;
    for (const auto& [sub, sk] : shape->second)
      all[path + '.' += sub] = {sk.type, key.optional || sk.optional, path, !sk.optional};
  }
  return all;
}

bool type_matches(const json& v, const std::string& type) {
  if (auto bar = type.find('|'); bar != std::string::npos)
    return type_matches(v, type.substr(0, bar)) || type_matches(v, type.substr(bar + 1));
  if (type == "null") return v.is_null();
  if (type == "u64") return v.is_number_unsigned();
  if (type == "i64") return v.is_number_integer();
  if (type == "double") return v.is_number();
  if (type == "string") return v.is_string();
  if (type == "bool") return v.is_boolean();
  if (type == "object" || type == "map" || type == "H" || type == "E" || type == "T" || type == "document")
    return v.is_object();
  if (type == "array" || type[0] == '[') return v.is_array();
  return false;
}

struct Walk {
  const DocKeys& docs;
  std::set<std::string> emitted, empty_containers, undocumented, wrong_type;

  // `path` ends in "[]" for an array's element: a key of its own only inside it (`groups[].pid`).
  void visit(const json& v, const std::string& path) {
    const bool element = path.size() >= 2 && path.compare(path.size() - 2, 2, "[]") == 0;
    if (!path.empty() && !element) {
      emitted.insert(path);
      auto it = docs.find(path);
      if (it == docs.end()) {
        undocumented.insert(path);
        return;
      }
      if (!type_matches(v, it->second.type)) wrong_type.insert(path + " (" + v.dump().substr(0, 60) + ")");
      // An array of scalars or tuples: one documented value; a document: checked by its own table.
      if (it->second.type[0] == '[' || it->second.type == "document") return;
      if ((v.is_object() || v.is_array()) && v.empty()) empty_containers.insert(path);
      if (it->second.type == "map") {
        for (const auto& [k, child] : v.items()) visit(child, path + ".*");
        return;
      }
    }
    if (v.is_object())
      for (const auto& [k, child] : v.items()) visit(child, path.empty() ? k : path + '.' += k);
    else if (v.is_array())
      for (const auto& child : v) visit(child, path + "[]");
  }
};

bool under_any(const std::string& path, const std::set<std::string>& prefixes) {
  for (const auto& p : prefixes)
    if (path.size() > p.size() && path.compare(0, p.size(), p) == 0 && (path[p.size()] == '.' || path[p.size()] == '['))
      return true;
  return false;
}

// Every key the walk saw is documented with its type, and every documented key was seen.
void expect_walk_matches(const std::string& schema, const std::string& doc_file, const DocKeys& docs, const Walk& walk) {
  for (const auto& p : walk.undocumented) ADD_FAILURE() << schema << ": " << p << " is emitted but not in docs/" << doc_file;
  for (const auto& p : walk.wrong_type)
    ADD_FAILURE() << schema << ": " << p << " does not have the documented type " << docs.at(p.substr(0, p.find(' '))).type;
  std::vector<std::string> unexercised;
  for (const auto& [path, key] : docs) {
    if (walk.emitted.count(path)) continue;
    // A shape's unconditional key is due wherever its shape key was emitted, even a conditional one.
    if (key.optional && !(key.required_under_shape_key && walk.emitted.count(key.shape_key))) continue;
    if (under_any(path, walk.empty_containers)) {
      unexercised.push_back(path);
      continue;
    }
    ADD_FAILURE() << schema << ": docs/" << doc_file << " lists " << path << ", which no document of the run has";
  }
  if (!unexercised.empty()) {
    std::string list;
    for (const auto& p : unexercised) list += " " + p;
    std::cout << "[ note ] " << schema << ": in containers this host left empty, not checked:" << list << "\n";
  }
}

void expect_documented_exactly(const std::string& schema, const std::string& doc_file,
                               const std::vector<std::vector<std::string>>& runs) {
  const DocKeys docs = schema_keys(schema, doc_file);
  ASSERT_FALSE(docs.empty());
  Walk walk{docs, {}, {}, {}, {}};
  bool interval = false, final = false;
  for (const auto& args : runs) {
    std::vector<std::string> argv{test::aitrace_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = test::run_command(argv, std::chrono::seconds(120));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto docs_out = test::report_documents(r.out);
    ASSERT_FALSE(docs_out.empty()) << r.out.substr(0, 400) << r.err;
    for (const json& d : docs_out) {
      EXPECT_EQ(d["schema"], schema);
      (d.value("interval", false) ? interval : final) = true;
      walk.visit(d, "");
    }
  }
  EXPECT_TRUE(interval && final) << "the runs must give interval and final documents";
  expect_walk_matches(schema, doc_file, docs, walk);
}

TEST(JsonKeys, SchedDocumentsHaveExactlyTheDocumentedKeys) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  expect_documented_exactly("aitrace.sched/2", "sched.md",
                            {{"sched", "--json", "--by", "thread", "-i", "300ms", "-d", "700ms"},
                             {"sched", "--json", "--by", "cgroup", "-d", "300ms"},
                             {"sched", "--json", "--by", "container", "-d", "300ms"}});
}

// The EEVDF keys that --eevdf and --trace add to sched's document, and the hidden sched-trace's
// own document. eevdf_threads' two spinners on one CPU preempt each other (top_preemptors filled).
TEST(JsonKeys, SchedEevdfDocumentsHaveExactlyTheDocumentedKeys) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const std::string dir = (std::filesystem::temp_directory_path() / ("aitrace_json_keys_" + std::to_string(getpid()))).string();
  std::filesystem::create_directories(dir);
  expect_documented_exactly("aitrace.sched/2", "sched.md",
                            {{"sched", "--json", "--eevdf", "--trace", dir + "/t.pftrace", "-i", "300ms", "--",
                              test::workload("eevdf_threads"), "slice", dir + "/truth.txt", "700"}});
  expect_documented_exactly("aitrace.eevdf/1", "eevdf.md",
                            {{"sched-trace", "--json", "-i", "300ms", "--", test::workload("eevdf_threads"), "slice",
                              dir + "/truth2.txt", "700"}});
  std::filesystem::remove_all(dir);
}

TEST(JsonKeys, MigrateDocumentsHaveExactlyTheDocumentedKeys) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  // The workload compacts memory, so the per-reason and per-group objects are filled.
  expect_documented_exactly("aitrace.migrate/2", "migrate.md",
                            {{"migrate", "--json", "-a", "-i", "200ms", "--", test::workload("migrate_fragment"),
                              "--mb", "16", "--drop-caches-if-stuck"},
                             {"migrate", "--json", "--by", "reason", "-d", "200ms"},
                             {"migrate", "--json", "--by", "cgroup", "-d", "200ms"}});
}

TEST(JsonKeys, DmaDocumentsHaveExactlyTheDocumentedKeys) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  expect_documented_exactly("aitrace.dma/2", "dma.md", {{"dma", "--json", "-i", "200ms", "-d", "500ms"}});
}

TEST(JsonKeys, OffcpuDocumentsHaveExactlyTheDocumentedKeys) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  // The workload's pipe reads are woken by its writer thread: stacks with a waker object.
  expect_documented_exactly("aitrace.offcpu/2", "offcpu.md",
                            {{"offcpu", "--json", "--wakers", "--max", "10s", "-i", "200ms", "--",
                              test::workload("offcpu_chain"), "pipe", "500"}});
}

// capture's summary.json against its table in docs/capture.md (the collectors' documents inside it
// are the ones the tests above check, rendered by the same code).
TEST(JsonKeys, CaptureSummaryHasExactlyTheDocumentedKeys) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const std::string dir = testing::TempDir() + "aitrace_capture_keys_" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  auto r = test::run_command({test::aitrace_binary(), "capture", "-d", "1500ms", "-i", "500ms", "-o", dir}, std::chrono::seconds(120));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json summary = json::parse(test::read_file(dir + "/summary.json"), nullptr, false);
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(summary.is_object());
  EXPECT_EQ(summary["schema"], "aitrace.capture/1");
  const DocKeys docs = schema_keys("aitrace.capture/1", "capture.md", false);
  ASSERT_FALSE(docs.empty());
  Walk walk{docs, {}, {}, {}, {}};
  walk.visit(summary, "");
  expect_walk_matches("aitrace.capture/1", "capture.md", docs, walk);
}

// Two collectors in one document (sched --eevdf): one envelope, sched's schema and lost, and the
// hooks of both, as each alone reports them.
TEST(JsonKeys, OneEnvelopeListsTheHooksOfEveryCollector) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto run = [](const std::vector<std::string>& args) {
    std::vector<std::string> argv{test::aitrace_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = test::run_command(argv, std::chrono::seconds(60));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto docs = test::report_documents(r.out);
    return docs.size() == 1 ? docs[0] : json();
  };
  const json both = run({"sched", "--eevdf", "--json", "-d", "300ms"});
  const json sched = run({"sched", "--json", "-d", "300ms"});
  const json eevdf = run({"sched-trace", "--json", "-d", "300ms"});
  ASSERT_TRUE(both.is_object() && sched.is_object() && eevdf.is_object());
  EXPECT_EQ(both["schema"], "aitrace.sched/2");
  EXPECT_EQ(eevdf["schema"], "aitrace.eevdf/1");
  for (const char* k : {"ring_buffer_full", "no_ring", "program_busy"})
    EXPECT_TRUE(eevdf["lost"][k].is_number_unsigned()) << k << ": " << eevdf["lost"];
  EXPECT_TRUE(both["lost"].contains("groups_overflow")) << "the first collector's lost: " << both["lost"];
  for (const json* alone : {&sched, &eevdf})
    for (const auto& [event, state] : alone->at("hooks").items())
      EXPECT_EQ(both["hooks"].value(event, ""), state.get<std::string>()) << event;
  EXPECT_GT(both["hooks"].size(), sched["hooks"].size()) << "the EEVDF trace hooks sched_waking too";
}

// The parser itself, on a table written here: a broken parser would pass every check above.
TEST(JsonKeys, KeyTablesAreParsed) {
  const std::string md = "text\n<!-- keys: x -->\n| key | type | when | meaning |\n|---|---|---|---|\n"
                         "| `a.b` | u64\\|null | | one |\n| `c[]` | `[u64]` | only with -x | a \\| b |\n\nafter\n";
  DocKeys k = key_table(md, "x");
  ASSERT_EQ(k.size(), 2u);
  EXPECT_EQ(k["a.b"].type, "u64|null");
  EXPECT_FALSE(k["a.b"].optional);
  EXPECT_EQ(k["c[]"].type, "[u64]");
  EXPECT_TRUE(k["c[]"].optional);
  EXPECT_TRUE(key_table(md, "y").empty());
}

}  // namespace
}  // namespace aitrace
