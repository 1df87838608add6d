#include "sync.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string_view>
#include <thread>

#include "http.h"
#include "tianye/attachment.h"
#include "tianye/form_store.h"
#include "tianye/record.h"
#include "tianye/sync.h"

namespace tianye::cli {
namespace {

using nlohmann::json;

constexpr char kServerKey[] = "sync.server";
constexpr char kTokenKey[] = "sync.token";
constexpr char kUserKey[] = "sync.user";
constexpr char kPinKey[] = "sync.pin";
constexpr char kCaKey[] = "sync.ca";

struct Reply {
  long status = 0;
  std::string body;
  std::string content_type;
  std::string error_code;  // from a JSON error body
  std::string message;
};

class Http {
 public:
  Http(const SyncOptions& o, SyncProgress* progress) : o_(o), progress_(progress) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl_ = curl_easy_init();
  }
  ~Http() {
    if (curl_ != nullptr) curl_easy_cleanup(curl_);
  }
  Http(const Http&) = delete;
  Http& operator=(const Http&) = delete;

  void set_token(const std::string& t) { token_ = t; }
  // How HTTPS servers are trusted: a CA file (or the server's own
  // certificate), a public-key pin, both, or neither (the system's CAs).
  void set_trust(const std::string& ca_file, const std::string& pin) {
    ca_file_ = ca_file;
    pin_ = pin;
  }

  // Fetches `url` into the file at `path`, going on from the bytes already
  // there (Range: the server answers 206 with the rest). Any answer but 200
  // or 206 leaves the file as it was, its body read into the Reply. With
  // Send's retries, each resuming where the last one stopped.
  Result<Reply> Download(const std::string& url, const std::string& path) {
    download_to_ = path;
    Result<Reply> r = Send("GET", url, "");
    download_to_.clear();
    return r;
  }

