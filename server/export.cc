// Exports of the review queue. The file is written page by page into a
// temporary file that the HTTP layer streams and then removes, so an export
// of 100,000 records holds one page of records in memory, not all of them.
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
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

  // The record's own columns start with '@' (as its fields do in sync), so
  // they never clash with a form's questions (forms have county, village, ...).
  std::vector<std::string> header = {"@id",      "@form_version", "@status",  "@county",  "@township",
                                     "@village", "@author",       "@created", "@updated", "@comment"};
  header.insert(header.end(), columns.names.begin(), columns.names.end());
  auto iso = [](int64_t ms) {
    std::time_t t = static_cast<std::time_t>(ms / 1000);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", std::gmtime(&t));
    return std::string(text);
  };
  return WriteExport(
      who, q, "text/csv; charset=utf-8", q.form_id + ".csv", std::string(kUtf8Bom) + CsvLine(header),
      [&](const RecordRow& row, const Record& rec, const json& values, std::ostream& out) {
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
        return true;
      },
      "");
}

// GET /v1/export/records.geojson?<the queue's filters>: a FeatureCollection
// of the records' GPS points (the first geopoint question outside repeats of
// each record's form), with the record's id, form, status, village and author.
http::Response ServerApp::ExportGeoJson(const http::Request& r, const Principal& who) {
  if (!IsReviewer(who)) return TypedError(Status::PermissionDenied("review_forbidden: only a supervisor exports records"));
  Result<RecordQuery> parsed = QueryFrom(r);
  if (!parsed) return TypedError(parsed.error());
  std::map<std::string, std::string> point_of;  // "form\nversion" -> its geopoint question
  bool first = true;
  return WriteExport(
      who, *parsed, "application/geo+json", "records.geojson", "{\"type\":\"FeatureCollection\",\"features\":[\n",
      [&](const RecordRow& row, const Record&, const json& values, std::ostream& out) {
        std::string key = row.form_id + "\n" + row.form_version;
        if (!point_of.count(key)) {
          std::string name;
          if (auto def = forms_.Load(row.form_id, row.form_version)) {
            for (const Question& q : (*def)->questions()) {
              if (q.type == QuestionType::kGeopoint && q.repeat == -1) {
                name = q.name;
                break;
              }
            }
          }
          point_of[key] = name;
        }
        const std::string& name = point_of[key];
        if (name.empty() || !values.is_object() || !values.contains(name) || !values[name].is_string()) return false;
        double lat = 0, lon = 0;
        if (std::sscanf(values[name].get<std::string>().c_str(), "%lf %lf", &lat, &lon) != 2 || lat < -90 ||
            lat > 90 || lon < -180 || lon > 180) {
          return false;
        }
        json feature = {{"type", "Feature"},
                        {"geometry", {{"type", "Point"}, {"coordinates", {lon, lat}}}},
                        {"properties",
                         {{"id", row.record_id}, {"form_id", row.form_id}, {"status", row.status},
                          {"village", row.area.village}, {"author", row.author}}}};
        out << (first ? "" : ",\n") << feature.dump(-1, ' ', false, json::error_handler_t::replace);
        first = false;
        return true;
      },
      "\n]}\n");
}

// Writes `head`, then what `row_out` writes for each record of the query
// (all pages, one page of records in memory at a time), then `tail` into a
// temporary file the HTTP layer streams and removes. `row_out` returns
// whether it wrote the record (counted in X-Record-Count).
http::Response ServerApp::WriteExport(const Principal& who, RecordQuery q, const std::string& content_type,
                                      const std::string& filename, const std::string& head, const RowWriter& row_out,
                                      const std::string& tail) {
  const std::string path = http::TempFile("", "tianye-export");
  if (path.empty()) return http::Response::Error(503, "unavailable", "cannot make a temporary file for the export");
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << head;
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
      if (row_out(row, rec, values, out)) ++written;
    }
    if (page->rows.size() < static_cast<size_t>(q.per_page)) break;
  }
  out << tail;
  out.close();
  if (!out) {
    std::filesystem::remove(path);
    return http::Response::Error(503, "unavailable", "cannot write the export");
  }
  http::Response res;
  res.content_type = content_type;
  res.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + filename + "\"");
  res.headers.emplace_back("X-Record-Count", std::to_string(written));
  res.body_file = path;
  res.remove_body_file = true;
  return res;
}

}  // namespace tianye::server
