// The HTTP front of `aitrace serve` (Boost.Beast, header-only, so the static build has it too):
// GET /metrics and /healthz, served asynchronously from two threads of its own. A scrape asks the
// exposition source for an immutable rendered string and sends it after the source's lock is
// released, so a slow or stuck client holds a connection until its deadline, never a thread and
// never the collection.
#pragma once

#include "aitrace/core/result.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace aitrace {

struct ListenAddress {
  std::string host;  // an IPv4 or IPv6 literal
  int port = 0;
  std::string text;  // as given, for messages
};

// "127.0.0.1:9477", "[::1]:9477", "0.0.0.0:9477", "localhost:9477" (127.0.0.1).
Result<ListenAddress> parse_listen_address(std::string_view text);

enum class MetricFormat;
// The rendered exposition in a format; null while there is none yet (503).
using ExpositionSource = std::function<std::shared_ptr<const std::string>(MetricFormat)>;

class HttpExporter {
 public:
  // Binds now: a port in use, an address not on this host or a privileged port without
  // CAP_NET_BIND_SERVICE fail here, before any tracing starts.
  static Result<std::unique_ptr<HttpExporter>> bind(const ListenAddress& addr, ExpositionSource source);
  ~HttpExporter();
  HttpExporter(const HttpExporter&) = delete;
  HttpExporter& operator=(const HttpExporter&) = delete;

  void start();  // serves from its own threads until stop()
  void set_ready();  // /healthz answers 200 from now on
  void stop();

 private:
  HttpExporter();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aitrace
