#include "http_exporter.hpp"

#include "aitrace/output/metric_store.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

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

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr auto kRequestTimeout = std::chrono::seconds(5);    // a request's headers, once begun
constexpr auto kKeepAliveTimeout = std::chrono::seconds(30);  // idle between requests
constexpr auto kWriteTimeout = std::chrono::seconds(5);
constexpr unsigned kServerThreads = 2;  // async: a stalled client holds a socket, not a thread

struct Routes {
  ExpositionSource source;
  std::atomic<bool> ready{false};
};

// One connection: read a request, answer it, and again while the client keeps it alive. Each
// step has a deadline, so a client that stops reading or writing is dropped, never waited for.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Routes& routes) : stream_(std::move(socket)), routes_(routes) {}

  void read(std::chrono::seconds timeout) {
    request_ = {};
    stream_.expires_after(timeout);
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](boost::beast::error_code ec, size_t) { self->on_read(ec); });
  }

 private:
  void on_read(boost::beast::error_code ec) {
    if (ec) return close();  // timeout, a client that left, or a malformed request
    response_ = {};
    body_.reset();
    response_.version(request_.version());
    response_.keep_alive(request_.keep_alive());
    const bool get = request_.method() == http::verb::get || request_.method() == http::verb::head;
    const std::string_view target(request_.target().data(), request_.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    if (!get) {
      text(http::status::method_not_allowed, "only GET\n");
      response_.set(http::field::allow, "GET, HEAD");
    } else if (path == "/metrics") {
      const auto accept = request_[http::field::accept];
      const MetricFormat f = negotiate_metric_format(std::string_view(accept.data(), accept.size()));
      body_ = routes_.source(f);
      if (body_) {
        response_.result(http::status::ok);
        response_.set(http::field::content_type, metric_content_type(f));
        response_.body() = {body_->data(), body_->size()};  // sent from the shared string: no copy
      } else {
        text(http::status::service_unavailable, "aitrace: collectors starting\n");
      }
    } else if (path == "/healthz") {
      const bool ready = routes_.ready.load();
      text(ready ? http::status::ok : http::status::service_unavailable, ready ? "ok\n" : "starting\n");
    } else {
      text(http::status::not_found, "not found: try /metrics or /healthz\n");
    }
    response_.prepare_payload();
    if (request_.method() == http::verb::head) response_.body() = {};
    stream_.expires_after(kWriteTimeout);
    http::async_write(stream_, response_, [self = shared_from_this()](boost::beast::error_code wec, size_t) {
      if (wec || !self->response_.keep_alive()) return self->close();
      self->read(kKeepAliveTimeout);
    });
  }

  void text(http::status status, std::string_view body) {
    body_ = std::make_shared<const std::string>(body);
    response_.result(status);
    response_.set(http::field::content_type, "text/plain; charset=utf-8");
    response_.body() = {body_->data(), body_->size()};
  }

  void close() {
    // The socket closes when the last handler lets go of the session; a shutdown that fails
    // (the peer left first) changes nothing.
    boost::beast::error_code ignored;
    if (stream_.socket().shutdown(tcp::socket::shutdown_both, ignored)) return;
  }

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_{8192};  // a scrape's request line and headers fit
  Routes& routes_;
  http::request<http::empty_body> request_;
  http::response<http::span_body<const char>> response_;
  std::shared_ptr<const std::string> body_;  // what response_ points into, until it is sent
};

}  // namespace

struct HttpExporter::Impl {
  net::io_context io{static_cast<int>(kServerThreads)};
  tcp::acceptor acceptor{io};
  Routes routes;
  std::vector<std::thread> threads;

  void accept() {
    acceptor.async_accept(net::make_strand(io), [this](boost::beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted) return;  // stop()
      if (!ec) std::make_shared<Session>(std::move(socket), routes)->read(kRequestTimeout);
      accept();  // EMFILE and the like: that connection is lost, the server is not
    });
  }
};

HttpExporter::HttpExporter() : impl_(std::make_unique<Impl>()) {}

HttpExporter::~HttpExporter() { stop(); }

Result<std::unique_ptr<HttpExporter>> HttpExporter::bind(const ListenAddress& addr, ExpositionSource source) {
  std::unique_ptr<HttpExporter> e(new HttpExporter());
  e->impl_->routes.source = std::move(source);
  tcp::acceptor& acceptor = e->impl_->acceptor;
  boost::system::error_code ec;
  const tcp::endpoint endpoint(net::ip::make_address(addr.host, ec), static_cast<unsigned short>(addr.port));
  if (ec) return make_error(ErrorKind::usage, "cannot listen on {}: not an IP address", addr.text);
  // SO_REUSEADDR lets a restart bind while old connections linger; no SO_REUSEPORT, which would
  // let a second serve share the port silently.
  // Each step returns the error it also stores in `ec`: the first one ends the chain.
  const bool failed = acceptor.open(endpoint.protocol(), ec) ||
                      acceptor.set_option(tcp::acceptor::reuse_address(true), ec) ||
                      acceptor.bind(endpoint, ec) ||
                      acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (failed) {
    const int err = ec.value();  // the system category: an errno value
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
    return make_error(ErrorKind::runtime, "cannot listen on {}: {}", addr.text, ec.message());
  }
  return e;
}

void HttpExporter::start() {
  impl_->accept();
  for (unsigned i = 0; i < kServerThreads; i++) impl_->threads.emplace_back([impl = impl_.get()] { impl->io.run(); });
}

void HttpExporter::set_ready() { impl_->routes.ready = true; }

void HttpExporter::stop() {
  if (!impl_) return;
  impl_->io.stop();  // also when called before the threads entered run(): they return at once
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
  impl_->threads.clear();
}

}  // namespace aitrace
