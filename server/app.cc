#include "app.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>

#include "tianye/attachment.h"
#include "tianye/form.h"
#include "tianye/version.h"

namespace tianye::server {
namespace {

// The bytes of stored file `sha` (of `size` bytes) from offset `from` on,
// into the file at `path`, chunk by chunk (a resumed download).
Status CopyTail(AttachmentStore& files, const std::string& sha, int64_t size, int64_t from, const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  const int64_t chunk_size = AttachmentStore::kChunkSize;
  for (int64_t index = from / chunk_size; index * chunk_size < size; ++index) {
    TIANYE_ASSIGN_OR_RETURN(std::string chunk, files.ReadChunk(sha, index));
    const size_t skip = index == from / chunk_size ? static_cast<size_t>(from % chunk_size) : 0;
    if (skip > chunk.size()) return Status::Corruption("photo " + sha + " is shorter than its size");
    out.write(chunk.data() + skip, static_cast<std::streamsize>(chunk.size() - skip));
  }
  out.close();
  return out ? Status::Ok() : Status::IOError("cannot write " + path);
}

using nlohmann::json;

constexpr size_t kMaxInflated = 32u << 20;

bool IsCodeChar(char c) { return (c >= 'a' && c <= 'z') || c == '_'; }

json ConflictJson(const Conflict& c) {
  // The pull page's encoding of a conflict, one at a time.
  PullPage p;
  p.conflicts.push_back(c);
  return json::parse(EncodePullPage(p))["conflicts"][0];
}

json RowJson(const RecordRow& r) {
  return {{"id", r.record_id},
          {"form_id", r.form_id},
          {"form_version", r.form_version},
          {"area", {{"county", r.area.county}, {"township", r.area.township}, {"village", r.area.village}}},
          {"status", r.status},
          {"author", r.author},
          {"deleted", r.deleted},
          {"open_conflicts", r.open_conflicts},
          {"photos_pending", r.photos_pending},
          {"form_problems", r.form_problems},
          {"checked", r.checked},
          {"version", r.version},
          {"created_ms", r.created_ms},
          {"updated_ms", r.updated_ms}};
}

// A whole-number query parameter; `fallback` when absent.
Result<int64_t> IntParam(const http::Request& r, const char* key, int64_t fallback) {
  const std::string& v = r.Query(key);
  if (v.empty()) return fallback;
  if (v.size() > 15 || v.find_first_not_of("0123456789") != std::string::npos) {
    return Status::InvalidArgument(std::string(key) + " must be a whole number");
  }
  return std::stoll(v);
}

}  // namespace

json UserJson(const User& u) {
  return {{"username", u.username}, {"display_name", u.display_name}, {"role", u.role}, {"scope", u.scope}};
}

bool Match(const std::string& path, std::string_view prefix, std::string_view suffix, std::string* id) {
  if (path.size() <= prefix.size() + suffix.size()) return false;
  if (path.compare(0, prefix.size(), prefix) != 0) return false;
  if (path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  *id = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
  return !id->empty() && id->find('/') == std::string::npos;
}

Result<json> JsonBody(const http::Request& r) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument("malformed_json: the body must be a JSON object");
  }
  return j;
}

std::string Text(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

http::Response TypedError(const Status& status) {
  const std::string& m = status.message();
  size_t colon = m.find(": ");
  if (colon != std::string::npos && colon > 0 && colon <= 40 &&
      std::all_of(m.begin(), m.begin() + static_cast<long>(colon), IsCodeChar)) {
    int http_status = http::HttpStatusFor(status.code());
    if (status.code() == StatusCode::kResourceExhausted && m.compare(0, colon, "too_many_logins") == 0) {
      http_status = 429;
    }
    return http::Response::Error(http_status, m.substr(0, colon), m.substr(colon + 2));
  }
  return http::Response::Error(status);
}

ServerApp::ServerApp(std::unique_ptr<Store> store, std::unique_ptr<Store> reader)
    : store_(std::move(store)),
      accounts_(store_.get(), &mu_),
      ledger_(store_.get()),
      review_(store_.get()),
      forms_(store_.get()),
      checker_(store_.get(), &forms_),
      reader_(std::move(reader)),
      reads_(reader_ ? reader_.get() : store_.get()) {}

Result<int> ServerApp::CheckChangedRecords(int max_records) {
  Result<CheckBatch> batch = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    return checker_.Take(max_records);
  }();
  if (!batch) return batch.error();
  batch->Check(&store_->clock());  // most of the work, and no store: requests go on meanwhile
  std::lock_guard<std::mutex> lock(mu_);
  TIANYE_RETURN_IF_ERROR(checker_.Keep(*batch));
  return static_cast<int>(batch->size());
}

