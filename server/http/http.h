// The HTTP layer shared by tianye-server and the field client's local UI.
//
// Handlers are plain functions over our own Request and Response structs, so
// they can be tested and fuzzed without sockets; only server.cc includes
// Boost.Beast. Each connection (HTTP, or HTTPS when a certificate is given)
// is one coroutine with a deadline before every handshake, read and write;
// bodies have a limit per route; uploads stream into a spool file instead of
// memory; handlers run on a worker pool, off the I/O thread.
//
// Thread safety: Server is thread-safe for Stop()/port(); the handler is
// called from worker threads (from one at a time when worker_threads is 1).
#ifndef TIANYE_SERVER_HTTP_HTTP_H_
#define TIANYE_SERVER_HTTP_HTTP_H_

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tianye/status.h"

namespace tianye::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: "/v1/records?status=draft"
  std::string path;    // decoded path: "/v1/records"
  std::map<std::string, std::string> query;    // decoded query parameters
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;       // the body, for ordinary routes
  std::string body_file;  // for upload routes: a spool file holding the body (removed afterwards)
  std::string remote;     // peer address

  // The header's value, or "" when absent. `name` in lower case.
  const std::string& Header(const std::string& name) const;
  // The decoded query parameter's value, or "" when absent.
  const std::string& Query(const std::string& name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string body_file;  // when set, the body is streamed from this file instead
  bool remove_body_file = false;  // delete body_file once sent (a temporary export)
  std::string audit;  // what the access log adds to this request's line (who changed what)

  static Response Json(int status, std::string json);
  // {"error": code, "message": message} with the HTTP status for `status`.
  static Response Error(const Status& status);
  static Response Error(int http_status, std::string_view code, std::string_view message);
};

// A new empty file "DIR/PREFIX-XXXXXX" (DIR empty: the system's temporary
// folder), made so that no other process gets the same name; its path, or ""
// when it cannot be made. For spooled uploads and streamed answers.
std::string TempFile(const std::string& dir, const std::string& prefix);

// An embedded web asset (HTML, JS, CSS, SVG) with its content type and a
// Content-Security-Policy that allows nothing from elsewhere.
Response Asset(std::string_view path, std::string_view bytes);

// Maps a Status code to an HTTP status (the one place that does so).
int HttpStatusFor(StatusCode code);
// A stable snake_case error code for a Status code, e.g. "not_found".
const char* ErrorCodeFor(StatusCode code);

using Handler = std::function<Response(const Request&)>;

struct RouteLimits {
  size_t body_limit = 1 << 20;  // bytes held in memory
  bool spool_to_file = false;   // upload route: body goes to a spool file
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port
  // Limits for a request, chosen from its method and path before the body is read.
  std::function<RouteLimits(std::string_view method, std::string_view path)> limits;
  size_t upload_limit = 64u << 20;  // the largest spooled body
  std::string spool_dir;            // where upload bodies go; default: the system temp folder
  std::chrono::seconds read_timeout{30};
  std::chrono::seconds write_timeout{60};
  std::chrono::seconds handshake_timeout{15};
  // Both set (PEM files): every connection speaks HTTPS (TLS 1.2 or later).
  std::string tls_cert_file;
  std::string tls_key_file;
  int worker_threads = 2;
  // Called once per request after it is answered (access log).
  std::function<void(const Request&, const Response&, double millis)> on_request;
};

class Server {
 public:
  // Binds and starts serving. Errors: kIOError when the address cannot be bound.
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options, Handler handler);
  ~Server();  // stops

  uint16_t port() const;
  // Stops accepting, lets requests in flight finish (up to a few seconds), closes.
  void Stop();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Splits a request target into its decoded path and query parameters.
// Errors: kInvalidArgument for a malformed target (bad %-escapes, no leading '/').
Status ParseTarget(std::string_view target, std::string* path,
                   std::map<std::string, std::string>* query);

// Percent-decodes `s` ('+' as space when `plus_is_space`). false on a bad escape.
bool UrlDecode(std::string_view s, bool plus_is_space, std::string* out);

// SIGINT and SIGTERM, taken synchronously by the thread that waits for them:
// construct before Server::Start (the server's threads inherit the blocked
// mask, so no handler ever runs on them), then Wait() returns the signal.
class StopSignals {
 public:
  StopSignals();
  int Wait();

 private:
  sigset_t set_;
};

// Compressed bodies, for slow rural links: gzip (Content-Encoding: gzip),
// and zstd, which on a pull page is a little smaller than gzip and several
// times faster to write and to read.
std::string Gzip(std::string_view data);
std::string Zstd(std::string_view data);
// Errors: kInvalidArgument for data that is not gzip (zstd), kResourceExhausted
// when the inflated size would pass `limit` (a zip bomb stops there).
Result<std::string> Gunzip(std::string_view data, size_t limit);
Result<std::string> Unzstd(std::string_view data, size_t limit);

// Whether an Accept-Encoding header value names `coding` ("zstd"), not with
// q=0.
bool AcceptsEncoding(std::string_view accept_encoding, std::string_view coding);

}  // namespace tianye::http

#endif  // TIANYE_SERVER_HTTP_HTTP_H_
