// The field client's local web UI: the /v1 JSON API (docs/client-api.md) and
// the embedded page, as one request handler over the HTTP layer's structs.
//
// Safety: answers only requests whose Host (and Origin, when sent) name
// 127.0.0.1 or localhost on our port (against DNS rebinding and cross-site
// requests); writes must be JSON (or a photo upload); nothing but the page,
// its assets, /v1/status and /v1/unlock is served while the store is locked;
// the store locks again after `idle_lock_seconds` without a request.
//
// Thread safety: Handle() may be called from several threads (serialised).
#ifndef TIANYE_CLIENT_UI_APP_H_
#define TIANYE_CLIENT_UI_APP_H_

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "field.h"
#include "http.h"

namespace tianye::cli {

struct UiOptions {
  std::string store_path;
  FieldOptions field;
  int idle_lock_seconds = 600;
  std::string spool_dir;  // where photos are exported for the page
};

class UiApp {
 public:
  explicit UiApp(UiOptions options) : options_(std::move(options)) {}
  void set_port(uint16_t port) { port_ = port; }
  http::Response Handle(const http::Request& req);
  bool unlocked();

 private:
  http::Response Route(const http::Request& req);
  http::Response Unlock(const http::Request& req);
  http::Response RecordRoute(const http::Request& req, const std::string& id, const std::string& action);
  http::Response SyncRoute(const http::Request& req);
  bool AllowedHost(const http::Request& req) const;

  UiOptions options_;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::unique_ptr<Field> field_;  // null while locked
  std::chrono::steady_clock::time_point last_request_;
};

}  // namespace tianye::cli

#endif  // TIANYE_CLIENT_UI_APP_H_