http::RouteLimits ServerApp::Limits(std::string_view method, std::string_view path) {
  http::RouteLimits l;
  l.body_limit = 64 * 1024;
  if (method == "POST" && path == "/v1/sync/push") l.body_limit = 16u << 20;
  if (method == "PUT" && path.rfind("/v1/blobs/", 0) == 0) l.body_limit = AttachmentStore::kChunkSize + 1024;
  if (method == "POST" && path == "/v1/admin/forms") l.body_limit = 8u << 20;  // an XLSForm with its choices
  if (method == "POST" && path == "/v1/admin/priority-list") l.body_limit = 24u << 20;  // 500,000 households
  return l;
}

http::Response ServerApp::Handle(const http::Request& request) {
  http::Request req = request;
  const std::string& encoding = request.Header("content-encoding");
  if (encoding == "gzip" || encoding == "zstd") {
    Result<std::string> body = encoding == "gzip" ? http::Gunzip(request.body, kMaxInflated)
                                                  : http::Unzstd(request.body, kMaxInflated);
    if (!body) return TypedError(body.error());
    req.body = std::move(*body);
  } else if (!encoding.empty() && encoding != "identity") {
    return http::Response::Error(415, "bad_encoding",
                                 "Content-Encoding " + encoding + " is not supported (use gzip or zstd)");
  }
  http::Response res;
  if (req.path == "/v1/login") {
    res = Login(req);  // takes the lock itself, but not while hashing the password
  } else if (reader_ != nullptr && req.method == "GET" &&
             (req.path.rfind("/v1/export/", 0) == 0 || req.path == "/v1/review/dashboard")) {
    Result<Principal> who = [&] {
      std::lock_guard<std::mutex> lock(mu_);
      return Authenticate(req);
    }();
    if (!who) {
      res = TypedError(who.error());
    } else {
      std::lock_guard<std::mutex> lock(read_mu_);
      Result<Transaction> snapshot = reader_->BeginRead();
      if (!snapshot) {
        res = TypedError(snapshot.error());
      } else {
        std::optional<http::Response> read = RouteBulkReads(req, *who);
        res = read ? std::move(*read) : http::Response::Error(404, "not_found", "no such API: " + req.path);
      }
    }
  } else {
    std::lock_guard<std::mutex> lock(mu_);
    res = Route(req);
  }
  res.headers.emplace_back("Cache-Control", "no-store");
  // zstd when the client takes it (libcurl built with it asks for both).
  if (res.body.size() > 1024) {
    const std::string& accepted = request.Header("accept-encoding");
    const bool zstd = http::AcceptsEncoding(accepted, "zstd");
    if (zstd || http::AcceptsEncoding(accepted, "gzip")) {
      res.body = zstd ? http::Zstd(res.body) : http::Gzip(res.body);
      res.headers.emplace_back("Content-Encoding", zstd ? "zstd" : "gzip");
    }
    res.headers.emplace_back("Vary", "Accept-Encoding");
  }
  return res;
}

Result<Principal> ServerApp::Authenticate(const http::Request& r) {
  const std::string& auth = r.Header("authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (auth.compare(0, kBearer.size(), kBearer) != 0) {
    return Status::Unauthenticated("unauthenticated: send Authorization: Bearer <token> from POST /v1/login");
  }
  Result<Principal> who = accounts_.Authenticate(std::string_view(auth).substr(kBearer.size()));
  // A database that cannot be reached is the server's trouble (503), not a
  // bad token: the device must not log in again for it.
  if (!who && who.error().code() == StatusCode::kIOError) return who.error();
  if (!who) return Status::Unauthenticated("unauthenticated: " + who.error().message());
  return who;
}

