// GET /v1/export/records.xlsx: the filtered queue of one form as an Excel
// workbook, written by libxlsxwriter in its constant-memory mode (each sheet
// keeps one row in memory and spools the rest to a temporary file), so the
// memory an export needs does not grow with the number of records.
//
// The first sheet holds one row per record: the record's '@' columns, then
// its answers (a repeat group's cell counts its instances). Every repeat group
// has a sheet of its own with one row per instance, joined to the record by
// `@id`; `@index` is the instance's 1-based position ("2", or "2.1" inside
// the second instance of an enclosing repeat).
#include <xlsxwriter.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "app.h"
#include "export.h"

namespace tianye::server {
namespace {

using nlohmann::json;

// Excel's limits: sheet names of 31 characters without []:*?/\, 32,767
// characters in a cell, 1,048,576 rows.
constexpr size_t kMaxSheetName = 31;
constexpr size_t kMaxCellChars = 32767;

std::string SheetName(const std::string& wanted, std::set<std::string>* taken) {
  std::string base;
  for (char ch : wanted) base += std::string_view("[]:*?/\\").find(ch) == std::string_view::npos ? ch : '_';
  if (base.empty()) base = "sheet";
  base.resize(std::min(base.size(), kMaxSheetName));
  std::string name = base;
  for (int n = 2; !taken->insert(name).second; ++n) {
    std::string suffix = "_" + std::to_string(n);
    name = base.substr(0, kMaxSheetName - suffix.size()) + suffix;
  }
  return name;
}

// At most kMaxCellChars code points of `text`, cut on a character boundary.
std::string FitCell(const std::string& text) {
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80 && ++chars > kMaxCellChars) return text.substr(0, i);
  }
  return text;
}

class Workbook {
 public:
  explicit Workbook(const std::string& path) {
    lxw_workbook_options options = {};
    options.constant_memory = LXW_TRUE;
    book_ = workbook_new_opt(path.c_str(), &options);
    if (book_ != nullptr) {
      bold_ = workbook_add_format(book_);
      format_set_bold(bold_);
    }
  }
  ~Workbook() {
    if (book_ != nullptr) workbook_close(book_);
  }
  Workbook(const Workbook&) = delete;
  Workbook& operator=(const Workbook&) = delete;

  bool ok() const { return book_ != nullptr; }

  // A new sheet whose first row is `header` in bold, frozen while scrolling.
  lxw_worksheet* AddSheet(const std::string& name, const std::vector<std::string>& header) {
    lxw_worksheet* ws = workbook_add_worksheet(book_, name.c_str());
    if (ws == nullptr) return nullptr;
    worksheet_freeze_panes(ws, 1, 0);
    worksheet_set_column(ws, 0, static_cast<lxw_col_t>(header.size()), 14, nullptr);
    for (size_t c = 0; c < header.size(); ++c) {
      worksheet_write_string(ws, 0, static_cast<lxw_col_t>(c), FitCell(header[c]).c_str(), bold_);
    }
    return ws;
  }

  // Writes the file. Returns whether it succeeded.
  bool Close() {
    lxw_error e = workbook_close(book_);
    book_ = nullptr;
    return e == LXW_NO_ERROR;
  }

 private:
  lxw_workbook* book_ = nullptr;
  lxw_format* bold_ = nullptr;
};

class XlsxExport {
 public:
  XlsxExport(const ExportColumns& columns, bool unmask) : columns_(columns), unmask_(unmask) {}

  // Adds one sheet per level of the form. Returns false when the workbook
  // cannot take them.
  bool Begin(Workbook& book, const std::string& form_id) {
    std::set<std::string> taken;
    for (const ExportSheet& s : columns_.sheets) {
      std::vector<std::string> header;
      if (s.repeat.empty()) {
        header = RecordHeader();
      } else {
        header = {"@id", "@index"};
      }
      header.insert(header.end(), s.columns.begin(), s.columns.end());
      lxw_worksheet* ws = book.AddSheet(SheetName(s.repeat.empty() ? form_id : s.repeat, &taken), header);
      if (ws == nullptr) return false;
      sheets_.push_back({&s, ws, 1});
      index_of_[s.repeat] = sheets_.size() - 1;
    }
    return true;
  }

  Status Add(const RecordRow& row, const Record& rec, const json& values) {
    Sheet& top = sheets_[0];
    if (Status s = NextRow(top); !s.ok()) return s;
    std::vector<std::string> own = RecordCells(row, rec);
    for (size_t c = 0; c < own.size(); ++c) Text(top, c, own[c]);
    return Level(top, own.size(), values, row.record_id, "");
  }

 private:
  struct Sheet {
    const ExportSheet* def;
    lxw_worksheet* ws;
    lxw_row_t row;  // the next row to write
  };

