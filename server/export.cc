// Exports of the review queue as CSV and GeoJSON, and what every export
// shares (export.h). Each export is written page by page into a temporary
// file that the HTTP layer streams and then removes, so an export of 100,000
// records holds one page of records in memory, not all of them.
#include "export.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "app.h"
#include "tianye/attachment.h"
#include "tianye/csv.h"
#include "tianye/form.h"

namespace tianye::server {

using nlohmann::json;

Result<ExportColumns> FormColumns(FormStore& forms, const std::string& form_id) {
  Result<std::vector<InstalledForm>> installed = forms.List();
  if (!installed) return installed.error();
  ExportColumns c;
  c.sheets.emplace_back();
  std::map<std::string, size_t> sheet_of = {{"", 0}};   // repeat name -> index in c.sheets
  std::set<std::pair<size_t, std::string>> have;        // (sheet, column) already placed
  for (const InstalledForm& f : *installed) {
    if (f.form_id != form_id) continue;
    Result<std::shared_ptr<const FormDef>> def = forms.Load(f.form_id, f.version);
    if (!def) return def.error();
    const std::vector<Question>& qs = (*def)->questions();
    for (const Question& q : qs) {
      if (q.sensitive) c.sensitive.insert(q.name);
      const bool repeat = q.type == QuestionType::kRepeat;
      if (!repeat && !q.holds_value()) continue;
      c.types.emplace(q.name, q.type);
      const std::string level = q.repeat == -1 ? "" : qs[q.repeat].name;
      size_t s = sheet_of.at(level);  // an enclosing repeat comes before what it holds
      if (repeat && !sheet_of.count(q.name)) {
        sheet_of[q.name] = c.sheets.size();
        c.sheets.push_back({q.name, level, {}, {}});
      }
      if (have.emplace(s, q.name).second) c.sheets[s].columns.push_back(q.name);
      if (repeat) c.sheets[s].repeats.insert(q.name);
    }
  }
  if (have.empty()) return Status::NotFound("no form '" + form_id + "' is installed");
  return c;
}

Result<ExportRequest> ParseExport(const http::Request& r, const Principal& who, FormStore& forms, bool one_form) {
  if (!IsReviewer(who)) return Status::PermissionDenied("review_forbidden: only a supervisor exports records");
  Result<RecordQuery> query = QueryFrom(r);
  if (!query) return query.error();
  ExportRequest out{*query, {}};
  if (!one_form) return out;
  if (out.query.form_id.empty()) {
    return Status::InvalidArgument("invalid_argument: an export is of one form: add form=toilet, housing or ...");
  }
  Result<ExportColumns> columns = FormColumns(forms, out.query.form_id);
  if (!columns) return columns.error();
  out.columns = std::move(*columns);
  return out;
}

std::vector<std::string> RecordHeader() {
  return {"@id",      "@form_version", "@status",  "@county",  "@township",
          "@village", "@author",       "@created", "@updated", "@comment"};
}

std::vector<std::string> RecordCells(const RecordRow& row, const Record& record) {
  auto iso = [](int64_t ms) {
    std::time_t t = static_cast<std::time_t>(ms / 1000);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", std::gmtime(&t));
    return std::string(text);
  };
  return {row.record_id, row.form_version, row.status, row.area.county, row.area.township, row.area.village,
          row.author, iso(row.created_ms), iso(row.updated_ms), record.review_comment};
}

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

std::string CellText(const json& v) { return v.is_string() ? v.get<std::string>() : v.is_null() ? "" : v.dump(); }

bool IsExportableFile(const std::string& value) {
  if (!IsFileAnswer(value)) return false;
  // The extension becomes part of a path in the ZIP: letters and digits only.
  if (value.size() == 64) return true;
  if (value.size() > 64 + 9 || value.size() == 65) return false;
  return std::all_of(value.begin() + 65, value.end(), [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)); });
}

http::Response ExportFileResponse(const std::string& path, const std::string& content_type,
                                  const std::string& filename, int64_t records) {
  http::Response res;
  res.content_type = content_type;
  res.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + filename + "\"");
  res.headers.emplace_back("X-Record-Count", std::to_string(records));
  res.body_file = path;
  res.remove_body_file = true;
  return res;
}