http::Response ServerApp::Route(const http::Request& r) {
  if (r.path == "/healthz" && r.method == "GET") {
    // On PostgreSQL a load balancer sends nothing to a server that cannot
    // reach the database (a reconnect is tried here too).
    if (store_->on_postgres()) {
      Status db = store_->CheckIntegrity();
      if (!db.ok()) {
        return http::Response::Json(503, json{{"ok", false}, {"database", db.message()}}.dump());
      }
    }
    return http::Response::Json(200, json{{"ok", true}, {"version", VersionLine("tianye-server")}}.dump());
  }
  if (r.method == "GET" && (r.path == "/" || r.path.rfind("/assets/", 0) == 0)) {
    const EmbeddedFile* f = FindEmbedded(r.path == "/" ? "/index.html" : r.path.substr(7));
    if (f == nullptr) return http::Response::Error(404, "not_found", "no such page: " + r.path);
    return http::Asset(f->path, std::string_view(f->data, f->size));
  }
  if (r.path.rfind("/v1/", 0) != 0) return http::Response::Error(404, "not_found", "no such page: " + r.path);
  Result<Principal> who = Authenticate(r);
  if (!who) return TypedError(who.error());
  std::string id;
  if (r.path == "/v1/logout" && r.method == "POST") {
    const std::string& auth = r.Header("authorization");
    Status s = accounts_.Logout(std::string_view(auth).substr(7));
    return s.ok() ? http::Response::Json(200, "{\"ok\":true}") : TypedError(s);
  }
  if (r.path == "/v1/me" && r.method == "GET") {
    return http::Response::Json(
        200, json{{"username", who->username}, {"role", who->role}, {"scope", who->scope}, {"device_id", who->device_id}}
                 .dump());
  }
  if (r.path == "/v1/sync/push" && r.method == "POST") return Push(r, *who);
  if (r.path == "/v1/sync/pull" && r.method == "GET") return Pull(r, *who);
  if (r.path == "/v1/review/conflicts" && r.method == "GET") return Conflicts(r, *who);
  if (Match(r.path, "/v1/review/conflicts/", "/resolve", &id) && r.method == "POST") return Resolve(r, *who, id);
  if (Match(r.path, "/v1/records/", "/review", &id) && r.method == "POST") return Review(r, *who, id);
  if (r.path == "/v1/review/records" && r.method == "GET") return Records(r, *who);
  if (Match(r.path, "/v1/records/", "", &id) && r.method == "GET") return RecordPage(r, *who, id);
  if (r.path.rfind("/v1/records/", 0) == 0 && r.path.find("/files/") != std::string::npos && r.method == "GET") {
    return RecordFile(r, *who);
  }
  if ((r.path == "/v1/forms" || r.path.rfind("/v1/forms/", 0) == 0) && r.method == "GET") return Form(r);
  if (std::optional<http::Response> read = RouteBulkReads(r, *who)) return std::move(*read);
  if (r.path == "/v1/areas" && r.method == "GET") return Areas();
  if (r.path.rfind("/v1/blobs", 0) == 0) return Blobs(r, *who);
  if (r.path.rfind("/v1/admin/", 0) == 0) return Admin(r, *who);
  return http::Response::Error(404, "not_found", "no such API: " + r.method + " " + r.path);
}

std::optional<http::Response> ServerApp::RouteBulkReads(const http::Request& r, const Principal& who) {
  if (r.method != "GET") return std::nullopt;
  if (r.path == "/v1/export/records.csv") return ExportCsv(r, who);
  if (r.path == "/v1/export/records.geojson") return ExportGeoJson(r, who);
  if (r.path == "/v1/export/records.xlsx") return ExportXlsx(r, who);
  if (r.path == "/v1/export/photos.zip") return ExportPhotos(r, who);
  if (r.path == "/v1/review/dashboard") return DashboardRoute(r, who);
  return std::nullopt;
}

http::Response ServerApp::Login(const http::Request& r) {
  if (r.method != "POST") return http::Response::Error(405, "method_not_allowed", "use POST");
  Result<json> body = JsonBody(r);
  if (!body) return TypedError(body.error());
  Result<LoginResult> login = accounts_.Login(Text(*body, "username"), Text(*body, "password"), Text(*body, "device_id"));
  if (!login) {
    if (login.error().code() == StatusCode::kResourceExhausted) {
      return TypedError(Status::ResourceExhausted("too_many_logins: " + login.error().message()));
    }
    return TypedError(login.error());
  }
  return http::Response::Json(
      200, json{{"token", login->token}, {"expires_ms", login->expires_ms}, {"user", UserJson(login->user)},
                {"protocol", kSyncProtocol}}
               .dump());
}

