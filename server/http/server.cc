// The only translation unit that includes Boost.Beast: connections, parsing,
// limits and timeouts. Everything above it sees Request and Response.
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <filesystem>
#include <set>
#include <thread>

#include "http.h"

namespace tianye::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

}  // namespace

struct Server::Impl {
  ServerOptions options;
  Handler handler;
  asio::io_context ioc{1};
  std::unique_ptr<asio::ssl::context> tls;  // set: connections speak HTTPS
  std::unique_ptr<asio::thread_pool> workers;
  tcp::acceptor acceptor{ioc};
  std::thread io_thread;
  std::atomic<bool> stopping{false};
  std::atomic<int> active{0};
  std::set<beast::tcp_stream*> streams;  // the TCP layer of each connection; I/O thread only
  uint16_t port = 0;

  Response Call(const Request& req) {
    try {
      return handler(req);
    } catch (const std::exception& e) {
      return Response::Error(500, "internal", std::string("unexpected error: ") + e.what());
    } catch (...) {
      return Response::Error(500, "internal", "unexpected error");
    }
  }

  // Reads the rest of the message a chunk at a time, with a fresh deadline
  // per chunk: a slow but moving upload is fine, a stalled one times out.
  template <class Stream, class Parser>
  asio::awaitable<beast::error_code> ReadBody(Stream& stream, beast::flat_buffer& buffer, Parser& parser) {
    while (!parser.is_done()) {
      beast::get_lowest_layer(stream).expires_after(options.read_timeout);
      auto [ec, n] = co_await bhttp::async_read_some(stream, buffer, parser, kTuple);
      if (ec) co_return ec;
    }
    co_return beast::error_code{};
  }

  template <class Stream>
  asio::awaitable<void> Write(Stream& stream, const Request& req, Response& res, bool keep_alive) {
    auto fill = [&](auto& msg) {
      msg.result(static_cast<unsigned>(res.status));
      msg.set(bhttp::field::server, "tianye");
      msg.set(bhttp::field::content_type, res.content_type);
      msg.set(bhttp::field::cache_control, "no-store");
      msg.set("X-Content-Type-Options", "nosniff");
      for (const auto& [k, v] : res.headers) msg.set(k, v);
      msg.keep_alive(keep_alive);
    };
    beast::get_lowest_layer(stream).expires_after(options.write_timeout);
    if (!res.body_file.empty()) {
      bhttp::response<bhttp::file_body> msg;
      beast::error_code ec;
      msg.body().open(res.body_file.c_str(), beast::file_mode::scan, ec);
      if (!ec) {
        fill(msg);
        msg.prepare_payload();
        auto [wec, n] = co_await bhttp::async_write(stream, msg, kTuple);
        (void)wec;
        co_return;
      }
      res = Response::Error(404, "not_found", "the file to send is gone");
    }
    bhttp::response<bhttp::string_body> msg;
    fill(msg);
    if (req.method != "HEAD") msg.body() = res.body;
    msg.prepare_payload();
    auto [wec, n] = co_await bhttp::async_write(stream, msg, kTuple);
    (void)wec;
  }

