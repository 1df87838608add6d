#include "tianye/form_store.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "sqlite.h"
#include "store_impl.h"

namespace tianye {
namespace {

using internal::Stmt;
using internal::StoreAccess;
using nlohmann::json;

std::string JoinProblems(const std::vector<FormProblem>& problems) {
  std::string out = "the form has " + std::to_string(problems.size()) + " problem(s): ";
  for (size_t i = 0; i < problems.size() && i < 20; ++i) {
    out += (i ? "; " : "") + problems[i].ToString();
  }
  return out;
}

json TitleJson(const Translations& t) {
  json j = json::object();
  for (const auto& [lang, text] : t) j[lang] = text;
  return j;
}

InstalledForm FromRow(Stmt& stmt) {
  InstalledForm f;
  f.form_id = stmt.Text(0);
  f.version = stmt.Text(1);
  json title = json::parse(stmt.Text(2), nullptr, false);
  if (title.is_object()) {
    for (const auto& [lang, text] : title.items()) {
      if (text.is_string()) f.title[lang] = text.get<std::string>();
    }
  }
  f.installed_ms = stmt.Int(3);
  return f;
}

}  // namespace

Result<InstalledForm> FormStore::Install(std::string_view json_text,
                                         const std::map<std::string, std::string>& files) {
  FormLoadOptions options;
  options.files = files;
  FormLoadResult r = FormDef::Parse(json_text, options);
  if (!r.form) return Status::InvalidArgument(JoinProblems(r.errors));
  const FormDef& form = *r.form;
  json files_json = json::object();
  for (const auto& [name, content] : form.raw_files()) files_json[name] = content;
  // Stored compact, so that identical content compares equal however it was indented.
  json definition = json::parse(json_text, nullptr, false);
  std::string stored = definition.dump();
  std::string stored_files = files_json.dump();

  internal::Connection& conn = StoreAccess::Conn(*store_);
  {
    TIANYE_ASSIGN_OR_RETURN(Stmt existing, conn.Prepare("SELECT definition, files FROM forms "
                                                        "WHERE form_id = ? AND version = ?"));
    existing.Bind(1, form.id()).Bind(2, form.version());
    TIANYE_ASSIGN_OR_RETURN(bool row, existing.Step());
    if (row) {
      if (existing.Text(0) != stored || existing.Text(1) != stored_files) {
        return Status::AlreadyExists("form " + form.id() + " version " + form.version() +
                                     " is already installed with different content; give the "
                                     "changed form a new version");
      }
      return InstalledForm{form.id(), form.version(), form.title(), 0};
    }
  }
  int64_t now = StoreAccess::ClockOf(*store_).NowMillis();
  TIANYE_ASSIGN_OR_RETURN(Stmt insert, conn.Prepare("INSERT INTO forms (form_id, version, title, "
                                                    "definition, files, installed_ms) "
                                                    "VALUES (?, ?, ?, ?, ?, ?)"));
  insert.Bind(1, form.id()).Bind(2, form.version()).Bind(3, TitleJson(form.title()).dump());
  insert.Bind(4, stored).Bind(5, stored_files).Bind(6, now);
  TIANYE_RETURN_IF_ERROR(insert.Run());
  cache_[form.id() + "\n" + form.version()] = r.form;
  return InstalledForm{form.id(), form.version(), form.title(), now};
}

Result<InstalledForm> FormStore::InstallFile(const std::string& path) {
  FormLoadResult r = FormDef::LoadFile(path);
  if (!r.form) return Status::InvalidArgument(JoinProblems(r.errors));
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return Install(ss.str(), r.form->raw_files());
}

Result<std::vector<InstalledForm>> FormStore::List() {
  TIANYE_ASSIGN_OR_RETURN(Stmt stmt, StoreAccess::Conn(*store_).Prepare(
                                         "SELECT form_id, version, title, installed_ms FROM forms "
                                         "ORDER BY form_id, installed_ms DESC, version DESC"));
  std::vector<InstalledForm> out;
  while (true) {
    TIANYE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    out.push_back(FromRow(stmt));
  }
  return out;
}

Result<std::string> FormStore::Definition(std::string_view form_id, std::string_view version) {
  TIANYE_ASSIGN_OR_RETURN(Stmt stmt, StoreAccess::Conn(*store_).Prepare(
                                         "SELECT definition FROM forms WHERE form_id = ? AND version = ?"));
  stmt.Bind(1, form_id).Bind(2, version);
  TIANYE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Status::NotFound("form " + std::string(form_id) + " version " + std::string(version) + " is not installed");
  return stmt.Text(0);
}

Result<std::shared_ptr<const FormDef>> FormStore::Load(std::string_view form_id,
                                                       std::string_view version) {
  std::string key = std::string(form_id) + "\n" + std::string(version);
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  TIANYE_ASSIGN_OR_RETURN(Stmt stmt, StoreAccess::Conn(*store_).Prepare(
                                         "SELECT definition, files FROM forms "
                                         "WHERE form_id = ? AND version = ?"));
  stmt.Bind(1, form_id).Bind(2, version);
  TIANYE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) {
    return Status::NotFound("form " + std::string(form_id) + " version " + std::string(version) +
                            " is not installed (install it with `tianye forms install FILE`)");
  }
  FormLoadOptions options;
  json files = json::parse(stmt.Text(1), nullptr, false);
  if (files.is_object()) {
    for (const auto& [name, content] : files.items()) options.files[name] = content.get<std::string>();
  }
  FormLoadResult r = FormDef::Parse(stmt.Text(0), options);
  if (!r.form) return Status::Corruption("installed form " + std::string(form_id) + " no longer loads: " +
                                         JoinProblems(r.errors));
  cache_[key] = r.form;
  return r.form;
}

Result<std::shared_ptr<const FormDef>> FormStore::Latest(std::string_view form_id) {
  TIANYE_ASSIGN_OR_RETURN(Stmt stmt, StoreAccess::Conn(*store_).Prepare(
                                         "SELECT version FROM forms WHERE form_id = ? "
                                         "ORDER BY installed_ms DESC, version DESC LIMIT 1"));
  stmt.Bind(1, form_id);
  TIANYE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) {
    return Status::NotFound("no form '" + std::string(form_id) +
                            "' is installed (install it with `tianye forms install FILE`)");
  }
  std::string version = stmt.Text(0);
  return Load(form_id, version);
}

}  // namespace tianye