http::Response ServerApp::Push(const http::Request& r, const Principal& who) {
  Result<PushBatch> batch = DecodePushBatch(r.body);
  if (!batch) return TypedError(batch.error());
  Result<PushResult> result = ledger_.Push(who, *batch);
  if (!result) {
    http::Response res = TypedError(result.error());
    if (result.error().message().rfind("push_seq_gap", 0) == 0) {
      // Tell the device how far the server got, so it can re-push the rest.
      Result<int64_t> acked = ledger_.AckedThrough(who.device_id);
      json body = json::parse(res.body);
      body["acked_through"] = acked ? *acked : 0;
      res.body = body.dump();
    }
    return res;
  }
  return http::Response::Json(200, EncodePushResult(*result));
}

http::Response ServerApp::Pull(const http::Request& r, const Principal& who) {
  int limit = 1000;
  auto it = r.query.find("limit");
  if (it != r.query.end()) {
    try {
      limit = std::stoi(it->second);
    } catch (...) {
      return http::Response::Error(400, "invalid_argument", "limit must be a number");
    }
  }
  Result<PullPage> page = ledger_.Pull(who, r.Query("cursor"), limit);
  if (!page) return TypedError(page.error());
  return http::Response::Json(200, EncodePullPage(*page));
}

http::Response ServerApp::Conflicts(const http::Request& r, const Principal& who) {
  if (!IsReviewer(who)) return TypedError(Status::PermissionDenied("review_forbidden: only a supervisor reviews conflicts"));
  Result<std::vector<Conflict>> all = ledger_.Conflicts(who, r.Query("record"));
  if (!all) return TypedError(all.error());
  json out = json::array();
  bool open_only = r.Query("state") == "open";
  for (const Conflict& c : *all) {
    if (open_only && c.state != "open") continue;
    out.push_back(ConflictJson(c));
  }
  return http::Response::Json(200, json{{"conflicts", out}}.dump());
}

// POST /v1/review/conflicts/ID/resolve
//   {"value": "..." or null, "seen_version": N, "note": "..."}   take a value or enter a merged one
//   {"keep": "both", "seen_version": N, "note": "..."}            keep every value, where the field allows
http::Response ServerApp::Resolve(const http::Request& r, const Principal& who, const std::string& id) {
  Result<json> body = JsonBody(r);
  if (!body) return TypedError(body.error());
  auto value = body->find("value");
  auto seen = body->find("seen_version");
  const bool keep_both = Text(*body, "keep") == "both";
  if ((!keep_both && (value == body->end() || !(value->is_string() || value->is_null()))) || seen == body->end() ||
      !seen->is_number_integer()) {
    return http::Response::Error(400, "invalid_argument",
                                 "send {\"value\": \"...\" or null, \"seen_version\": N, \"note\": \"...\"} "
                                 "or {\"keep\": \"both\", \"seen_version\": N}");
  }
  std::optional<std::string> v;
  if (keep_both) {
    Result<Conflict> c = ledger_.GetConflict(who, id);
    if (!c) return TypedError(c.error());
    Result<FieldMap> fields = ledger_.Fields(c->record_id);
    if (!fields) return TypedError(fields.error());
    Record rec;
    ApplyFields(*fields, &rec);
    Result<std::string> both = KeepBoth(*c, rec);
    if (!both) return TypedError(both.error());
    v = *both;
  } else if (value->is_string()) {
    v = value->get<std::string>();
  }
  Result<Conflict> done =
      ledger_.Resolve(who, id, v, seen->get<int64_t>(), Text(*body, "note"), keep_both ? "keep_both" : "");
  if (!done) return TypedError(done.error());
  return http::Response::Json(200, ConflictJson(*done).dump());
}

// The value that keeps every candidate of `c`, from the form of `rec`, its record.
Result<std::string> ServerApp::KeepBoth(const Conflict& c, const Record& rec) {
  Result<std::shared_ptr<const FormDef>> form = forms_.Load(rec.form_id, rec.form_version);
  if (!form) return form.error();
  const Question* q = QuestionOfField(**form, c.field);
  if (q == nullptr) {
    return Status::InvalidArgument("keep_both_not_allowed: '" + c.field + "' is not a question of the form");
  }
  return KeepBothValue(*q, c.candidates);
}

