#include "http_exporter.hpp"

#include "aitrace/output/metric_store.hpp"

#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <atomic>
#include <thread>

namespace aitrace {

Result<ListenAddress> parse_listen_address(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return make_error(ErrorKind::usage, "invalid --listen '{}': {} (expected ADDR:PORT, e.g. 127.0.0.1:9477)",
                      std::string(text), why);
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad("no port");
  std::string host(text.substr(0, colon));
  std::string_view port_text = text.substr(colon + 1);
  int port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 ||
      port > 65535)
    return bad("the port must be 1 to 65535");
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    in6_addr a6{};
    if (inet_pton(AF_INET6, host.c_str(), &a6) != 1) return bad("not an IPv6 address");
  } else if (host == "localhost") {
    host = "127.0.0.1";
  } else {
    in_addr a4{};
    if (inet_pton(AF_INET, host.c_str(), &a4) != 1) return bad("not an IP address (IPv6 goes in brackets)");
  }
  return ListenAddress{host, port, std::string(text)};
}

struct HttpExporter::Impl {
  httplib::Server server;
  std::thread thread;
  ExpositionSource source;
  std::atomic<bool> ready{false};
};

HttpExporter::HttpExporter() : impl_(std::make_unique<Impl>()) {}

HttpExporter::~HttpExporter() { stop(); }

Result<std::unique_ptr<HttpExporter>> HttpExporter::bind(const ListenAddress& addr, ExpositionSource source) {
  std::unique_ptr<HttpExporter> e(new HttpExporter());
  e->impl_->source = std::move(source);
  httplib::Server& svr = e->impl_->server;
  // cpp-httplib's default also sets SO_REUSEPORT, which would let a second serve share the
  // port silently; SO_REUSEADDR alone still allows a restart while old connections linger.
  svr.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  if (addr.host.find(':') != std::string::npos) svr.set_address_family(AF_INET6);
  svr.set_read_timeout(5, 0);
  svr.set_write_timeout(5, 0);
  svr.set_keep_alive_timeout(30);
  Impl* impl = e->impl_.get();
  svr.Get("/metrics", [impl](const httplib::Request& req, httplib::Response& res) {
    const MetricFormat f = negotiate_metric_format(req.get_header_value("Accept"));
    std::shared_ptr<const std::string> text = impl->source(f);
    if (!text) {
      res.status = 503;
      res.set_content("aitrace: collectors starting\n", "text/plain; charset=utf-8");
      return;
    }
    // The provider sends from the shared string: no copy of a multi-megabyte exposition.
    res.set_content_provider(
        text->size(), metric_content_type(f),
        [text](size_t offset, size_t length, httplib::DataSink& sink) {
          return sink.write(text->data() + offset, length);
        });
  });
  svr.Get("/healthz", [impl](const httplib::Request&, httplib::Response& res) {
    const bool ready = impl->ready.load();
    res.status = ready ? 200 : 503;
    res.set_content(ready ? "ok\n" : "starting\n", "text/plain; charset=utf-8");
  });
  errno = 0;
  if (!svr.bind_to_port(addr.host, addr.port)) {
    const int err = errno;
    if (err == EADDRINUSE)
      return make_error(ErrorKind::runtime, "cannot listen on {}: the port is in use (another aitrace serve?)",
                        addr.text);
    if (err == EACCES)
      return make_error(ErrorKind::privilege,
                        "cannot listen on {}: ports below net.ipv4.ip_unprivileged_port_start need "
                        "CAP_NET_BIND_SERVICE",
                        addr.text);
    if (err == EADDRNOTAVAIL)
      return make_error(ErrorKind::usage, "cannot listen on {}: not an address of this host", addr.text);
    return make_error(ErrorKind::runtime, "cannot listen on {}: {}", addr.text,
                      err ? std::strerror(err) : "bind failed");
  }
  return e;
}

void HttpExporter::start() {
  impl_->thread = std::thread([impl = impl_.get()] { impl->server.listen_after_bind(); });
}

void HttpExporter::set_ready() { impl_->ready = true; }

void HttpExporter::stop() {
  if (!impl_) return;
  // stop() right after start(): the listening thread may not be in its accept loop yet, and
  // server.stop() only ends a running loop.
  for (int i = 0; i < 200 && impl_->thread.joinable() && !impl_->server.is_running(); i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace aitrace
