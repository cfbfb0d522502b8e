// The HTTP front of `aitrace serve` (cpp-httplib): GET /metrics and /healthz on a thread pool of
// its own. Scrapes only read the exposition the run loop published last (an immutable string,
// swapped under a mutex), so a slow or stuck client can hold a connection thread but never the
// collection.
#pragma once

#include "aitrace/core/result.hpp"

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

// One published state of the metrics, in both formats.
struct Exposition {
  std::string prometheus, openmetrics;
};

class HttpExporter {
 public:
  // Binds now: a port in use, an address not on this host or a privileged port without
  // CAP_NET_BIND_SERVICE fail here, before any tracing starts.
  static Result<std::unique_ptr<HttpExporter>> bind(const ListenAddress& addr);
  ~HttpExporter();
  HttpExporter(const HttpExporter&) = delete;
  HttpExporter& operator=(const HttpExporter&) = delete;

  void start();  // serves from its own threads until stop()
  void publish(std::shared_ptr<const Exposition> e);
  void stop();

 private:
  HttpExporter();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aitrace