http::Response ServerApp::Review(const http::Request& r, const Principal& who, const std::string& id) {
  Result<json> body = JsonBody(r);
  if (!body) return TypedError(body.error());
  std::string status = Text(*body, "status");
  std::string comment = Text(*body, "comment");
  int64_t seen = body->contains("seen_version") && (*body)["seen_version"].is_number_integer()
                     ? (*body)["seen_version"].get<int64_t>()
                     : 0;
  if (status.empty()) return http::Response::Error(400, "invalid_argument", "send {\"status\": ..., \"comment\": ...}");
  if (status == "returned" && comment.empty()) {
    return http::Response::Error(400, "invalid_argument", "returning a record needs a comment for the inspector");
  }
  if (!comment.empty() || status == "approved") {
    std::optional<std::string> c;
    if (!comment.empty()) c = comment;
    Status s = ledger_.SetRecordField(who, id, "@comment", c, seen);
    if (!s.ok()) return TypedError(s);
    seen = 0;  // the comment moved the version on
  }
  Status s = ledger_.SetRecordField(who, id, "@status", status, seen);
  if (!s.ok()) return TypedError(s);
  return http::Response::Json(200, json{{"ok", true}}.dump());
}

namespace {

json StateJson(const std::string& sha, const BlobUploads::State& st) {
  return {{"sha256", sha}, {"complete", st.complete}, {"chunk_size", st.chunk_size}, {"chunks", st.chunks},
          {"have", st.have}};
}

}  // namespace

// POST /v1/blobs {sha256, size, mime}      start or find an upload: what is there
// GET  /v1/blobs/SHA                       the same, without starting one
// PUT  /v1/blobs/SHA/chunks/N              one chunk; X-Chunk-Sha256 names its hash
// POST /v1/blobs/SHA/finish                check the whole file, keep it
http::Response ServerApp::Blobs(const http::Request& r, const Principal& who) {
  if (who.role != "inspector" && who.role != "surveyor" && who.role != "admin") {
    return TypedError(Status::PermissionDenied("upload_forbidden: a " + who.role + " does not upload photos"));
  }
  BlobUploads uploads(store_.get());
  if (r.path == "/v1/blobs" && r.method == "POST") {
    Result<json> body = JsonBody(r);
    if (!body) return TypedError(body.error());
    auto size = body->find("size");
    if (size == body->end() || !size->is_number_integer()) {
      return http::Response::Error(400, "invalid_argument", "send {\"sha256\": ..., \"size\": N, \"mime\": ...}");
    }
    std::string sha = Text(*body, "sha256");
    Result<BlobUploads::State> st = uploads.Begin(sha, size->get<int64_t>(), Text(*body, "mime"));
    if (!st) return TypedError(st.error());
    return http::Response::Json(200, StateJson(sha, *st).dump());
  }
  constexpr std::string_view kPrefix = "/v1/blobs/";
  if (r.path.size() <= kPrefix.size() || r.path.compare(0, kPrefix.size(), kPrefix) != 0) {
    return http::Response::Error(404, "not_found", "no such API: " + r.method + " " + r.path);
  }
  std::string rest = r.path.substr(kPrefix.size());
  std::string sha = rest.substr(0, rest.find('/'));
  std::string tail = rest.size() > sha.size() ? rest.substr(sha.size()) : "";
  if (tail.empty() && r.method == "GET") {
    Result<BlobUploads::State> st = uploads.Get(sha);
    if (!st) return TypedError(st.error());
    return http::Response::Json(200, StateJson(sha, *st).dump());
  }
  if (tail == "/finish" && r.method == "POST") {
    Result<AttachmentInfo> info = uploads.Finish(sha);
    if (!info) return TypedError(info.error());
    return http::Response::Json(200, json{{"sha256", info->sha256}, {"size", info->size}, {"mime", info->mime}}.dump());
  }
  constexpr std::string_view kChunks = "/chunks/";
  if (tail.rfind(kChunks, 0) == 0 && r.method == "PUT") {
    int64_t index = -1;
    try {
      size_t used = 0;
      index = std::stoll(tail.substr(kChunks.size()), &used);
      if (used != tail.size() - kChunks.size()) index = -1;
    } catch (...) {
      index = -1;
    }
    if (index < 0) return http::Response::Error(400, "invalid_argument", "the chunk number must be 0 or more");
    Status s = uploads.PutChunk(sha, index, r.body, r.Header("x-chunk-sha256"));
    if (!s.ok()) return TypedError(s);
    return http::Response::Json(200, json{{"ok", true}, {"index", index}}.dump());
  }
  return http::Response::Error(404, "not_found", "no such API: " + r.method + " " + r.path);
}