  // Sends with retries for what may pass (network errors, 5xx but 501, 429);
  // answers 2xx, 4xx and 501 as they are.
  Result<Reply> Send(const std::string& method, const std::string& url, const std::string& body,
                     const std::vector<std::string>& extra_headers = {}) {
    std::mt19937_64 rng(std::random_device{}());
    int64_t wait = o_.backoff_start_ms;
    Status last = Status::IOError("no attempt made");
    for (int attempt = 1; attempt <= std::max(1, o_.attempts); ++attempt) {
      Result<Reply> r = Once(method, url, body, extra_headers);
      if (r && ((r->status < 500 && r->status != 429) || r->status == 501)) return r;  // 501: no retry helps
      if (!r && r.error().code() != StatusCode::kIOError) return r.error();  // e.g. an untrusted server
      last = r ? Status::IOError("the server answered " + std::to_string(r->status) + ": " + r->message)
               : r.error();
      if (attempt == o_.attempts) break;
      int64_t jittered = wait / 2 + static_cast<int64_t>(rng() % static_cast<uint64_t>(wait / 2 + 1));
      std::this_thread::sleep_for(std::chrono::milliseconds(jittered));
      wait = std::min<int64_t>(wait * 2, 30'000);
    }
    return last;
  }

 private:
  static size_t Collect(char* data, size_t size, size_t n, void* user) {
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
  }
  static size_t Write(char* data, size_t size, size_t n, void* file) {
    return std::fwrite(data, 1, size * n, static_cast<FILE*>(file));
  }

  Result<Reply> Once(const std::string& method, const std::string& url, const std::string& body,
                     const std::vector<std::string>& extra_headers) {
    if (curl_ == nullptr) return Status::Internal("libcurl did not start");
    curl_easy_reset(curl_);
    Reply reply;
    std::string sent = body;
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Accept: application/json");
    // No "Expect: 100-continue": it would wait up to a second before each
    // body for an interim answer the server does not send.
    headers = curl_slist_append(headers, "Expect:");
    if (!token_.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + token_).c_str());
    for (const std::string& h : extra_headers) headers = curl_slist_append(headers, h.c_str());
    if (!body.empty() && extra_headers.empty()) {
      headers = curl_slist_append(headers, "Content-Type: application/json");
      if (body.size() > 1024) {
        sent = server_zstd_ ? http::Zstd(body) : http::Gzip(body);
        headers = curl_slist_append(headers, server_zstd_ ? "Content-Encoding: zstd" : "Content-Encoding: gzip");
      }
    }
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (method == "POST" || method == "PUT") {
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, sent.data());
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(sent.size()));
    }
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl_, CURLOPT_ACCEPT_ENCODING, "");  // zstd or gzip answers, inflated by libcurl
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT, o_.connect_timeout_s);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT, o_.transfer_timeout_s);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    // A download goes to its file, not to memory (a photo may be large),
    // after the bytes an earlier attempt left there.
    std::error_code size_error;
    const int64_t had = download_to_.empty() || !std::filesystem::exists(download_to_)
                            ? 0
                            : static_cast<int64_t>(std::filesystem::file_size(download_to_, size_error));
    FILE* file = download_to_.empty() ? nullptr : std::fopen(download_to_.c_str(), "ab");
    if (!download_to_.empty() && file == nullptr) {
      curl_slist_free_all(headers);
      return Status::IOError("cannot write " + download_to_);
    }
    // libcurl asks for the rest and fails (CURLE_RANGE_ERROR) rather than
    // append a whole answer to the part already here.
    if (had > 0) curl_easy_setopt(curl_, CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(had));
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, file != nullptr ? Write : Collect);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, file != nullptr ? static_cast<void*>(file) : &reply.body);
    curl_easy_setopt(curl_, CURLOPT_USERAGENT, "tianye-client");
    if (!ca_file_.empty()) curl_easy_setopt(curl_, CURLOPT_CAINFO, ca_file_.c_str());
    if (!pin_.empty()) {
      // A pinned key is the trust: a self-signed server certificate is fine,
      // a different key is refused before anything is sent.
      curl_easy_setopt(curl_, CURLOPT_PINNEDPUBLICKEY, pin_.c_str());
      if (ca_file_.empty()) {
        curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYHOST, 0L);
      }
    }
    CURLcode rc = curl_easy_perform(curl_);
    curl_slist_free_all(headers);
    // A server that answers in zstd reads zstd too (both came in the same
    // version): later bodies go as zstd, cheaper for the phone than gzip.
    curl_header* coding = nullptr;
    if (curl_easy_header(curl_, "Content-Encoding", 0, CURLH_HEADER, -1, &coding) == CURLHE_OK &&
        std::string_view(coding->value).find("zstd") != std::string_view::npos) {
      server_zstd_ = true;
    }
    if (file != nullptr && std::fclose(file) != 0 && rc == CURLE_OK) rc = CURLE_WRITE_ERROR;
    if (rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH) {
      return Status::PermissionDenied(
          "pin_mismatch: the server's key does not match the pin this device trusts: it is another "
          "server, or its certificate was replaced (ask the administrator for the new pin)");
    }
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE) {
      return Status::PermissionDenied(
          std::string("untrusted_server: ") + curl_easy_strerror(rc) +
          ". Pair with the server once with --pin sha256//... (tianye-server prints it at start) or --ca FILE");
    }
    if (rc == CURLE_RANGE_ERROR && had > 0) {
      // Asked for the rest, and the server answered otherwise: an error
      // (e.g. it does not have the photo) is that answer; the whole file
      // instead of the rest means starting over.
      long status = 0;
      curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
      if (status >= 400) {
        reply.status = status;
        reply.message = "asked for the rest of a download";
        return reply;
      }
      std::filesystem::resize_file(download_to_, 0, size_error);
      if (!size_error) return Once(method, url, body, extra_headers);
    }
    if (rc != CURLE_OK) {
      return Status::IOError(std::string("cannot reach ") + url + ": " + curl_easy_strerror(rc));
    }
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &reply.status);
    if (const char* type = nullptr; curl_easy_getinfo(curl_, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type) {
      reply.content_type = type;
    }
    if (file != nullptr) {
      curl_off_t got = 0;
      curl_easy_getinfo(curl_, CURLINFO_SIZE_DOWNLOAD_T, &got);
      progress_->bytes_down += static_cast<int64_t>(got);
      if (reply.status != 200 && reply.status != 206) {  // an error's JSON, not the file's bytes
        std::ifstream in(download_to_, std::ios::binary);
        in.seekg(had);
        reply.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        in.close();
        std::filesystem::resize_file(download_to_, static_cast<uintmax_t>(had), size_error);
      }
    } else {
      progress_->bytes_down += static_cast<int64_t>(reply.body.size());
    }
    progress_->bytes_up += static_cast<int64_t>(sent.size());
    if (reply.status >= 400) {
      json j = json::parse(reply.body, nullptr, false);
      if (j.is_object()) {
        reply.error_code = j.value("error", "");
        reply.message = j.value("message", "");
      }
    }
    return reply;
  }

  const SyncOptions& o_;
  SyncProgress* progress_;
  CURL* curl_ = nullptr;
  std::string token_;
  std::string ca_file_;
  std::string pin_;
  std::string download_to_;  // set during Download()
  bool server_zstd_ = false;  // the server has answered in zstd
};

