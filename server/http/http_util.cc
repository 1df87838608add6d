// The Beast-free half of the HTTP layer: targets, statuses, error bodies,
// temporary files, content codings.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "http.h"

namespace tianye::http {

namespace {

const std::string& ValueOrEmpty(const std::map<std::string, std::string>& map, const std::string& key) {
  static const std::string kEmpty;
  auto it = map.find(key);
  return it == map.end() ? kEmpty : it->second;
}

}  // namespace

const std::string& Request::Header(const std::string& name) const { return ValueOrEmpty(headers, name); }

const std::string& Request::Query(const std::string& name) const { return ValueOrEmpty(query, name); }

Response Response::Json(int status, std::string json) {
  Response r;
  r.status = status;
  r.body = std::move(json);
  return r;
}

Response Response::Error(int http_status, std::string_view code, std::string_view message) {
  nlohmann::json j = {{"error", code}, {"message", message}};
  // Messages may quote what the client sent (a path, a cursor): bytes that
  // are not UTF-8 become U+FFFD instead of failing the answer.
  return Json(http_status, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Response Response::Error(const Status& status) {
  return Error(HttpStatusFor(status.code()), ErrorCodeFor(status.code()), status.message());
}

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kConflict: return 409;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kResourceExhausted: return 413;
    case StatusCode::kCorruption: return 500;
    case StatusCode::kIOError: return 503;
    case StatusCode::kUnimplemented: return 501;
    case StatusCode::kInternal: return 500;
  }
  return 500;
}

const char* ErrorCodeFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid_argument";
    case StatusCode::kNotFound: return "not_found";
    case StatusCode::kAlreadyExists: return "already_exists";
    case StatusCode::kFailedPrecondition: return "failed_precondition";
    case StatusCode::kConflict: return "conflict";
    case StatusCode::kUnauthenticated: return "unauthenticated";
    case StatusCode::kPermissionDenied: return "permission_denied";
    case StatusCode::kResourceExhausted: return "too_large";
    case StatusCode::kCorruption: return "corruption";
    case StatusCode::kIOError: return "unavailable";
    case StatusCode::kUnimplemented: return "unimplemented";
    case StatusCode::kInternal: return "internal";
  }
  return "internal";
}

bool UrlDecode(std::string_view s, bool plus_is_space, std::string* out) {
  out->clear();
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return false;
      int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(s[i]);
    }
  }
  return true;
}

Status ParseTarget(std::string_view target, std::string* path,
                   std::map<std::string, std::string>* query) {
  if (target.empty() || target[0] != '/') {
    return Status::InvalidArgument("the request target must start with '/'");
  }
  size_t q = target.find('?');
  if (!UrlDecode(target.substr(0, q), false, path)) {
    return Status::InvalidArgument("bad %-escape in the request path");
  }
  if (path->find('\0') != std::string::npos) return Status::InvalidArgument("NUL in the request path");
  query->clear();
  if (q == std::string_view::npos) return Status::Ok();
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    size_t eq = pair.find('=');
    std::string key, value;
    if (!UrlDecode(pair.substr(0, eq), true, &key) ||
        (eq != std::string_view::npos && !UrlDecode(pair.substr(eq + 1), true, &value))) {
      return Status::InvalidArgument("bad %-escape in the query string");
    }
    if (!key.empty()) (*query)[key] = value;
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return Status::Ok();
}

bool AcceptsEncoding(std::string_view accept_encoding, std::string_view coding) {
  auto trim = [](std::string_view t) {
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    return t;
  };
  auto lower_equal = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
  };
  while (!accept_encoding.empty()) {
    const size_t comma = accept_encoding.find(',');
    std::string_view item = accept_encoding.substr(0, comma);
    accept_encoding = comma == std::string_view::npos ? std::string_view() : accept_encoding.substr(comma + 1);
    const size_t semi = item.find(';');
    std::string_view name = trim(item.substr(0, semi));
    if (!lower_equal(name, coding)) continue;
    if (semi == std::string_view::npos) return true;
    // "q=0" (or 0.0, 0.000) refuses the coding; any other weight accepts it.
    std::string_view q = trim(item.substr(semi + 1));
    if (q.size() < 2 || std::tolower(static_cast<unsigned char>(q[0])) != 'q' || q[1] != '=') return true;
    q.remove_prefix(2);
    return q.find_first_not_of("0.") != std::string_view::npos || q.empty();
  }
  return false;
}

StopSignals::StopSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

int StopSignals::Wait() {
  int sig = 0;
  sigwait(&set_, &sig);
  return sig;
}

std::string TempFile(const std::string& dir, const std::string& prefix) {
  std::error_code ec;
  std::string base = (dir.empty() ? std::filesystem::temp_directory_path(ec).string() : dir) + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(base.begin(), base.end());
  buf.push_back('\0');
  int fd = ::mkstemp(buf.data());
  if (fd < 0) return "";
  ::close(fd);
  return buf.data();
}

Response Asset(std::string_view path, std::string_view bytes) {
  Response r;
  r.content_type = path.ends_with(".html") ? "text/html; charset=utf-8"
                   : path.ends_with(".js") ? "text/javascript; charset=utf-8"
                   : path.ends_with(".css") ? "text/css; charset=utf-8"
                   : path.ends_with(".svg") ? "image/svg+xml"
                                            : "application/octet-stream";
  r.body.assign(bytes.data(), bytes.size());
  r.headers.emplace_back("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'");
  return r;
}

}  // namespace tianye::http
