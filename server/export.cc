// Exports of the review queue. The file is written page by page into a
// temporary file that the HTTP layer streams and then removes, so an export
// of 100,000 records holds one page of records in memory, not all of them.
#include <stdlib.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "app.h"
#include "tianye/csv.h"
#include "tianye/form.h"

namespace tianye::server {
namespace {

using nlohmann::json;

constexpr char kMasked[] = "***";

// The columns of a form's export: its answers outside repeats in form order,
// then each top-level repeat (one cell of JSON per record), over every
// installed version, newest first. `sensitive` collects the names to mask.
struct Columns {
  std::vector<std::string> names;
  std::set<std::string> repeats;
  std::set<std::string> sensitive;
};

void AddColumns(const FormDef& form, Columns* c) {
  std::set<std::string> have(c->names.begin(), c->names.end());
  for (const Question& q : form.questions()) {
    if (q.sensitive) c->sensitive.insert(q.name);
    bool top_repeat = q.type == QuestionType::kRepeat && q.repeat == -1;
    if (q.repeat != -1 && !top_repeat) continue;  // inside a repeat: in that repeat's cell
    if (!top_repeat && !q.holds_value()) continue;
    if (have.insert(q.name).second) c->names.push_back(q.name);
    if (top_repeat) c->repeats.insert(q.name);
  }
}

// Masks sensitive answers inside a repeat's instances.
void MaskIn(json& value, const std::set<std::string>& sensitive) {
  if (value.is_array()) {
    for (json& v : value) MaskIn(v, sensitive);
  } else if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (sensitive.count(it.key()) && !(it->is_string() && it->get<std::string>().empty())) {
        *it = kMasked;
      } else {
        MaskIn(*it, sensitive);
      }
    }
  }
}

std::string Cell(const json& v) { return v.is_string() ? v.get<std::string>() : v.is_null() ? "" : v.dump(); }

}  // namespace

// GET /v1/export/records.csv?form=F&<the queue's filters>
http::Response ServerApp::ExportCsv(const http::Request& r, const Principal& who) {
  if (!IsReviewer(who)) return TypedError(Status::PermissionDenied("review_forbidden: only a supervisor exports records"));
  Result<RecordQuery> parsed = QueryFrom(r);
  if (!parsed) return TypedError(parsed.error());
  RecordQuery q = *parsed;
  if (q.form_id.empty()) {
    return http::Response::Error(400, "invalid_argument", "an export is of one form: add form=toilet, housing or ...");
  }
  // Only admins see sensitive answers (ID numbers, 低保 status, signatures).
  const bool unmask = who.role == "admin";
  Columns columns;
  Result<std::vector<InstalledForm>> installed = forms_.List();
  if (!installed) return TypedError(installed.error());
  for (const InstalledForm& f : *installed) {
    if (f.form_id != q.form_id) continue;
    Result<std::shared_ptr<const FormDef>> def = forms_.Load(f.form_id, f.version);
    if (!def) return TypedError(def.error());
    AddColumns(**def, &columns);
  }
  if (columns.names.empty()) return TypedError(Status::NotFound("no form '" + q.form_id + "' is installed"));

  std::error_code ec;
  std::string tmpl = std::filesystem::temp_directory_path(ec).string() + "/tianye-export-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  int fd = ::mkstemp(buf.data());
  if (fd < 0) return http::Response::Error(503, "unavailable", "cannot make a temporary file for the export");
  ::close(fd);
  const std::string path = buf.data();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  // The record's own columns start with '@' (as its fields do in sync), so
  // they never clash with a form's questions (forms have county, village, ...).
  std::vector<std::string> header = {"@id",      "@form_version", "@status",  "@county",  "@township",
                                     "@village", "@author",       "@created", "@updated", "@comment"};
  header.insert(header.end(), columns.names.begin(), columns.names.end());
  out << kUtf8Bom << CsvLine(header);

  auto iso = [](int64_t ms) {
    std::time_t t = static_cast<std::time_t>(ms / 1000);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", std::gmtime(&t));
    return std::string(text);
  };
  q.per_page = 200;
  int64_t written = 0;
  for (q.page = 1;; ++q.page) {
    Result<RecordList> page = review_.List(who, q);
    if (!page) {
      std::filesystem::remove(path);
      return TypedError(page.error());
    }
    for (const RecordRow& row : page->rows) {
      Result<FieldMap> fields = ledger_.Fields(row.record_id);
      if (!fields) continue;
      Record rec;
      ApplyFields(*fields, &rec);
      json values = json::parse(rec.values_json.empty() ? "{}" : rec.values_json, nullptr, false);
      std::vector<std::string> cells = {row.record_id, row.form_version,  row.status,      row.area.county,
                                        row.area.township, row.area.village, row.author, iso(row.created_ms),
                                        iso(row.updated_ms), rec.review_comment};
      for (const std::string& name : columns.names) {
        if (!values.is_object() || !values.contains(name)) {
          cells.emplace_back();
          continue;
        }
        json v = values[name];
        if (!unmask && columns.repeats.count(name)) MaskIn(v, columns.sensitive);
        bool mask = !unmask && columns.sensitive.count(name) && !Cell(v).empty();
        cells.push_back(mask ? kMasked : Cell(v));
      }
      out << CsvLine(cells);
      ++written;
    }
    if (page->rows.size() < static_cast<size_t>(q.per_page)) break;
  }
  out.close();
  if (!out) {
    std::filesystem::remove(path);
    return http::Response::Error(503, "unavailable", "cannot write the export");
  }
  http::Response res;
  res.content_type = "text/csv; charset=utf-8";
  res.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + q.form_id + ".csv\"");
  res.headers.emplace_back("X-Record-Count", std::to_string(written));
  res.body_file = path;
  res.remove_body_file = true;
  return res;
}

}  // namespace tianye::server
