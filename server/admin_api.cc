// The admin pages' API (admins only): users, their roles and areas, and the
// installed forms with a way to install a new version.
//
//   GET  /v1/admin/users                 every user
//   POST /v1/admin/users                 {username, display_name, role, scope, password}: a new user
//   POST /v1/admin/users/NAME            {role, scope, disabled, password}: any of them changed
//   GET  /v1/admin/forms                 every installed form version, with its record count
//   POST /v1/admin/forms                 an XLSForm (.xlsx) or a form in Tianye's JSON: a new version
//   GET  /v1/admin/priority-list         the low-income list's households per county
//   POST /v1/admin/priority-list         a CSV (hh_key,category): replaces the list of the counties it names
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "app.h"
#include "tianye/priority_list.h"
#include "tianye/xlsform.h"

namespace tianye::server {
namespace {

using nlohmann::json;

json UserRow(const User& u) {
  json row = UserJson(u);
  row["disabled"] = u.disabled;
  return row;
}

// `scope` from a request: a list of area codes. Errors: invalid_argument.
Result<std::vector<std::string>> ScopeOf(const json& body) {
  auto it = body.find("scope");
  if (it == body.end() || !it->is_array()) {
    return Status::InvalidArgument("invalid_argument: scope is a list of area codes, e.g. [\"140623000000\"] or [\"*\"]");
  }
  std::vector<std::string> scope;
  for (const json& code : *it) {
    if (!code.is_string()) return Status::InvalidArgument("invalid_argument: every area code is a string");
    scope.push_back(code.get<std::string>());
  }
  return scope;
}

json ProblemsJson(const std::vector<FormProblem>& problems) {
  json out = json::array();
  for (const FormProblem& p : problems) out.push_back(p.ToString());
  return out;
}

}  // namespace

http::Response ServerApp::Admin(const http::Request& r, const Principal& who) {
  if (who.role != "admin") {
    return TypedError(Status::PermissionDenied("admin_forbidden: only an admin manages users and forms"));
  }
  std::string name;
  if (r.path == "/v1/admin/users" && r.method == "GET") {
    Result<std::vector<User>> users = accounts_.List();
    if (!users) return TypedError(users.error());
    json list = json::array();
    for (const User& u : *users) list.push_back(UserRow(u));
    return http::Response::Json(200, json{{"users", list}}.dump());
  }
  if (r.path == "/v1/admin/users" && r.method == "POST") return AddUser(r, who);
  if (Match(r.path, "/v1/admin/users/", "", &name) && r.method == "POST") return ChangeUser(r, who, name);
  if (r.path == "/v1/admin/forms" && r.method == "GET") {
    Result<std::vector<InstalledForm>> installed = forms_.List();
    if (!installed) return TypedError(installed.error());
    Result<std::map<std::string, int64_t>> counts = review_.CountByFormVersion();
    if (!counts) return TypedError(counts.error());
    json list = json::array();
    for (const InstalledForm& f : *installed) {
      auto n = counts->find(f.form_id + "\n" + f.version);
      list.push_back({{"form_id", f.form_id},
                      {"version", f.version},
                      {"title", f.title},
                      {"installed_ms", f.installed_ms},
                      {"records", n == counts->end() ? 0 : n->second}});
    }
    return http::Response::Json(200, json{{"forms", list}}.dump());
  }
  if (r.path == "/v1/admin/forms" && r.method == "POST") return InstallForm(r, who);
  if (r.path == "/v1/admin/priority-list" && r.method == "GET") {
    Result<std::vector<PriorityListCounty>> counties = PriorityListSummary(*store_);
    if (!counties) return TypedError(counties.error());
    json list = json::array();
    for (const PriorityListCounty& c : *counties) {
      list.push_back({{"county", c.county}, {"households", c.households}, {"imported_ms", c.imported_ms}});
    }
    return http::Response::Json(200, json{{"counties", list}}.dump());
  }
  if (r.path == "/v1/admin/priority-list" && r.method == "POST") {
    Result<PriorityListImport> done = ImportPriorityList(*store_, r.body);
    if (!done && done.error().code() == StatusCode::kInvalidArgument) {
      return http::Response::Error(400, "invalid_list", done.error().message());
    }
    if (!done) return TypedError(done.error());
    http::Response res =
        http::Response::Json(200, json{{"households", done->households}, {"counties", done->counties}}.dump());
    res.audit = who.username + " imported the low-income list: " + std::to_string(done->households) +
                " households of " + std::to_string(done->counties.size()) + " county(ies)";
    return res;
  }
  return http::Response::Error(404, "not_found", "no such API: " + r.method + " " + r.path);
}

http::Response ServerApp::AddUser(const http::Request& r, const Principal& who) {
  Result<json> body = JsonBody(r);
  if (!body) return TypedError(body.error());
  Result<std::vector<std::string>> scope = ScopeOf(*body);
  if (!scope) return TypedError(scope.error());
  User u{Text(*body, "username"), Text(*body, "display_name"), Text(*body, "role"), *scope, false};
  Status s = accounts_.Add(u, Text(*body, "password"));
  if (!s.ok()) return TypedError(s);
  Result<User> made = accounts_.Get(u.username);
  if (!made) return TypedError(made.error());
  http::Response res = http::Response::Json(201, UserRow(*made).dump());
  res.audit = who.username + " added user " + u.username + " (" + u.role + ", areas " + json(u.scope).dump() + ")";
  return res;
}

// Changes what the body names, all or nothing is not promised: each change
// is its own step, in the order role, scope, password, disabled, and the
// answer is the user as it now is (or the first error).
http::Response ServerApp::ChangeUser(const http::Request& r, const Principal& who, const std::string& name) {
  Result<json> body = JsonBody(r);
  if (!body) return TypedError(body.error());
  Result<User> before = accounts_.Get(name);
  if (!before) return TypedError(before.error());
  const bool demote = body->contains("role") && Text(*body, "role") != "admin";
  const bool disable = body->contains("disabled") && (*body)["disabled"] == true;
  if (name == who.username && (demote || disable)) {
    return TypedError(Status::FailedPrecondition(
        "cannot_lock_out_yourself: another admin has to change your own role or disable you"));
  }
  std::vector<std::string> done;
  if (body->contains("role")) {
    Status s = accounts_.SetRole(name, Text(*body, "role"));
    if (!s.ok()) return TypedError(s);
    done.push_back("role " + Text(*body, "role"));
  }
  if (body->contains("scope")) {
    Result<std::vector<std::string>> scope = ScopeOf(*body);
    if (!scope) return TypedError(scope.error());
    Status s = accounts_.Assign(name, *scope);
    if (!s.ok()) return TypedError(s);
    done.push_back("areas " + json(*scope).dump());
  }
  if (body->contains("password")) {
    Status s = accounts_.SetPassword(name, Text(*body, "password"));
    if (!s.ok()) return TypedError(s);
    done.push_back("password");
  }
  if (body->contains("disabled")) {
    if (!(*body)["disabled"].is_boolean()) {
      return http::Response::Error(400, "invalid_argument", "disabled is true or false");
    }
    Status s = accounts_.SetDisabled(name, (*body)["disabled"].get<bool>());
    if (!s.ok()) return TypedError(s);
    done.push_back(disable ? "disabled" : "enabled");
  }
  Result<User> after = accounts_.Get(name);
  if (!after) return TypedError(after.error());
  http::Response res = http::Response::Json(200, UserRow(*after).dump());
  for (const std::string& d : done) res.audit += (res.audit.empty() ? who.username + " changed user " + name + ": " : ", ") + d;
  return res;
}

// POST /v1/admin/forms: the body is an XLSForm workbook (it starts "PK", as
// every .xlsx does) or a form in Tianye's JSON. The CSV lists it names
// (villages.csv, ...) are taken from the installed forms, newest first.
// Records keep the version they were filled against.
http::Response ServerApp::InstallForm(const http::Request& r, const Principal& who) {
  Result<std::vector<InstalledForm>> installed = forms_.List();
  if (!installed) return TypedError(installed.error());
  std::map<std::string, std::string> files;
  for (const InstalledForm& f : *installed) {
    Result<std::shared_ptr<const FormDef>> def = forms_.Load(f.form_id, f.version);
    if (!def) continue;
    for (const auto& [file, content] : (*def)->raw_files()) files.emplace(file, content);
  }
  std::string definition;
  json warnings = json::array();
  if (r.body.compare(0, 2, "PK") == 0) {
    // The importer reads a file, with the CSV lists beside it.
    std::error_code ec;
    std::filesystem::path dir = http::TempFile("", "tianye-form");  // a unique name, made a folder
    if (!dir.empty()) std::filesystem::remove(dir, ec);
    if (dir.empty() || !std::filesystem::create_directory(dir, ec)) {
      return http::Response::Error(503, "unavailable", "cannot make a temporary folder for the form");
    }
    for (const auto& [file, content] : files) std::ofstream(dir / file, std::ios::binary) << content;
    std::ofstream(dir / "form.xlsx", std::ios::binary) << r.body;
    XlsFormImport imported = ImportXlsForm((dir / "form.xlsx").string());
    std::filesystem::remove_all(dir, ec);
    if (!imported.errors.empty()) {
      return http::Response::Json(400, json{{"error", "invalid_form"},
                                            {"message", "the XLSForm has problems; nothing was installed"},
                                            {"problems", ProblemsJson(imported.errors)}}
                                           .dump());
    }
    definition = imported.json;
    warnings = ProblemsJson(imported.warnings);
  } else {
    definition = r.body;
  }
  Result<InstalledForm> done = forms_.Install(definition, files);
  if (!done) {
    if (done.error().code() == StatusCode::kInvalidArgument) {
      return http::Response::Json(400, json{{"error", "invalid_form"},
                                            {"message", "the form has problems; nothing was installed"},
                                            {"problems", json::array({done.error().message()})}}
                                           .dump());
    }
    return TypedError(done.error());
  }
  http::Response res = http::Response::Json(201, json{{"form_id", done->form_id},
                                                      {"version", done->version},
                                                      {"title", done->title},
                                                      {"warnings", warnings}}
                                                     .dump());
  res.audit = who.username + " installed form " + done->form_id + " version " + done->version;
  return res;
}

}  // namespace tianye::server