// A server error as a Status with its typed code kept in front.
Status ServerError(const Reply& r) {
  std::string m = r.error_code + ": " + r.message;
  switch (r.status) {
    case 400: return Status::InvalidArgument(m);
    case 401: return Status::Unauthenticated(m);
    case 403: return Status::PermissionDenied(m);
    case 404: return Status::NotFound(m);
    case 409: return Status::Conflict(m);
    case 413: return Status::ResourceExhausted(m);
    case 501: return Status::Unimplemented(m);  // a route this server does not have
    default: return Status::IOError("the server answered " + std::to_string(r.status) + ": " + m);
  }
}

std::string Trim(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

std::string UrlEncode(const std::string& s) {
  std::string out;
  static const char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

class Syncer {
 public:
  Syncer(Store& store, const SyncOptions& o) : store_(store), o_(o), http_(o, &report_.totals), replica_(&store) {}

  Result<SyncReport> Run() {
    TIANYE_RETURN_IF_ERROR(Login());
    TIANYE_RETURN_IF_ERROR(FetchForms());  // before pull: others' records may be of a new version
    CountPending();
    for (int round = 0; round < 3; ++round) {
      Status pushed = PushAll();
      if (!pushed.ok()) return pushed;
      Result<bool> pulled = PullAll();
      if (!pulled) return pulled.error();
      if (*pulled) break;  // true: done; false: the server was restored, push again
    }
    TIANYE_RETURN_IF_ERROR(Returned());
    TIANYE_RETURN_IF_ERROR(UploadPhotos());
    TIANYE_RETURN_IF_ERROR(DownloadPhotos());
    CountPending();
    report_.totals.stage = "done";
    Progress();
    return report_;
  }

 private:
  // Counting the outbox scans it: done once at the start and at the end,
  // in between the count goes down with what was pushed.
  void CountPending() {
    Result<int64_t> pending = replica_.ReadyOps();
    report_.totals.ops_pending = pending ? *pending : 0;
  }
  void Progress() {
    if (o_.on_progress) o_.on_progress(report_.totals);
  }

  Status Login() {
    report_.totals.stage = "login";
    TIANYE_ASSIGN_OR_RETURN(std::optional<std::string> stored_server, store_.GetSetting(kServerKey));
    TIANYE_ASSIGN_OR_RETURN(std::optional<std::string> token, store_.GetSetting(kTokenKey));
    TIANYE_ASSIGN_OR_RETURN(std::optional<std::string> user, store_.GetSetting(kUserKey));
    server_ = Trim(o_.server.empty() ? stored_server.value_or("") : o_.server);
    if (server_.empty()) return Status::InvalidArgument("which server? give --server URL for the first sync");
    bool same_server = stored_server && Trim(*stored_server) == server_;
    bool same_user = o_.username.empty() || (user && *user == o_.username);
    // The trust given now, or else the one this device paired with.
    TIANYE_ASSIGN_OR_RETURN(std::optional<std::string> stored_pin, store_.GetSetting(kPinKey));
    TIANYE_ASSIGN_OR_RETURN(std::optional<std::string> stored_ca, store_.GetSetting(kCaKey));
    bool new_trust = !o_.pin.empty() || !o_.ca_file.empty();
    std::string pin = new_trust ? o_.pin : (same_server ? stored_pin.value_or("") : "");
    std::string ca = new_trust ? o_.ca_file : (same_server ? stored_ca.value_or("") : "");
    if (!pin.empty() && pin.rfind("sha256//", 0) != 0) {
      return Status::InvalidArgument("a pin looks like sha256//BASE64 (as tianye-server prints it)");
    }
    http_.set_trust(ca, pin);
    auto keep_trust = [&]() -> Status {
      TIANYE_RETURN_IF_ERROR(store_.PutSetting(kPinKey, pin));
      return store_.PutSetting(kCaKey, ca);
    };
    if (token && same_server && same_user && o_.password.empty()) {
      http_.set_token(*token);
      if (new_trust) {  // kept once it is proven to reach the server
        TIANYE_ASSIGN_OR_RETURN(Reply r, http_.Send("GET", server_ + "/v1/me", ""));
        if (r.status != 200) return ServerError(r);
        TIANYE_RETURN_IF_ERROR(keep_trust());
      }
      return Status::Ok();
    }
    if (o_.password.empty() || (o_.username.empty() && !user)) {
      return Status::Unauthenticated("log in first: tianye sync --server " + server_ +
                                     " --user NAME (the password is asked for once; the login is kept)");
    }
    std::string username = o_.username.empty() ? *user : o_.username;
    TIANYE_ASSIGN_OR_RETURN(std::string device, DeviceId(store_));
    json body = {{"username", username}, {"password", o_.password}, {"device_id", device}};
    TIANYE_ASSIGN_OR_RETURN(Reply r, http_.Send("POST", server_ + "/v1/login", body.dump()));
    if (r.status != 200) return ServerError(r);
    json j = json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j.contains("token") || !j["token"].is_string()) {
      return Status::IOError("the server's login answer is not understood");
    }
    TIANYE_ASSIGN_OR_RETURN(Transaction tx, store_.Begin());
    TIANYE_RETURN_IF_ERROR(store_.PutSetting(kServerKey, server_));
    TIANYE_RETURN_IF_ERROR(store_.PutSetting(kUserKey, username));
    TIANYE_RETURN_IF_ERROR(store_.PutSetting(kTokenKey, j["token"].get<std::string>()));
    TIANYE_RETURN_IF_ERROR(keep_trust());
    TIANYE_RETURN_IF_ERROR(tx.Commit());
    http_.set_token(j["token"].get<std::string>());
    return Status::Ok();
  }

  Result<int64_t> ServerAcked() {
    TIANYE_ASSIGN_OR_RETURN(Reply r, http_.Send("GET", server_ + "/v1/sync/pull?limit=1", ""));
    if (r.status != 200) return ServerError(r);
    TIANYE_ASSIGN_OR_RETURN(PullPage page, DecodePullPage(r.body));
    return page.acked_through;
  }

  // Installs the form versions the server has and this device lacks (a new
  // version an admin installed), with the CSV lists they name. A version
  // that will not install is reported, not fatal: records of the forms the
  // device has still sync.
  Status FetchForms() {
    report_.totals.stage = "forms";
    TIANYE_ASSIGN_OR_RETURN(Reply r, http_.Send("GET", server_ + "/v1/forms", ""));
    if (r.status == 404) return Status::Ok();  // a server without the list
    if (r.status != 200) return ServerError(r);
    nlohmann::json list = nlohmann::json::parse(r.body, nullptr, false);
    if (!list.is_object() || !list.contains("forms") || !list["forms"].is_array()) {
      return Status::InvalidArgument("the server's form list is not what this client expects");
    }
    FormStore local(&store_);
    TIANYE_ASSIGN_OR_RETURN(std::vector<InstalledForm> installed, local.List());
    std::set<std::pair<std::string, std::string>> have;
    for (const InstalledForm& f : installed) have.emplace(f.form_id, f.version);
    for (const nlohmann::json& f : list["forms"]) {
      if (!f.is_object() || !f.contains("form_id") || !f["form_id"].is_string() || !f.contains("version") ||
          !f["version"].is_string()) {
        continue;
      }
      const std::string id = f["form_id"], version = f["version"];
      if (have.count({id, version})) continue;
      const std::string base = server_ + "/v1/forms/" + UrlEncode(id) + "/" + UrlEncode(version);
      TIANYE_ASSIGN_OR_RETURN(Reply def, http_.Send("GET", base, ""));
      if (def.status != 200) return ServerError(def);
      TIANYE_ASSIGN_OR_RETURN(Reply lists, http_.Send("GET", base + "/files", ""));
      if (lists.status != 200) return ServerError(lists);
      nlohmann::json files_json = nlohmann::json::parse(lists.body, nullptr, false);
      std::map<std::string, std::string> files;
      if (files_json.is_object() && files_json.contains("files") && files_json["files"].is_object()) {
        for (auto it = files_json["files"].begin(); it != files_json["files"].end(); ++it) {
          if (it->is_string()) files[it.key()] = it->get<std::string>();
        }
      }
      Result<InstalledForm> done = local.Install(def.body, files);
      if (done) {
        ++report_.totals.forms_installed;
      } else {
        report_.form_problems.push_back(id + " " + version + ": " + done.error().message());
      }
    }
    return Status::Ok();
  }

  // Pushes the outbox a batch at a time, each sent once the answer to the
  // one before is stored (the server takes a device's push_seq in order).
  // The device's own work overlaps the server's: while batch k travels and
  // is merged, k+1 is numbered and encoded.
  Status PushAll() {
    report_.totals.stage = "push";
    bool reset = false;
    std::set<std::string> refused;  // records whose ops the server refused in this sync
    // Refused ops stay in the outbox: once only they are left, they wait
    // for the next sync.
    auto only_refused = [&](const PushBatch& b) {
      return std::all_of(b.ops.begin(), b.ops.end(), [&](const FieldOp& op) { return refused.count(op.record_id) > 0; });
    };
    const std::string url = server_ + "/v1/sync/push";
    // A send on a thread of its own; the body goes with it. On an early
    // return the future's destructor waits for the send to finish.
    auto send = [this, &url](std::string body) {
      return std::async(std::launch::async, [this, &url, body = std::move(body)] { return http_.Send("POST", url, body); });
    };
    // The next batch, numbered and encoded while the one before travels.
    struct Prepared {
      std::optional<PushBatch> batch;
      std::string body;
    };
    auto prepare = [&](Result<std::optional<PushBatch>> b) -> Result<Prepared> {
      if (!b) return b.error();
      Prepared p{std::move(*b), ""};
      if (p.batch) p.body = EncodePushBatch(*p.batch);
      return p;
    };
    TIANYE_ASSIGN_OR_RETURN(Prepared batch, prepare(replica_.NextBatch(o_.batch_ops)));
    while (batch.batch && !only_refused(*batch.batch)) {
      std::future<Result<Reply>> in_flight = send(std::move(batch.body));
      TIANYE_ASSIGN_OR_RETURN(Prepared next, prepare(replica_.NextBatchAfter(*batch.batch, o_.batch_ops)));
      while (true) {
        TIANYE_ASSIGN_OR_RETURN(Reply r, in_flight.get());
        if (r.status == 409 && r.error_code == "push_seq_gap" && !reset) {
          // The server lost what it had acknowledged (restored from a
          // backup): every op is numbered again.
          json j = json::parse(r.body, nullptr, false);
          int64_t acked = j.is_object() ? j.value("acked_through", int64_t{0}) : 0;
          TIANYE_RETURN_IF_ERROR(replica_.ResetAfterServerRestore(acked));
          reset = true;
          TIANYE_ASSIGN_OR_RETURN(batch, prepare(replica_.NextBatch(o_.batch_ops)));
          break;
        }
        if (r.status != 200) return ServerError(r);
        TIANYE_ASSIGN_OR_RETURN(PushResult result, DecodePushResult(r.body));
        const PushBatch& sent = *batch.batch;
        if (result.acked_through < sent.ops.back().push_seq) {
          return Status::Internal("the server acknowledged only part of a batch");
        }
        CountOutcomes(sent, result, &refused);
        Progress();  // before the next send: its byte counts are not read while it runs
        // This answer is stored before the next batch goes, so that a sync
        // cut at any moment leaves at most one batch the server may hold
        // and the device must send again.
        TIANYE_RETURN_IF_ERROR(replica_.ApplyPushResult(sent, result));
        if (!next.batch || only_refused(*next.batch)) return Status::Ok();  // numbered, unsent: the next sync sends it
        in_flight = send(std::move(next.body));
        batch = std::move(next);
        // While it travels and is merged, the one after is made ready.
        TIANYE_ASSIGN_OR_RETURN(next, prepare(replica_.NextBatchAfter(*batch.batch, o_.batch_ops)));
      }
    }
    return Status::Ok();
  }

  void CountOutcomes(const PushBatch& batch, const PushResult& result, std::set<std::string>* refused) {
    for (const OpOutcome& o : result.outcomes) {
      if (o.push_seq > batch.ops.back().push_seq || o.push_seq < batch.ops.front().push_seq) continue;
      if (o.outcome == "refused") {
        // A batch's push_seq are contiguous: the op is at its offset.
        const FieldOp& op = batch.ops[static_cast<size_t>(o.push_seq - batch.ops.front().push_seq)];
        if (refused->insert(op.record_id).second) {
          report_.problems.push_back("record " + op.record_id + " was not taken: " + o.error +
                                     " (kept on this device; sent again at the next sync)");
        }
        continue;
      }
      ++report_.totals.ops_pushed;
      report_.totals.ops_pending = std::max<int64_t>(0, report_.totals.ops_pending - 1);
      if (o.outcome == "conflict") ++report_.totals.conflicts;
    }
  }

  // true: pulled to the end; false: the server was restored, push again first.
  Result<bool> PullAll() {
    report_.totals.stage = "pull";
    while (true) {
      TIANYE_ASSIGN_OR_RETURN(std::string cursor, replica_.PullCursor());
      std::string url = server_ + "/v1/sync/pull?limit=" + std::to_string(o_.pull_limit) +
                        (cursor.empty() ? "" : "&cursor=" + UrlEncode(cursor));
      TIANYE_ASSIGN_OR_RETURN(Reply r, http_.Send("GET", url, ""));
      if (r.status == 409 && r.error_code == "must_refetch") {
        TIANYE_ASSIGN_OR_RETURN(int64_t acked, ServerAcked());
        TIANYE_RETURN_IF_ERROR(replica_.ResetAfterServerRestore(acked));
        return false;
      }
      if (r.status != 200) return ServerError(r);
      TIANYE_ASSIGN_OR_RETURN(PullPage page, DecodePullPage(r.body));
      TIANYE_ASSIGN_OR_RETURN(bool lost, replica_.ServerLostAcknowledged(page.acked_through));
      if (lost) {  // restored from a backup older than this device's last push
        TIANYE_RETURN_IF_ERROR(replica_.ResetAfterServerRestore(page.acked_through));
        return false;
      }
      TIANYE_RETURN_IF_ERROR(replica_.ApplyPullPage(page));
      report_.totals.changes_pulled += static_cast<int64_t>(page.changes.size());
      Progress();
      if (!page.has_more) return true;
    }
  }

  // Photos trail the records: each file goes up in chunks the server does
  // not have yet, then the server checks it whole. A file that fails is
  // reported and tried again at the next sync; the others go on.
  Status UploadPhotos() {
    report_.totals.stage = "photos";
    TIANYE_ASSIGN_OR_RETURN(std::vector<SyncReplica::Blob> blobs, replica_.BlobsToUpload());
    report_.totals.photos_pending = static_cast<int64_t>(blobs.size());
    Progress();
    for (const SyncReplica::Blob& b : blobs) {
      Status s = UploadOne(b);
      if (s.code() == StatusCode::kUnauthenticated || s.code() == StatusCode::kIOError) return s;
      if (!s.ok()) {
        report_.problems.push_back("photo " + b.sha256.substr(0, 12) + ": " + s.message());
        continue;
      }
      TIANYE_RETURN_IF_ERROR(replica_.MarkUploaded(b.sha256));
      ++report_.totals.photos_sent;
      --report_.totals.photos_pending;
      Progress();
    }
    return Status::Ok();
  }

  // Then the photos of other devices' records this device has pulled (the
  // answers name them; the file is not here yet), up to
  // o_.photo_download_bytes per sync: each is checked against its hash
  // before it is kept. One that fails is reported and tried at the next
  // sync; so are those past the budget.
  Status DownloadPhotos() {
    if (o_.photo_download_bytes <= 0) return Status::Ok();
    report_.totals.stage = "photos";
    TIANYE_ASSIGN_OR_RETURN(std::vector<SyncReplica::WantedFile> wanted, replica_.FilesToDownload());
    DropUnwantedParts(wanted);
    AttachmentStore attachments(&store_);
    int64_t budget = o_.photo_download_bytes;
    for (const SyncReplica::WantedFile& w : wanted) {
      if (budget <= 0) {
        ++report_.totals.photos_to_receive;
        continue;
      }
      // Beside the store, not in a shared /tmp; what an interrupted
      // download got stays there, and the next attempt goes on from it.
      const std::string path = PartialPhoto(w.sha256);
      if (!std::filesystem::exists(path)) {
        if (FILE* f = std::fopen(path.c_str(), "wb")) std::fclose(f);
        std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
      }
      Result<Reply> r = http_.Download(server_ + "/v1/records/" + UrlEncode(w.record_id) + "/files/" + w.sha256, path);
      // 416: the part here is already whole (a sync stopped before keeping it).
      Status s = !r ? r.error() : r->status == 200 || r->status == 206 || r->status == 416 ? Status::Ok() : ServerError(*r);
      if (s.ok()) s = KeepPhoto(attachments, w, path, r->content_type, &budget);
      if (s.ok() || s.code() != StatusCode::kIOError) std::remove(path.c_str());  // else: go on from it next time
      if (s.code() == StatusCode::kUnauthenticated || s.code() == StatusCode::kIOError) return s;
      if (!s.ok()) {
        // A photo its device has not sent yet is not a problem: it comes later.
        if (s.code() != StatusCode::kNotFound) {
          report_.problems.push_back("photo " + w.sha256.substr(0, 12) + " of record " + w.record_id + ": " + s.message());
        }
        ++report_.totals.photos_to_receive;
        continue;
      }
      ++report_.totals.photos_received;
      Progress();
    }
    return Status::Ok();
  }

  // Stores the downloaded bytes at `path` as photo `w`, linked to its record
  // and marked as on the server (never offered back), in one transaction:
  // bytes other than the photo named, or a stop half-way, leave nothing.
  Status KeepPhoto(AttachmentStore& attachments, const SyncReplica::WantedFile& w, const std::string& path,
                   const std::string& content_type, int64_t* budget) {
    TIANYE_ASSIGN_OR_RETURN(Transaction tx, store_.Begin());
    PutOptions put;
    const std::string type = content_type.substr(0, content_type.find(';'));
    if (!type.empty()) put.mime = type;
    TIANYE_ASSIGN_OR_RETURN(AttachmentInfo info, attachments.PutFile(path, put));
    if (info.sha256 != w.sha256) return Status::Corruption("the server sent other bytes than the photo named");
    TIANYE_RETURN_IF_ERROR(attachments.Link(w.record_id, w.field, w.sha256));
    TIANYE_RETURN_IF_ERROR(replica_.MarkUploaded(w.sha256));
    TIANYE_RETURN_IF_ERROR(tx.Commit());
    *budget -= info.size;
    return Status::Ok();
  }

  // Where the download of photo `sha256` collects its bytes: beside the
  // store, named after it (stores side by side keep their parts apart).
  std::string PartialPhoto(const std::string& sha256) const { return PartPrefix() + sha256 + ".part"; }
  std::string PartPrefix() const {
    const std::filesystem::path store = std::filesystem::absolute(store_.path());
    return (store.parent_path() / ("." + store.filename().string() + ".photo-")).string();
  }

  // Removes what interrupted downloads left of photos no longer wanted (their
  // record deleted, or moved out of this device's areas).
  void DropUnwantedParts(const std::vector<SyncReplica::WantedFile>& wanted) const {
    std::set<std::string> keep;
    for (const SyncReplica::WantedFile& w : wanted) keep.insert(PartialPhoto(w.sha256));
    const std::string prefix = PartPrefix();
    std::error_code ec, ignored;
    std::filesystem::directory_iterator it(std::filesystem::path(prefix).parent_path(), ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      const std::string path = it->path().string();
      if (path.starts_with(prefix) && path.ends_with(".part") && !keep.count(path)) std::filesystem::remove(path, ignored);
    }
  }

  Status UploadOne(const SyncReplica::Blob& b) {
    const std::string base = server_ + "/v1/blobs";
    json begin = {{"sha256", b.sha256}, {"size", b.size}, {"mime", b.mime}};
    TIANYE_ASSIGN_OR_RETURN(Reply r, http_.Send("POST", base, begin.dump()));
    if (r.status != 200) return ServerError(r);
    json st = json::parse(r.body, nullptr, false);
    if (!st.is_object()) return Status::IOError("the server's upload answer is not understood");
    if (st.value("complete", false)) return Status::Ok();
    std::set<int64_t> have;
    for (const json& i : st.value("have", json::array())) {
      if (i.is_number_integer()) have.insert(i.get<int64_t>());
    }
    int64_t chunks = st.value("chunks", int64_t{0});
    AttachmentStore attachments(&store_);
    for (int64_t i = 0; i < chunks; ++i) {
      if (have.count(i)) continue;  // resumed: already there
      TIANYE_ASSIGN_OR_RETURN(std::string chunk, attachments.ReadChunk(b.sha256, i));
      std::string url = base + "/" + b.sha256 + "/chunks/" + std::to_string(i);
      TIANYE_ASSIGN_OR_RETURN(Reply c, http_.Send("PUT", url, chunk,
                                                  {"Content-Type: application/octet-stream",
                                                   "X-Chunk-Sha256: " + Sha256Hex(chunk)}));
      if (c.status != 200) return ServerError(c);
    }
    TIANYE_ASSIGN_OR_RETURN(Reply f, http_.Send("POST", base + "/" + b.sha256 + "/finish", "{}"));
    if (f.status != 200) return ServerError(f);
    return Status::Ok();
  }

  Status Returned() {
    RecordStore records(&store_);
    RecordFilter f;
    f.status = RecordStatus::kReturned;
    TIANYE_ASSIGN_OR_RETURN(std::vector<Record> list, records.List(f));
    for (const Record& r : list) report_.returned.push_back(r.id + ": " + r.review_comment);
    return Status::Ok();
  }

  Store& store_;
  const SyncOptions& o_;
  SyncReport report_;
  Http http_;
  SyncReplica replica_;
  std::string server_;
};

}  // namespace

Result<SyncReport> RunSync(Store& store, const SyncOptions& options) { return Syncer(store, options).Run(); }

Status Logout(Store& store) {
  TIANYE_RETURN_IF_ERROR(store.DeleteSetting(kTokenKey));
  return Status::Ok();
}

}  // namespace tianye::cli
