// The envelope of every JSON report document, built here once for every command (docs/json.md):
// schema, the span on two clocks, duration, interval and its index, hooks, lost, and group_by
// where the collector groups. The collectors then add their own keys to the same document.
#pragma once

#include "aitrace/collector/collector.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <span>
#include <vector>

namespace aitrace {

// `first` is the snapshot the document's first collector renders (schema, lost, group_by are
// its); `hooks` lists every collector's events. An event two collectors hook with different
// results reads "<first's state>; <name>: <other's state>".
nlohmann::json report_envelope(const std::vector<std::unique_ptr<Collector>>& collectors, const Snapshot& first,
                               const RenderContext& ctx);
// The same for a document of some of a run's collectors (capture: one document per collector).
nlohmann::json report_envelope(std::span<const Collector* const> collectors, const Snapshot& first,
                               const RenderContext& ctx);

}  // namespace aitrace