  static Status NextRow(const Sheet& s) {
    if (s.row >= LXW_ROW_MAX) {
      return Status::ResourceExhausted("too_many_rows: sheet '" + (s.def->repeat.empty() ? "records" : s.def->repeat) +
                                       "' would pass Excel's 1,048,576 rows; narrow the filter or export CSV");
    }
    return Status::Ok();
  }

  void Text(Sheet& s, size_t col, const std::string& text) {
    if (!text.empty()) worksheet_write_string(s.ws, s.row, static_cast<lxw_col_t>(col), FitCell(text).c_str(), nullptr);
  }

  // Writes the answers of `level` (a record, or one repeat instance) from
  // column `first` of the current row of `s`, then that level's repeats'
  // instances into their sheets.
  Status Level(Sheet& s, size_t first, const json& level, const std::string& record_id, const std::string& index) {
    const ExportSheet& def = *s.def;
    for (size_t c = 0; c < def.columns.size(); ++c) {
      const std::string& name = def.columns[c];
      if (!level.contains(name)) continue;
      const json& v = level[name];
      const auto col = static_cast<lxw_col_t>(first + c);
      if (def.repeats.count(name)) {
        if (v.is_array()) worksheet_write_number(s.ws, s.row, col, static_cast<double>(v.size()), nullptr);
        continue;
      }
      const bool mask = !unmask_ && columns_.sensitive.count(name) && !CellText(v).empty();
      if (mask) {
        Text(s, first + c, kMasked);
      } else if (v.is_number()) {
        worksheet_write_number(s.ws, s.row, col, v.get<double>(), nullptr);
      } else if (v.is_boolean()) {
        worksheet_write_boolean(s.ws, s.row, col, v.get<bool>(), nullptr);
      } else if (double number = 0; v.is_string() && IsNumeric(name) && Number(v.get<std::string>(), &number)) {
        worksheet_write_number(s.ws, s.row, col, number, nullptr);
      } else {
        Text(s, first + c, CellText(v));
      }
    }
    ++s.row;
    for (const std::string& repeat : def.repeats) {
      if (!level.contains(repeat) || !level[repeat].is_array()) continue;
      Sheet& inner = sheets_[index_of_.at(repeat)];
      int position = 0;
      for (const json& instance : level[repeat]) {
        std::string at = index + (index.empty() ? "" : ".") + std::to_string(++position);
        if (!instance.is_object()) continue;
        if (Status st = NextRow(inner); !st.ok()) return st;
        Text(inner, 0, record_id);
        Text(inner, 1, at);
        if (Status st = Level(inner, 2, instance, record_id, at); !st.ok()) return st;
      }
    }
    return Status::Ok();
  }

  bool IsNumeric(const std::string& name) const {
    auto it = columns_.types.find(name);
    return it != columns_.types.end() &&
           (it->second == QuestionType::kInteger || it->second == QuestionType::kDecimal ||
            it->second == QuestionType::kRange);
  }

  static bool Number(const std::string& text, double* out) {
    if (text.empty() || text.size() > 40) return false;
    char* end = nullptr;
    double d = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size() || !std::isfinite(d)) return false;
    *out = d;
    return true;
  }

  const ExportColumns& columns_;
  const bool unmask_;
  std::vector<Sheet> sheets_;
  std::map<std::string, size_t> index_of_;  // repeat name ("" for records) -> sheets_ index
};

}  // namespace

// GET /v1/export/records.xlsx?form=F&<the queue's filters>
http::Response ServerApp::ExportXlsx(const http::Request& r, const Principal& who) {
  Result<ExportRequest> request = ParseExport(r, who, reads_.forms, /*one_form=*/true);
  if (!request) return TypedError(request.error());
  const RecordQuery& q = request->query;

  const std::string path = http::TempFile("", "tianye-export");
  if (path.empty()) return http::Response::Error(503, "unavailable", "cannot make a temporary file for the export");
  int64_t written = 0;
  std::optional<http::Response> error;
  {  // the workbook is closed (and its file written) at the end of this block
    Workbook book(path);
    XlsxExport xlsx(request->columns, who.role == "admin");
    if (!book.ok() || !xlsx.Begin(book, q.form_id)) {
      error = http::Response::Error(503, "unavailable", "cannot start the workbook");
    } else if (Status s = ForEachRecord(who, q,
                                        [&](const RecordRow& row, const Record& rec, const json& values) {
                                          ++written;
                                          return xlsx.Add(row, rec, values);
                                        });
               !s.ok()) {
      error = TypedError(s);
    } else if (!book.Close()) {
      error = http::Response::Error(503, "unavailable", "cannot write the workbook");
    }
  }
  if (error) {
    std::filesystem::remove(path);
    return *error;
  }
  return ExportFileResponse(path, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                            q.form_id + ".xlsx", written);
}

}  // namespace tianye::server
