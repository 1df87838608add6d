#include "ui_app.h"

#include "sync.h"
#include "tianye/sync.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "tianye/version.h"

namespace tianye::cli {

struct EmbeddedFile {
  const char* path;
  const char* data;
  size_t size;
};
const EmbeddedFile* FindEmbedded(std::string_view path);  // web_assets.cc (generated)

namespace {

using http::Request;
using http::Response;
using nlohmann::json;

json StateJson(const NodeState& s) {
  return {{"path", s.path},         {"q", s.question},       {"relevant", s.relevant},
          {"required", s.required}, {"read_only", s.read_only}, {"value", s.value},
          {"error", s.error}};
}

json StatesJson(const std::vector<NodeState>& states) {
  json out = json::array();
  for (const NodeState& s : states) out.push_back(StateJson(s));
  return out;
}

json TranslationsJson(const Translations& t) {
  json j = json::object();
  for (const auto& [lang, text] : t) j[lang.empty() ? "_" : lang] = text;
  return j;
}

json FormJson(const FormDef& f) {
  json qs = json::array();
  for (const Question& q : f.questions()) {
    json params = json::object();
    for (const auto& [k, v] : q.parameters) params[k] = v;
    qs.push_back({{"index", q.index},
                  {"name", q.name},
                  {"type", QuestionTypeName(q.type)},
                  {"label", TranslationsJson(q.label)},
                  {"hint", TranslationsJson(q.hint)},
                  {"appearance", q.appearance},
                  {"parameters", params},
                  {"parent", q.parent},
                  {"repeat", q.repeat},
                  {"children", q.children},
                  {"sensitive", q.sensitive},
                  {"holds_value", q.holds_value()},
                  {"fixed_count", q.repeat_count.has_value()},
                  // the answers a choice list depends on: refresh it when they change
                  {"filter_refs", q.choice_filter ? q.choice_filter->references()
                                                  : std::vector<std::string>{}}});
  }
  return {{"form_id", f.id()},           {"version", f.version()},
          {"title", TranslationsJson(f.title())}, {"languages", f.languages()},
          {"default_language", f.default_language()}, {"questions", qs}};
}

json RecordJson(const Record& r) {
  return {{"id", r.id},
          {"form_id", r.form_id},
          {"form_version", r.form_version},
          {"status", RecordStatusName(r.status)},
          {"author", r.author},
          {"village", r.area.village},
          {"created_ms", r.created_ms},
          {"updated_ms", r.updated_ms},
          {"resume_path", r.resume_path},
          {"review_comment", r.review_comment}};
}

Response Ok(const json& j) { return Response::Json(200, j.dump()); }

Result<json> Body(const Request& req) {
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument("the request body must be a JSON object");
  }
  return j;
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

}  // namespace

bool UiApp::AllowedHost(const Request& req) const {
  const std::string port = std::to_string(port_);
  const std::string& host = req.Header("host");
  if (host != "127.0.0.1:" + port && host != "localhost:" + port) return false;
  const std::string& origin = req.Header("origin");
  return origin.empty() || origin == "http://127.0.0.1:" + port || origin == "http://localhost:" + port;
}

bool UiApp::unlocked() {
  std::lock_guard lock(mu_);
  return field_ != nullptr;
}

Response UiApp::Handle(const Request& req) {
  std::lock_guard lock(mu_);
  if (!AllowedHost(req)) {
    return Response::Error(403, "forbidden", "requests must come from this device's own browser");
  }
  auto now = std::chrono::steady_clock::now();
  if (field_ && now - last_request_ > std::chrono::seconds(options_.idle_lock_seconds)) {
    field_.reset();  // idle too long: lock
  }
  last_request_ = now;
  bool is_write = req.method == "POST" || req.method == "PUT" || req.method == "DELETE";
  bool is_upload = req.path.ends_with("/photo");
  if (is_write && !is_upload && req.Header("content-type").rfind("application/json", 0) != 0) {
    return Response::Error(415, "unsupported_media_type", "send JSON (Content-Type: application/json)");
  }
  return Route(req);
}

Response UiApp::Unlock(const Request& req) {
  auto body = Body(req);
  if (!body) return Response::Error(body.error());
  std::string pass = Str(*body, "passphrase");
  if (pass.empty()) return Response::Error(400, "invalid_argument", "enter the passphrase");
  StoreOptions so;
  so.path = options_.store_path;
  so.if_missing = StoreOptions::IfMissing::kFail;
  auto store = Store::Open(so, pass);
  Wipe(pass);
  if (!store) {
    if (store.error().code() == StatusCode::kUnauthenticated) {
      return Response::Error(401, "wrong_passphrase", "wrong passphrase");
    }
    return Response::Error(store.error());
  }
  field_ = std::make_unique<Field>(std::move(store).value(), options_.field);
  std::string lang = Str(*body, "lang");
  if (lang == "zh" || lang == "en") field_->set_language(lang);
  return Ok({{"ok", true}});
}

Response UiApp::Route(const Request& req) {
  const std::string& p = req.path;
  if (req.method == "GET" && (p == "/" || p.rfind("/assets/", 0) == 0)) {
    const EmbeddedFile* f = FindEmbedded(p == "/" ? "/index.html" : p.substr(7));
    if (f == nullptr) return Response::Error(404, "not_found", "no such page");
    return http::Asset(f->path, std::string_view(f->data, f->size));
  }
  if (p == "/v1/status" && req.method == "GET") {
    return Ok({{"locked", field_ == nullptr},
               {"version", VersionLine("tianye")},
               {"idle_lock_seconds", options_.idle_lock_seconds},
               {"language", field_ ? field_->options().language : options_.field.language}});
  }
  if (p == "/v1/unlock" && req.method == "POST") return Unlock(req);
  if (p == "/v1/lock" && req.method == "POST") {
    field_.reset();
    return Ok({{"ok", true}});
  }
  if (!field_) return Response::Error(401, "locked", "the store is locked; unlock it first");

  std::vector<std::string> parts = Split(p);
  if (parts.size() < 2 || parts[0] != "v1") return Response::Error(404, "not_found", "no such API");
  if (parts[1] == "language" && req.method == "POST") {
    auto body = Body(req);
    if (!body) return Response::Error(body.error());
    std::string lang = Str(*body, "lang");
    if (lang != "zh" && lang != "en") return Response::Error(400, "invalid_argument", "lang is zh or en");
    field_->set_language(lang);
    return Ok({{"ok", true}});
  }
  if (parts[1] == "forms" && req.method == "GET") {
    if (parts.size() == 2) {
      auto list = field_->forms().List();
      if (!list) return Response::Error(list.error());
      json out = json::array();
      for (const InstalledForm& f : *list) {
        out.push_back({{"form_id", f.form_id}, {"version", f.version}, {"title", TranslationsJson(f.title)}});
      }
      return Ok(out);
    }
    if (parts.size() == 4) {
      auto form = field_->forms().Load(parts[2], parts[3]);
      if (!form) return Response::Error(form.error());
      return Ok(FormJson(**form));
    }
  }
  if (parts[1] == "sync" && parts.size() == 2) return SyncRoute(req);
  if (parts[1] == "records") {
    if (parts.size() == 2 && req.method == "GET") {
      RecordFilter filter;
      auto list = field_->records().List(filter);
      if (!list) return Response::Error(list.error());
      json out = json::array();
      for (auto it = list->rbegin(); it != list->rend(); ++it) out.push_back(RecordJson(*it));
      return Ok(out);
    }
    if (parts.size() == 2 && req.method == "POST") {
      auto body = Body(req);
      if (!body) return Response::Error(body.error());
      auto r = field_->NewRecord(Str(*body, "form_id"));
      if (!r) return Response::Error(r.error());
      return Ok(RecordJson(*r));
    }
    if (parts.size() >= 3) return RecordRoute(req, parts[2], parts.size() >= 4 ? parts[3] : "");
  }
  if (parts[1] == "attachments" && parts.size() == 3 && req.method == "GET") {
    auto info = field_->attachments().Stat(parts[2]);
    if (!info) return Response::Error(info.error());
    std::string dir = options_.spool_dir.empty() ? std::filesystem::temp_directory_path().string()
                                                 : options_.spool_dir;
    std::string out = dir + "/tianye-export-" + parts[2];
    Status s = field_->attachments().ReadToFile(parts[2], out);
    if (!s.ok()) return Response::Error(s);
    Response r;
    r.content_type = info->mime;
    r.body_file = out;
    r.remove_body_file = true;
    return r;
  }
  return Response::Error(404, "not_found", "no such API: " + req.method + " " + p);
}

Response UiApp::SyncRoute(const Request& req) {
  Store& store = field_->store();
  auto setting = [&](const char* key) {
    Result<std::optional<std::string>> v = store.GetSetting(key);
    return v && *v ? **v : std::string();
  };
  if (req.method == "GET") {
    SyncReplica replica(&store);
    Result<int64_t> pending = replica.ReadyOps();
    json last = json::parse(setting("sync.last_report"), nullptr, false);
    return Ok({{"server", setting("sync.server")},
               {"pin", setting("sync.pin")},
               {"user", setting("sync.user")},
               {"logged_in", !setting("sync.token").empty()},
               {"pending", pending ? *pending : 0},
               {"last", last.is_discarded() ? json() : last}});
  }
  if (req.method != "POST") return Response::Error(405, "method_not_allowed", "GET or POST");
  auto body = Body(req);
  if (!body) return Response::Error(body.error());
  SyncOptions o;
  o.server = Str(*body, "server");
  o.pin = Str(*body, "pin");
  o.username = Str(*body, "username");
  o.password = Str(*body, "password");
  o.attempts = 3;
  Result<SyncReport> report = RunSync(store, o);
  Wipe(o.password);
  field_->ForgetSessions();  // records may have changed underneath the open ones
  json out = {{"at_ms", store.clock().NowMillis()}};
  if (report) {
    const SyncProgress& t = report->totals;
    out.update({{"ok", true},
                {"pushed", t.ops_pushed},
                {"pulled", t.changes_pulled},
                {"conflicts", t.conflicts},
                {"pending", t.ops_pending},
                {"bytes_up", t.bytes_up},
                {"bytes_down", t.bytes_down},
                {"photos_sent", t.photos_sent},
                {"photos_pending", t.photos_pending},
                {"photos_received", t.photos_received},
                {"problems", report->problems},
                {"returned", report->returned.size()}});
  } else {
    out.update({{"ok", false}, {"error", std::string(http::ErrorCodeFor(report.error().code()))},
                {"message", report.error().message()}});
  }
  (void)store.PutSetting("sync.last_report", out.dump());
  if (!report) {
    Response r = Response::Error(report.error());
    r.body = out.dump();
    return r;
  }
  return Ok(out);
}

Response UiApp::RecordRoute(const Request& req, const std::string& id, const std::string& action) {
  Field& f = *field_;
  auto changes_or = [](const Result<std::vector<NodeState>>& r) {
    if (!r) return Response::Error(r.error());
    return Ok({{"changes", StatesJson(*r)}});
  };
  if (action.empty() && req.method == "GET") {
    auto rec = f.records().Get(id);
    if (!rec) return Response::Error(rec.error());
    json out = RecordJson(*rec);
    auto session = f.Open(id);
    if (session) {
      out["states"] = StatesJson((*session)->States());
      out["language"] = (*session)->language();
    } else {
      out["states"] = json::array();
      out["values"] = json::parse(rec->values_json);
    }
    return Ok(out);
  }
  if (action.empty() && req.method == "DELETE") {
    Status s = f.records().Delete(id);
    return s.ok() ? Ok({{"ok", true}}) : Response::Error(s);
  }
  if (action == "choices" && req.method == "GET") {
    auto session = f.Open(id);
    if (!session) return Response::Error(session.error());
    auto it = req.query.find("path");
    auto choices = (*session)->Choices(it == req.query.end() ? "" : it->second);
    if (!choices) return Response::Error(choices.error());
    json out = json::array();
    for (const ChoiceOption& c : *choices) out.push_back({{"name", c.name}, {"label", c.label}});
    return Ok(out);
  }
  if (action == "photo" && req.method == "POST") {
    auto it = req.query.find("path");
    if (it == req.query.end()) return Response::Error(400, "invalid_argument", "which question? (?path=)");
    if (req.body_file.empty()) return Response::Error(400, "invalid_argument", "no photo was sent");
    return changes_or(f.AttachFile(id, it->second, req.body_file, req.Header("content-type")));
  }
  if (req.method != "POST") return Response::Error(404, "not_found", "no such API");
  auto body = Body(req);
  if (!body) return Response::Error(body.error());
  std::string path = Str(*body, "path");
  if (action == "answer") {
    auto v = body->find("value");
    std::string value = v != body->end() && v->is_string() ? v->get<std::string>() : "";
    return changes_or(f.Answer(id, path, value));
  }
  if (action == "repeat") {
    std::string op = Str(*body, "op");
    if (op == "add") return changes_or(f.AddRepeat(id, path));
    if (op == "remove") return changes_or(f.RemoveRepeat(id, path));
    if (op == "move") {
      int to = body->value("to", 0);
      return changes_or(f.MoveRepeat(id, path, to));
    }
    return Response::Error(400, "invalid_argument", "op is add, remove or move");
  }
  if (action == "position") {
    Status s = f.SetResumePath(id, path);
    return s.ok() ? Ok({{"ok", true}}) : Response::Error(s);
  }
  if (action == "finalize") {
    auto problems = f.Finalize(id);
    if (!problems) return Response::Error(problems.error());
    json out = json::array();
    for (const FinalizeProblem& p : *problems) out.push_back({{"path", p.path}, {"message", p.message}});
    return Ok({{"finalized", problems->empty()}, {"problems", out}});
  }
  return Response::Error(404, "not_found", "no such API");
}

}  // namespace tianye::cli