Result<RecordQuery> QueryFrom(const http::Request& r) {
  RecordQuery q;
  q.form_id = r.Query("form");
  q.status = r.Query("status");
  q.area = r.Query("area");
  q.author = r.Query("author");
  q.conflicts_only = r.Query("conflicts") == "1";
  q.photos_pending = r.Query("photos") == "pending";
  q.problems_only = r.Query("problems") == "1";
  q.text = r.Query("q");
  if (q.text.size() > 200) return Status::InvalidArgument("q is at most 200 bytes");
  if (!r.Query("sort").empty()) q.sort = r.Query("sort");
  std::string order = r.Query("order");
  if (!order.empty() && order != "asc" && order != "desc") return Status::InvalidArgument("order is asc or desc");
  q.descending = order != "asc";
  for (auto [key, target] : {std::pair<const char*, int64_t*>{"from", &q.updated_from_ms}, {"to", &q.updated_to_ms}}) {
    TIANYE_ASSIGN_OR_RETURN(*target, IntParam(r, key, 0));
  }
  TIANYE_ASSIGN_OR_RETURN(int64_t page, IntParam(r, "page", 1));
  TIANYE_ASSIGN_OR_RETURN(int64_t per_page, IntParam(r, "per_page", 50));
  if (page > 1'000'000 || per_page > 200) return Status::InvalidArgument("page is 1..1000000 and per_page 1..200");
  q.page = static_cast<int>(page);
  q.per_page = static_cast<int>(per_page);
  return q;
}

// GET /v1/review/records?form=&status=&area=&author=&conflicts=1&photos=pending&problems=1&q=&from=&to=&sort=&order=&page=&per_page=
http::Response ServerApp::Records(const http::Request& r, const Principal& who) {
  if (!IsReviewer(who)) return TypedError(Status::PermissionDenied("review_forbidden: only a supervisor reviews records"));
  Result<RecordQuery> parsed = QueryFrom(r);
  if (!parsed) return TypedError(parsed.error());
  const RecordQuery& q = *parsed;
  Result<RecordList> list = review_.List(who, q);
  if (!list) return TypedError(list.error());
  json rows = json::array();
  for (const RecordRow& row : list->rows) rows.push_back(RowJson(row));
  json out = {{"total", list->total}, {"page", q.page}, {"per_page", q.per_page}, {"records", rows}};
  if (q.problems_only) out["unchecked"] = list->unchecked;
  return http::Response::Json(200, out.dump());
}

