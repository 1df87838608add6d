// ServerApp: the sync server's request handler. A plain function from
// Request to Response over one store (no sockets here), so tests and fuzz
// targets drive it directly. Every call takes the store's lock: SQLite has one
// writer anyway, and the store's connection is not thread-safe.
#ifndef TIANYE_SERVER_APP_H_
#define TIANYE_SERVER_APP_H_

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "http.h"
#include "tianye/accounts.h"
#include "tianye/form_check.h"
#include "tianye/form_store.h"
#include "tianye/review.h"
#include "tianye/store.h"
#include "tianye/sync.h"

namespace tianye::server {

class ServerApp {
 public:
  // `reader`, when given, is a second connection to the same store file:
  // exports and the dashboard then read through it under a lock of their
  // own, each one consistent snapshot, while pushes and other requests go
  // on. Without it they take the store's lock like everything else.
  explicit ServerApp(std::unique_ptr<Store> store, std::unique_ptr<Store> reader = nullptr);

  http::Response Handle(const http::Request& request);

  // Checks up to `max_records` records changed since the server last
  // checked their answers against their forms (RecordChecker), holding the
  // store's lock while it reads and writes them but not while it checks
  // them, so requests do not wait for the check. The server calls it from a
  // thread of its own; returns how many it checked (0: none waits).
  Result<int> CheckChangedRecords(int max_records);

  // Per-route body limits (before the body is read).
  static http::RouteLimits Limits(std::string_view method, std::string_view path);

  // For the admin commands and tests; take the lock around use.
  Store& store() { return *store_; }
  std::mutex& mutex() { return mu_; }

 private:
  http::Response Route(const http::Request& request);
  // Exports and the dashboard (reads of many records, through reads_);
  // nullopt for any other request.
  std::optional<http::Response> RouteBulkReads(const http::Request& request, const Principal& who);
  Result<Principal> Authenticate(const http::Request& request);
  http::Response Login(const http::Request& request);
  http::Response Push(const http::Request& request, const Principal& who);
  http::Response Pull(const http::Request& request, const Principal& who);
  http::Response Conflicts(const http::Request& request, const Principal& who);
  http::Response Resolve(const http::Request& request, const Principal& who, const std::string& id);
  Result<std::string> KeepBoth(const Conflict& conflict, const Record& record);
  http::Response Review(const http::Request& request, const Principal& who, const std::string& id);
  http::Response Blobs(const http::Request& request, const Principal& who);
  http::Response Records(const http::Request& request, const Principal& who);
  http::Response RecordPage(const http::Request& request, const Principal& who, const std::string& id);
  http::Response Form(const http::Request& request);
  http::Response Areas();
  http::Response RecordFile(const http::Request& request, const Principal& who);
  http::Response ExportCsv(const http::Request& request, const Principal& who);        // export.cc
  http::Response ExportGeoJson(const http::Request& request, const Principal& who);    // export.cc
  http::Response ExportXlsx(const http::Request& request, const Principal& who);       // export_xlsx.cc
  http::Response ExportPhotos(const http::Request& request, const Principal& who);     // export_zip.cc
  using EachRecord =
      std::function<Status(const RecordRow& row, const Record& record, const nlohmann::json& values)>;
  Status ForEachRecord(const Principal& who, RecordQuery query, const EachRecord& each);
  using RowWriter =
      std::function<bool(const RecordRow& row, const Record& record, const nlohmann::json& values, std::ostream& out)>;
  http::Response WriteTextExport(const Principal& who, const RecordQuery& query, const std::string& content_type,
                                 const std::string& filename, const std::string& head, const RowWriter& row_out,
                                 const std::string& tail);
  http::Response DashboardRoute(const http::Request& request, const Principal& who);  // dashboard_api.cc
  http::Response Admin(const http::Request& request, const Principal& who);           // admin_api.cc
  http::Response AddUser(const http::Request& request, const Principal& who);
  http::Response ChangeUser(const http::Request& request, const Principal& who, const std::string& name);
  http::Response InstallForm(const http::Request& request, const Principal& who);

  // What exports and the dashboard read through (see the constructor).
  struct Reads {
    explicit Reads(Store* s) : store(s), review(s), ledger(s), forms(s) {}
    Store* store;
    ReviewQueries review;
    SyncLedger ledger;  // for Fields()
    FormStore forms;
  };

  std::mutex mu_;
  std::unique_ptr<Store> store_;
  Accounts accounts_;
  SyncLedger ledger_;
  ReviewQueries review_;
  FormStore forms_;
  RecordChecker checker_;
  std::mutex read_mu_;                  // serialises the use of reader_ (when there is one)
  std::unique_ptr<Store> reader_;       // nullptr: reads_ uses store_ under mu_
  Reads reads_;
};

// The embedded review web UI (web_assets.cc, generated from server/web/).
struct EmbeddedFile {
  const char* path;
  const char* data;
  size_t size;
};
const EmbeddedFile* FindEmbedded(std::string_view path);  // nullptr: no such file

// The queue's filters from a request's query parameters (the queue and the
// exports take the same ones). Errors: kInvalidArgument naming the parameter.
Result<RecordQuery> QueryFrom(const http::Request& request);

// "/v1/review/conflicts/ID/resolve" with prefix "/v1/review/conflicts/" and
// suffix "/resolve" -> "ID" (one path segment, not empty).
bool Match(const std::string& path, std::string_view prefix, std::string_view suffix, std::string* id);
// A user as the login answer and the admin pages show one (no password hash).
nlohmann::json UserJson(const User& user);
// The request body as a JSON object. Errors: malformed_json (400).
Result<nlohmann::json> JsonBody(const http::Request& request);
// `key` of `j` when it is a string, else "".
std::string Text(const nlohmann::json& j, const char* key);

// A Status as a JSON error. Messages that start with a snake_case code and a
// colon ("push_seq_gap: ...") use that code, so clients can act on it.
http::Response TypedError(const Status& status);

}  // namespace tianye::server

#endif  // TIANYE_SERVER_APP_H_
