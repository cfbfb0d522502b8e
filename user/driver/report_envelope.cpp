#include "aitrace/driver/report_envelope.hpp"

#include <string>

namespace aitrace {

nlohmann::json report_envelope(const std::vector<std::unique_ptr<Collector>>& collectors, const Snapshot& first,
                               const RenderContext& ctx) {
  std::vector<const Collector*> all;
  all.reserve(collectors.size());
  for (const auto& c : collectors) all.push_back(c.get());
  return report_envelope(std::span<const Collector* const>(all), first, ctx);
}

nlohmann::json report_envelope(std::span<const Collector* const> collectors, const Snapshot& first,
                               const RenderContext& ctx) {
  const Collector& main = *collectors.front();
  nlohmann::json hooks = nlohmann::json::object();
  for (const Collector* c : collectors)
    for (const HookStatus& st : c->hooks().statuses()) {
      const std::string state = st.state_text();
      nlohmann::json& v = hooks[st.event];
      if (v.is_null())
        v = state;
      else if (v.get<std::string>() != state)
        v = v.get<std::string>() + "; " + std::string(c->name()) + ": " + state;
    }
  nlohmann::json doc = {
      {"schema", main.schema()},
      {"start_unix_ns", ctx.start.unix_ns},
      {"end_unix_ns", ctx.end.unix_ns},
      {"start_boot_ns", ctx.start.boot_ns},
      {"end_boot_ns", ctx.end.boot_ns},
      {"duration_ns", ctx.end.boot_ns - ctx.start.boot_ns},
      {"interval", ctx.interval},
      {"interval_index", ctx.interval_index},
      {"hooks", std::move(hooks)},
      {"lost", main.lost_json(first)},
  };
  if (auto by = main.group_by()) doc["group_by"] = *by;
  return doc;
}

}  // namespace aitrace