// Calls `each` for every record `q` selects in `who`'s scope, one record in
// memory at a time. Stops at the first error `each` returns.
Status ServerApp::ForEachRecord(const Principal& who, RecordQuery q, const EachRecord& each) {
  return reads_.review.ForEach(who, q, [&](const RecordRow& row) {
    Result<FieldMap> fields = reads_.ledger.Fields(row.record_id);
    if (!fields) return Status::Ok();
    Record rec;
    ApplyFields(*fields, &rec);
    json values = json::parse(rec.values_json.empty() ? "{}" : rec.values_json, nullptr, false);
    if (!values.is_object()) values = json::object();
    return each(row, rec, values);
  });
}

// Writes `head`, what `row_out` writes for each record of the query, then
// `tail` into a temporary file and streams it. `row_out` returns whether it
// wrote the record (counted in X-Record-Count).
http::Response ServerApp::WriteTextExport(const Principal& who, const RecordQuery& q, const std::string& content_type,
                                          const std::string& filename, const std::string& head,
                                          const RowWriter& row_out, const std::string& tail) {
  const std::string path = http::TempFile("", "tianye-export");
  if (path.empty()) return http::Response::Error(503, "unavailable", "cannot make a temporary file for the export");
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << head;
  int64_t written = 0;
  Status s = ForEachRecord(who, q, [&](const RecordRow& row, const Record& rec, const json& values) {
    if (row_out(row, rec, values, out)) ++written;
    return Status::Ok();
  });
  out << tail;
  out.close();
  if (!s.ok() || !out) {
    std::filesystem::remove(path);
    return s.ok() ? http::Response::Error(503, "unavailable", "cannot write the export") : TypedError(s);
  }
  return ExportFileResponse(path, content_type, filename, written);
}

// GET /v1/export/records.csv?form=F&<the queue's filters>: one line per
// record; each top-level repeat is one cell of JSON.
http::Response ServerApp::ExportCsv(const http::Request& r, const Principal& who) {
  Result<ExportRequest> request = ParseExport(r, who, reads_.forms, /*one_form=*/true);
  if (!request) return TypedError(request.error());
  const RecordQuery& q = request->query;
  const ExportColumns& columns = request->columns;
  const ExportSheet& top = columns.sheets[0];
  // Only admins see sensitive answers (ID numbers, 低保 status, signatures).
  const bool unmask = who.role == "admin";
  std::vector<std::string> header = RecordHeader();
  header.insert(header.end(), top.columns.begin(), top.columns.end());
  return WriteTextExport(
      who, q, "text/csv; charset=utf-8", q.form_id + ".csv", std::string(kUtf8Bom) + CsvLine(header),
      [&](const RecordRow& row, const Record& rec, const json& values, std::ostream& out) {
        std::vector<std::string> cells = RecordCells(row, rec);
        for (const std::string& name : top.columns) {
          if (!values.contains(name)) {
            cells.emplace_back();
            continue;
          }
          json v = values[name];
          if (!unmask && top.repeats.count(name)) MaskIn(v, columns.sensitive);
          bool mask = !unmask && columns.sensitive.count(name) && !CellText(v).empty();
          cells.push_back(mask ? kMasked : CellText(v));
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
  Result<ExportRequest> request = ParseExport(r, who, reads_.forms, /*one_form=*/false);
  if (!request) return TypedError(request.error());
  std::map<std::string, std::string> point_of;  // "form\nversion" -> its geopoint question
  bool first = true;
  return WriteTextExport(
      who, request->query, "application/geo+json", "records.geojson", "{\"type\":\"FeatureCollection\",\"features\":[\n",
      [&](const RecordRow& row, const Record&, const json& values, std::ostream& out) {
        std::string key = row.form_id + "\n" + row.form_version;
        if (!point_of.count(key)) {
          std::string name;
          if (auto def = reads_.forms.Load(row.form_id, row.form_version)) {
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
        if (name.empty() || !values.contains(name) || !values[name].is_string()) return false;
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

}  // namespace tianye::server
