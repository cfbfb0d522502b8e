// The tracepoints a collector can hook, as data: each collector derives its entry from its own
// hook table (sched_tracepoints(), ...), and doctor reports their presence on this kernel.
// Names changed across kernel versions (dma_map_page became dma_map_phys in 6.17), so an event
// may list alternatives.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace aitrace {

struct TracepointSpec {
  std::string_view category;
  std::vector<std::string_view> names;  // first: the current name; then older/newer names
  // An event newer kernels dropped because another one now carries it (dma_map_resource became
  // dma_map_phys with DMA_ATTR_MMIO): absent but covered when that one exists.
  std::string_view replaced_by = {};
};

// Events of a category found on the running kernel beyond the fixed list (dma grows new events
// every few releases). BTF has no category, so the BTF side is a name prefix.
struct TracepointDiscovery {
  std::string_view category;
  std::string_view btf_prefix;   // "dma_"
  std::string_view btf_exclude;  // "dma_fence_" (its own category), may be empty
};

struct CollectorTracepoints {
  std::string_view collector;  // "sched", "sched_trace", "migrate", "dma"
  std::vector<TracepointSpec> events;
  std::vector<TracepointDiscovery> discover;
};


struct TracepointPresence {
  std::string category, name;             // the name found, or the first name when none exists
  bool in_btf = false;                    // btf_trace_<name> in vmlinux BTF (tp_btf/raw_tp can attach)
  bool in_tracefs = false;                // <tracefs>/events/<category>/<name> (classic tracepoint)
  bool listed = true;                     // false: found by discovery, not in the fixed list
  std::vector<std::string> alternatives;  // the spec's other names
  std::string covered_by;                 // absent, but this event ("dma:dma_map_phys") carries what it did
  bool present() const { return in_btf || in_tracefs; }
  std::string event() const { return category + ":" + name; }
};

// Presence of every event of a collector on this kernel: the fixed list (first existing name of
// each spec), then discovered extras, sorted by name.
std::vector<TracepointPresence> collector_tracepoint_presence(const CollectorTracepoints& c);

// Names in the kernel's BTF typedefs btf_trace_<prefix>*, without "btf_trace_".
std::vector<std::string> btf_tracepoints_with_prefix(std::string_view prefix);
// Event directories of <tracefs>/events/<category>; empty when tracefs is unreadable.
std::vector<std::string> tracefs_category_events(std::string_view category);

}  // namespace aitrace