// GET /v1/records/ID?lang=zh|en: the record's row, current fields and
// answers, the problems its answers have against its form now (messages in
// `lang`), the history of every field, and its conflicts.
http::Response ServerApp::RecordPage(const http::Request& r, const Principal& who, const std::string& id) {
  if (!IsReviewer(who)) return TypedError(Status::PermissionDenied("review_forbidden: only a supervisor reviews records"));
  const std::string lang = r.Query("lang").empty() ? "zh" : r.Query("lang");
  if (lang.size() > 16) return TypedError(Status::InvalidArgument("lang is a language code such as zh or en"));
  Result<RecordDetail> d = review_.Get(who, id);
  if (!d) return TypedError(d.error());
  Record rec;
  ApplyFields(d->fields, &rec);
  json history = json::array();
  for (const FieldHistoryEntry& e : d->history) {
    history.push_back({{"version", e.version},
                       {"field", e.field},
                       {"value", e.value ? json(*e.value) : json()},
                       {"device", e.device_id},
                       {"author", e.author},
                       {"received_ms", e.received_ms},
                       {"kind", e.kind}});
  }
  Result<std::vector<Conflict>> conflicts = ledger_.Conflicts(who, id);
  if (!conflicts) return TypedError(conflicts.error());
  json cj = json::array();
  for (const Conflict& c : *conflicts) {
    json one = ConflictJson(c);
    one["keep_both"] = c.state == "open" && KeepBoth(c, rec).ok();  // whether the page offers "keep both"
    cj.push_back(std::move(one));
  }
  json problems;  // null: the form version is not installed here, so nothing to check against
  if (auto form = forms_.Load(d->row.form_id, d->row.form_version)) {
    problems = json::array();
    for (const FinalizeProblem& p : CheckAnswers(*form, rec, lang, &store_->clock())) {
      problems.push_back({{"path", p.path}, {"message", p.message}, {"missing", p.missing}});
    }
  }
  json values = json::parse(rec.values_json.empty() ? "{}" : rec.values_json, nullptr, false);
  return http::Response::Json(200, json{{"record", RowJson(d->row)},
                                        {"problems", problems},
                                        {"comment", d->fields.count("@comment") ? d->fields.at("@comment") : ""},
                                        {"values", values.is_discarded() ? json::object() : values},
                                        {"fields", d->fields},
                                        {"history", history},
                                        {"conflicts", cj}}
                                       .dump(-1, ' ', false, json::error_handler_t::replace));
}

// GET /v1/records/ID/files/SHA256: a photo (or other file) the record's
// answers name, for anyone who may see the record: reviewers, and devices
// fetching their colleagues' photos of records they pull. Any other file,
// or a record outside the scope, is not found.
http::Response ServerApp::RecordFile(const http::Request& r, const Principal& who) {
  std::string rest = r.path.substr(std::string_view("/v1/records/").size());
  size_t at = rest.find("/files/");
  std::string id = rest.substr(0, at), sha = rest.substr(at + 7);
  Result<RecordDetail> d = review_.Get(who, id);
  if (!d) return TypedError(d.error());
  bool named = sha.size() == 64 && std::any_of(d->fields.begin(), d->fields.end(), [&](const auto& f) {
    return IsFileAnswer(f.second) && f.second.compare(0, 64, sha) == 0;
  });
  if (!named) return http::Response::Error(404, "not_found", "the record names no file " + sha);
  AttachmentStore files(store_.get());
  Result<AttachmentInfo> info = files.Stat(sha);
  if (!info) return TypedError(Status::NotFound("not_found: the photo has not reached the server yet"));
  // "Range: bytes=N-" (a device resuming a download): the bytes from N on.
  int64_t from = 0;
  if (const std::string& range = r.Header("range"); range.rfind("bytes=", 0) == 0 && range.back() == '-') {
    const std::string digits = range.substr(6, range.size() - 7);
    if (!digits.empty() && digits.size() <= 18 && digits.find_first_not_of("0123456789") == std::string::npos) {
      from = std::stoll(digits);
    }
    if (from >= info->size) {
      http::Response res = http::Response::Error(416, "invalid_argument", "the photo has " + std::to_string(info->size) + " bytes");
      res.headers.emplace_back("Content-Range", "bytes */" + std::to_string(info->size));
      return res;
    }
  }
  std::string path = http::TempFile("", "tianye-file");
  if (path.empty()) return http::Response::Error(503, "unavailable", "cannot make a temporary file for the photo");
  Status s = from == 0 ? files.ReadToFile(sha, path) : CopyTail(files, sha, info->size, from, path);
  if (!s.ok()) {
    std::remove(path.c_str());
    return TypedError(s);
  }
  http::Response res;
  res.content_type = info->mime.empty() ? "application/octet-stream" : info->mime;
  res.body_file = path;
  res.remove_body_file = true;
  res.headers.emplace_back("Accept-Ranges", "bytes");
  if (from > 0) {
    res.status = 206;
    res.headers.emplace_back("Content-Range", "bytes " + std::to_string(from) + "-" + std::to_string(info->size - 1) +
                                                  "/" + std::to_string(info->size));
  }
  return res;
}