  // One connection: plain, or a TLS handshake first (with its own deadline).
  asio::awaitable<void> Session(tcp::socket socket) {
    ++active;
    beast::error_code ignored;
    auto endpoint = socket.remote_endpoint(ignored);
    std::string remote = ignored ? "" : endpoint.address().to_string();
    if (!tls) {
      beast::tcp_stream stream(std::move(socket));
      streams.insert(&stream);
      co_await Exchange(stream, remote);
      stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      streams.erase(&stream);
    } else {
      beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
      beast::tcp_stream& tcp_layer = beast::get_lowest_layer(stream);
      streams.insert(&tcp_layer);
      tcp_layer.expires_after(options.handshake_timeout);
      auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kTuple);
      if (!ec && !stopping) {
        co_await Exchange(stream, remote);
        // close_notify, without waiting long for the peer's answer.
        tcp_layer.expires_after(std::chrono::seconds(2));
        auto [sec] = co_await stream.async_shutdown(kTuple);
        (void)sec;
      }
      streams.erase(&tcp_layer);
    }
    --active;
  }

  // Requests and answers on one connection until it closes.
  template <class Stream>
  asio::awaitable<void> Exchange(Stream& stream, const std::string& remote) {
    beast::error_code ignored;
    beast::flat_buffer buffer;
    while (!stopping) {
      bhttp::request_parser<bhttp::empty_body> head;
      head.header_limit(16 * 1024);
      head.body_limit(boost::none);  // the route's own limit is applied once the header is in
      beast::get_lowest_layer(stream).expires_after(options.read_timeout);
      auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, head, kTuple);
      if (ec) {
        if (ec == bhttp::error::header_limit) {
          Request none;
          Response r = Response::Error(431, "too_large", "the request headers are too large");
          co_await Write(stream, none, r, false);
        } else if (ec != bhttp::error::end_of_stream && ec != beast::error::timeout &&
                   ec != asio::error::operation_aborted && ec != asio::error::connection_reset &&
                   ec != asio::error::eof) {
          Request none;
          Response r = Response::Error(400, "bad_request", "malformed HTTP request");
          co_await Write(stream, none, r, false);
        }
        break;
      }
      auto started = std::chrono::steady_clock::now();
      Request req;
      req.remote = remote;
      const auto& h = head.get();
      req.method = std::string(h.method_string());
      req.target = std::string(h.target());
      for (const auto& field : h) {
        std::string name(field.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        req.headers[name] = std::string(field.value());
      }
      bool keep_alive = h.keep_alive();
      Response res;
      Status parsed = ParseTarget(req.target, &req.path, &req.query);
      RouteLimits limits = options.limits ? options.limits(req.method, req.path) : RouteLimits{};
      bool read_ok = true;
      // Beast compares a declared Content-Length with the limit only while
      // parsing the header, before the route is known; compare it here.
      // Chunked bodies are counted by the parser as they arrive.
      const size_t limit = limits.spool_to_file ? options.upload_limit : limits.body_limit;
      auto declared = head.content_length();
      if (parsed.ok() && declared && *declared > limit) {
        res = Response::Error(413, "too_large",
                              limits.spool_to_file
                                  ? "the upload is larger than " + std::to_string(limit >> 20) + " MiB"
                                  : "the request body is larger than " + std::to_string(limit) + " bytes");
        keep_alive = false;
        read_ok = false;
      } else if (!parsed.ok()) {
        res = Response::Error(parsed);
        keep_alive = false;
        read_ok = false;
      } else if (limits.spool_to_file) {
        bhttp::request_parser<bhttp::file_body> body(std::move(head));
        body.body_limit(options.upload_limit);
        req.body_file = TempFile(options.spool_dir, "tianye-upload");
        beast::error_code fec;
        body.get().body().open(req.body_file.c_str(), beast::file_mode::write, fec);
        beast::error_code rec = fec ? fec : co_await ReadBody(stream, buffer, body);
        body.get().body().close();
        if (rec) {
          read_ok = false;
          keep_alive = false;
          if (rec == bhttp::error::body_limit) {
            res = Response::Error(413, "too_large",
                                  "the upload is larger than " +
                                      std::to_string(options.upload_limit >> 20) + " MiB");
          } else if (fec) {
            res = Response::Error(503, "unavailable", "cannot store the upload: " + fec.message());
          } else {
            std::filesystem::remove(req.body_file, ignored);
            break;  // the client went away or stalled
          }
        }
      } else {
        bhttp::request_parser<bhttp::string_body> body(std::move(head));
        body.body_limit(limits.body_limit);
        beast::error_code rec = co_await ReadBody(stream, buffer, body);
        if (rec) {
          read_ok = false;
          keep_alive = false;
          if (rec == bhttp::error::body_limit) {
            res = Response::Error(413, "too_large",
                                  "the request body is larger than " +
                                      std::to_string(limits.body_limit) + " bytes");
          } else if (rec == beast::error::timeout || rec == bhttp::error::end_of_stream ||
                     rec == asio::error::eof || rec == asio::error::connection_reset ||
                     rec == asio::error::operation_aborted) {
            break;
          } else {
            res = Response::Error(400, "bad_request", "malformed request body");
          }
        } else {
          req.body = std::move(body.get().body());
        }
      }
      if (read_ok) {
        res = co_await asio::co_spawn(
            *workers, [this, &req]() -> asio::awaitable<Response> { co_return Call(req); },
            asio::use_awaitable);
      }
      if (!req.body_file.empty()) std::filesystem::remove(req.body_file, ignored);
      co_await Write(stream, req, res, keep_alive && !stopping);
      if (res.remove_body_file && !res.body_file.empty()) std::filesystem::remove(res.body_file, ignored);
      if (options.on_request) {
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
        options.on_request(req, res, ms);
      }
      if (!keep_alive) break;
    }
  }

  asio::awaitable<void> Accept() {
    while (true) {
      auto [ec, socket] = co_await acceptor.async_accept(kTuple);
      if (ec) {
        if (!acceptor.is_open()) co_return;
        continue;  // e.g. too many open files: keep serving the others
      }
      asio::co_spawn(ioc, Session(std::move(socket)), asio::detached);
    }
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options, Handler handler) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->handler = std::move(handler);
  impl->workers = std::make_unique<asio::thread_pool>(std::max(1, options.worker_threads));
  beast::error_code ec;
  if (!options.tls_cert_file.empty() || !options.tls_key_file.empty()) {
    impl->tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    impl->tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                           asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                           asio::ssl::context::no_tlsv1_1);
    impl->tls->use_certificate_chain_file(options.tls_cert_file, ec);
    if (ec) return Status::InvalidArgument("cannot use the certificate " + options.tls_cert_file + ": " + ec.message());
    impl->tls->use_private_key_file(options.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) return Status::InvalidArgument("cannot use the private key " + options.tls_key_file + ": " + ec.message());
  }
  auto address = asio::ip::make_address(options.host, ec);
  if (ec) return Status::InvalidArgument("'" + options.host + "' is not an IP address");
  tcp::endpoint endpoint(address, options.port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::IOError("cannot listen on " + options.host + ":" + std::to_string(options.port) +
                           ": " + ec.message());
  }
  impl->port = impl->acceptor.local_endpoint().port();
  Impl* raw = impl.get();
  asio::co_spawn(impl->ioc, raw->Accept(), asio::detached);
  impl->io_thread = std::thread([raw] { raw->ioc.run(); });
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

uint16_t Server::port() const { return impl_->port; }

void Server::Stop() {
  Impl& s = *impl_;
  if (s.stopping.exchange(true)) return;
  asio::post(s.ioc, [&s] {
    beast::error_code ignored;
    s.acceptor.close(ignored);
    // Idle connections wait for a header: wake them so they close. Requests
    // in flight finish and are answered (with Connection: close).
    for (beast::tcp_stream* stream : s.streams) stream->socket().cancel(ignored);
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (s.active > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  s.ioc.stop();
  if (s.io_thread.joinable()) s.io_thread.join();
  s.workers->join();
}

Server::~Server() { Stop(); }

}  // namespace tianye::http