// GET /v1/areas: the names of the counties, townships and villages the
// installed forms list (counties.csv, towns.csv, villages.csv), for pages that
// show codes: {"counties": [{"code", "name"}], "towns": [{"code", "name",
// "county"}], "villages": [{"code", "name", "town", "hh_registered"?,
// "hh_resident"?}]}, codes as 12 digits; household counts only where the
// list gives a whole number.
http::Response ServerApp::Areas() {
  Result<std::vector<InstalledForm>> installed = forms_.List();
  if (!installed) return TypedError(installed.error());
  auto twelve = [](std::string code) {
    if (code.size() < 12) code.append(12 - code.size(), '0');
    return code;
  };
  std::map<std::string, json> lists;  // "counties" -> code -> entry
  std::set<std::string> done;
  for (const InstalledForm& f : *installed) {
    if (!done.insert(f.form_id).second) continue;  // the newest version of each form
    Result<std::shared_ptr<const FormDef>> def = forms_.Load(f.form_id, f.version);
    if (!def) continue;
    for (auto [file, list, parent] : {std::tuple<const char*, const char*, const char*>{"counties.csv", "counties", ""},
                                      {"towns.csv", "towns", "county"},
                                      {"villages.csv", "villages", "town"}}) {
      const CsvTable* t = (*def)->File(file);
      if (t == nullptr) continue;
      int code = t->Column("name"), name = t->Column("label::zh"), up = *parent ? t->Column(parent) : -1;
      if (code < 0 || name < 0) continue;
      // Villages' household counts, where the list gives them: the
      // dashboard's denominators (forms.md §6, marked ⓡ).
      const int registered = t->Column("hh_registered"), resident = t->Column("hh_resident");
      for (const auto& row : t->rows) {
        if (static_cast<int>(row.size()) <= std::max({code, name, up})) continue;
        json entry = {{"code", twelve(row[code])}, {"name", row[name]}};
        if (up >= 0) entry[parent] = twelve(row[up]);
        for (auto [column, key] : {std::pair{registered, "hh_registered"}, std::pair{resident, "hh_resident"}}) {
          if (column < 0 || column >= static_cast<int>(row.size()) || row[column].empty()) continue;
          char* end = nullptr;
          const long long n = std::strtoll(row[column].c_str(), &end, 10);
          if (*end == '\0' && n >= 0) entry[key] = n;
        }
        lists[list][twelve(row[code])] = entry;
      }
    }
  }
  json out = json::object();
  for (const char* list : {"counties", "towns", "villages"}) {
    out[list] = json::array();
    for (auto& [code, entry] : lists[list].items()) out[list].push_back(entry);
  }
  return http::Response::Json(200, out.dump());
}

// GET /v1/forms                      every installed form version (devices fetch the ones they lack)
// GET /v1/forms/ID/VERSION           the installed form (labels for pages and tools)
// GET /v1/forms/ID/VERSION/files     the CSV lists it names, {"files": {"villages.csv": "…"}}
http::Response ServerApp::Form(const http::Request& r) {
  if (r.path == "/v1/forms") {
    Result<std::vector<InstalledForm>> installed = forms_.List();
    if (!installed) return TypedError(installed.error());
    json list = json::array();
    for (const InstalledForm& f : *installed) {
      list.push_back({{"form_id", f.form_id}, {"version", f.version}, {"title", f.title}});
    }
    return http::Response::Json(200, json{{"forms", list}}.dump());
  }
  std::string rest = r.path.substr(std::string_view("/v1/forms/").size());
  const bool files = rest.size() > 6 && rest.compare(rest.size() - 6, 6, "/files") == 0;
  if (files) rest.resize(rest.size() - 6);
  size_t slash = rest.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= rest.size() ||
      rest.find('/', slash + 1) != std::string::npos) {
    return http::Response::Error(404, "not_found", "use /v1/forms/FORM_ID/VERSION or .../VERSION/files");
  }
  if (files) {
    Result<std::shared_ptr<const FormDef>> def = forms_.Load(rest.substr(0, slash), rest.substr(slash + 1));
    if (!def) return TypedError(def.error());
    return http::Response::Json(200, json{{"files", (*def)->raw_files()}}.dump(-1, ' ', false,
                                                                               json::error_handler_t::replace));
  }
  Result<std::string> def = forms_.Definition(rest.substr(0, slash), rest.substr(slash + 1));
  if (!def) return TypedError(def.error());
  return http::Response::Json(200, std::move(*def));
}

}  // namespace tianye::server
