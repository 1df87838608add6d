// XLSForm import: libzip opens the workbook, expat streams its XML parts.
#include "tianye/xlsform.h"

#include <expat.h>
#include <zip.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "csv.h"
#include "text.h"

namespace tianye {
namespace {

using nlohmann::ordered_json;
using Rows = std::vector<std::vector<std::string>>;

// Limits that keep a hostile workbook from exhausting memory.
constexpr zip_uint64_t kMaxPartBytes = 64ull << 20;  // one XML part, uncompressed
constexpr size_t kMaxRows = 100000;
constexpr size_t kMaxColumns = 500;

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};
struct ExpatFree {
  void operator()(XML_Parser p) const { XML_ParserFree(p); }
};

using internal::Lower;
using internal::Trim;

// "uri|local" (expat's namespace form) -> "local".
std::string_view Local(const char* name) {
  std::string_view n(name);
  size_t bar = n.rfind('|');
  return bar == std::string_view::npos ? n : n.substr(bar + 1);
}

const char* Attr(const char** attrs, std::string_view local) {
  for (int i = 0; attrs[i] != nullptr; i += 2) {
    if (Local(attrs[i]) == local) return attrs[i + 1];
  }
  return nullptr;
}

// SAX callbacks for one XML part.
struct Handler {
  std::function<void(std::string_view local, const char** attrs)> start;
  std::function<void(std::string_view local)> end;
  std::function<void(std::string_view text)> text;
};

class Workbook {
 public:
  Status Open(const std::string& path) {
    int err = 0;
    zip_t* z = zip_open(path.c_str(), ZIP_RDONLY, &err);
    if (z == nullptr) {
      return Status::InvalidArgument(path + " is not an .xlsx workbook (it cannot be read as a zip archive)");
    }
    zip_.reset(z);
    return Status::Ok();
  }

  // Streams the part `name` through `h`. kNotFound when absent.
  Status Parse(const std::string& name, Handler& h) {
    zip_int64_t index = zip_name_locate(zip_.get(), name.c_str(), ZIP_FL_NOCASE);
    if (index < 0) return Status::NotFound("the workbook has no " + name);
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(zip_.get(), static_cast<zip_uint64_t>(index), 0, &st) != 0) {
      return Status::Corruption("cannot read " + name + " in the workbook");
    }
    if ((st.valid & ZIP_STAT_SIZE) != 0 && st.size > kMaxPartBytes) {
      return Status::ResourceExhausted(name + " is larger than " +
                                       std::to_string(kMaxPartBytes >> 20) + " MiB");
    }
    std::unique_ptr<zip_file_t, ZipFileCloser> file(
        zip_fopen_index(zip_.get(), static_cast<zip_uint64_t>(index), 0));
    if (!file) return Status::Corruption("cannot open " + name + " in the workbook");
    std::unique_ptr<XML_ParserStruct, ExpatFree> parser(XML_ParserCreateNS(nullptr, '|'));
    XML_SetUserData(parser.get(), &h);
    XML_SetElementHandler(
        parser.get(),
        [](void* ud, const char* el, const char** attrs) {
          auto* hh = static_cast<Handler*>(ud);
          if (hh->start) hh->start(Local(el), attrs);
        },
        [](void* ud, const char* el) {
          auto* hh = static_cast<Handler*>(ud);
          if (hh->end) hh->end(Local(el));
        });
    XML_SetCharacterDataHandler(parser.get(), [](void* ud, const char* s, int len) {
      auto* hh = static_cast<Handler*>(ud);
      if (hh->text) hh->text(std::string_view(s, static_cast<size_t>(len)));
    });
    char buf[64 * 1024];
    zip_uint64_t total = 0;
    while (true) {
      zip_int64_t n = zip_fread(file.get(), buf, sizeof buf);
      if (n < 0) return Status::Corruption("cannot read " + name + " in the workbook");
      total += static_cast<zip_uint64_t>(n);
      if (total > kMaxPartBytes) {
        return Status::ResourceExhausted(name + " is larger than " +
                                         std::to_string(kMaxPartBytes >> 20) + " MiB");
      }
      if (XML_Parse(parser.get(), buf, static_cast<int>(n), n == 0) == XML_STATUS_ERROR) {
        return Status::InvalidArgument(name + " is not well-formed XML (line " +
                                       std::to_string(XML_GetCurrentLineNumber(parser.get())) +
                                       "): " + XML_ErrorString(XML_GetErrorCode(parser.get())));
      }
      if (n == 0) break;
    }
    return Status::Ok();
  }

 private:
  std::unique_ptr<zip_t, ZipCloser> zip_;
};

// Column index of a cell reference such as "AB12" (0-based), -1 if none.
int ColumnOf(const char* ref) {
  if (ref == nullptr) return -1;
  int col = 0;
  bool any = false;
  for (const char* p = ref; *p >= 'A' && *p <= 'Z'; ++p) {
    col = col * 26 + (*p - 'A' + 1);
    any = true;
    if (col > 16384) return -1;
  }
  return any ? col - 1 : -1;
}

Result<std::map<std::string, Rows>> ReadXlsx(const std::string& path) {
  Workbook wb;
  TIANYE_RETURN_IF_ERROR(wb.Open(path));

  // Sheet names and their relationship ids, in workbook order.
  std::vector<std::pair<std::string, std::string>> sheets;
  Handler h;
  h.start = [&](std::string_view el, const char** attrs) {
    if (el != "sheet") return;
    const char* name = Attr(attrs, "name");
    const char* id = Attr(attrs, "id");
    if (name != nullptr && id != nullptr) sheets.emplace_back(name, id);
  };
  Status s = wb.Parse("xl/workbook.xml", h);
  if (s.code() == StatusCode::kNotFound) {
    return Status::InvalidArgument(path + " is a zip archive but not an .xlsx workbook (no xl/workbook.xml)");
  }
  TIANYE_RETURN_IF_ERROR(s);

  std::map<std::string, std::string> targets;
  h = Handler();
  h.start = [&](std::string_view el, const char** attrs) {
    if (el != "Relationship") return;
    const char* id = Attr(attrs, "Id");
    const char* target = Attr(attrs, "Target");
    if (id != nullptr && target != nullptr) targets[id] = target;
  };
  TIANYE_RETURN_IF_ERROR(wb.Parse("xl/_rels/workbook.xml.rels", h));

  std::vector<std::string> shared;
  {
    std::string current;
    bool in_si = false, in_t = false, in_rph = false;
    h = Handler();
    h.start = [&](std::string_view el, const char**) {
      if (el == "si") in_si = true, current.clear();
      if (el == "t") in_t = true;
      if (el == "rPh") in_rph = true;  // phonetic runs are not part of the text
    };
    h.end = [&](std::string_view el) {
      if (el == "t") in_t = false;
      if (el == "rPh") in_rph = false;
      if (el == "si") {
        in_si = false;
        shared.push_back(current);
      }
    };
    h.text = [&](std::string_view t) {
      if (in_si && in_t && !in_rph) current.append(t);
    };
    Status ss = wb.Parse("xl/sharedStrings.xml", h);
    if (!ss.ok() && ss.code() != StatusCode::kNotFound) return ss;
  }

  std::map<std::string, Rows> out;
  for (const auto& sheet : sheets) {
    const std::string& name = sheet.first;  // a plain reference: lambdas below capture it
    auto t = targets.find(sheet.second);
    if (t == targets.end()) continue;
    std::string part = t->second;
    if (!part.empty() && part[0] == '/') {
      part = part.substr(1);
    } else {
      part = "xl/" + part;
    }
    Rows rows;
    std::vector<std::string> row;
    std::string cell_type, value;
    int col = -1, next_col = 0;
    bool in_v = false, in_is_t = false;
    Status limit;
    h = Handler();
    h.start = [&](std::string_view el, const char** attrs) {
      if (el == "row") {
        row.clear();
        next_col = 0;
      } else if (el == "c") {
        const char* type = Attr(attrs, "t");
        cell_type = type != nullptr ? type : "n";
        int c = ColumnOf(Attr(attrs, "r"));
        col = c >= 0 ? c : next_col;
        value.clear();
      } else if (el == "v") {
        in_v = true;
      } else if (el == "t") {
        in_is_t = cell_type == "inlineStr";
      }
    };
    h.text = [&](std::string_view text) {
      if (in_v || in_is_t) value.append(text);
    };
    h.end = [&](std::string_view el) {
      if (el == "v") in_v = false;
      if (el == "t") in_is_t = false;
      if (el == "c") {
        std::string text = value;
        if (cell_type == "s") {
          size_t i = static_cast<size_t>(std::atoll(value.c_str()));
          text = i < shared.size() ? shared[i] : "";
        } else if (cell_type == "b") {
          text = value == "1" ? "TRUE" : "FALSE";
        } else if (cell_type == "e") {
          text.clear();
        }
        if (col >= 0 && static_cast<size_t>(col) < kMaxColumns) {
          if (row.size() <= static_cast<size_t>(col)) row.resize(col + 1);
          row[col] = std::move(text);
        } else if (limit.ok()) {
          limit = Status::ResourceExhausted("sheet '" + name + "' has more than " +
                                            std::to_string(kMaxColumns) + " columns");
        }
        next_col = col + 1;
      }
      if (el == "row") {
        if (rows.size() >= kMaxRows) {
          if (limit.ok()) limit = Status::ResourceExhausted("sheet '" + name + "' has more than " +
                                                            std::to_string(kMaxRows) + " rows");
          return;
        }
        rows.push_back(std::move(row));
        row.clear();
      }
    };
    TIANYE_RETURN_IF_ERROR(wb.Parse(part, h));
    TIANYE_RETURN_IF_ERROR(limit);
    out[Lower(Trim(name))] = std::move(rows);
  }
  return out;
}

Result<Rows> ReadCsvFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return internal::ParseCsv(ss.str());
}

Result<std::map<std::string, Rows>> ReadCsvSheets(const std::string& path) {
  std::map<std::string, Rows> out;
  TIANYE_ASSIGN_OR_RETURN(out["survey"], ReadCsvFile(path));
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  for (const char* sheet : {"choices", "settings"}) {
    std::filesystem::path p = dir / (std::string(sheet) + ".csv");
    if (std::filesystem::exists(p) && p != std::filesystem::path(path)) {
      TIANYE_ASSIGN_OR_RETURN(out[sheet], ReadCsvFile(p.string()));
    }
  }
  return out;
}

// "Label::Chinese (zh)" -> "label::zh"; "Type" -> "type"; "list name" -> "list_name".
std::string NormalizeHeader(const std::string& raw) {
  std::string h = Trim(raw);
  size_t sep = h.find("::");
  std::string base = Lower(Trim(h.substr(0, sep)));
  if (base == "list name") base = "list_name";
  if (sep == std::string::npos) return base;
  std::string lang = Trim(h.substr(sep + 2));
  size_t open = lang.rfind('('), close = lang.rfind(')');
  if (open != std::string::npos && close == lang.size() - 1 && close > open + 1) {
    lang = Trim(lang.substr(open + 1, close - open - 1));
  }
  return base + "::" + lang;
}

// Turns a sheet into row objects keyed by the header; blank rows are skipped.
ordered_json RowsToJson(const Rows& rows, const char* sheet, std::vector<FormProblem>* errors,
                        const std::vector<std::string>& required) {
  ordered_json out = ordered_json::array();
  if (rows.empty()) return out;
  std::vector<std::string> header;
  for (const std::string& h : rows[0]) header.push_back(NormalizeHeader(h));
  for (const std::string& need : required) {
    if (std::find(header.begin(), header.end(), need) == header.end()) {
      errors->push_back({1, sheet, "", need, std::string("the ") + sheet + " sheet has no '" + need +
                                                 "' column in its first row"});
    }
  }
  for (size_t r = 1; r < rows.size(); ++r) {
    ordered_json obj = ordered_json::object();
    for (size_t c = 0; c < rows[r].size() && c < header.size(); ++c) {
      if (header[c].empty() || Trim(rows[r][c]).empty()) continue;
      obj[header[c]] = rows[r][c];
    }
    if (!obj.empty()) out.push_back(std::move(obj));
  }
  return out;
}

}  // namespace

XlsFormImport ImportXlsForm(const std::string& path) {
  XlsFormImport result;
  std::string ext = Lower(std::filesystem::path(path).extension().string());
  Result<std::map<std::string, Rows>> sheets =
      ext == ".csv" ? ReadCsvSheets(path) : ReadXlsx(path);
  if (!sheets) {
    result.errors.push_back({0, "", "", "", sheets.error().message()});
    return result;
  }
  auto survey = sheets->find("survey");
  if (survey == sheets->end() || survey->second.empty()) {
    result.errors.push_back({0, "survey", "", "", "the workbook has no survey sheet"});
    return result;
  }
  ordered_json form = ordered_json::object();
  ordered_json settings = ordered_json::object();
  if (auto s = sheets->find("settings"); s != sheets->end() && s->second.size() >= 2) {
    const Rows& rows = s->second;
    for (size_t c = 0; c < rows[0].size() && c < rows[1].size(); ++c) {
      std::string key = NormalizeHeader(rows[0][c]);
      if (!key.empty() && !Trim(rows[1][c]).empty()) settings[key] = Trim(rows[1][c]);
    }
  }
  form["settings"] = settings;
  // CSV lists the form uses: *_from_file types and pulldata() files that exist beside it.
  form["survey"] = RowsToJson(survey->second, "survey", &result.errors, {"type", "name"});
  if (auto c = sheets->find("choices"); c != sheets->end()) {
    form["choices"] = RowsToJson(c->second, "choices", &result.errors, {"list_name", "name"});
  }
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  ordered_json files = ordered_json::array();
  for (const auto& row : form["survey"]) {
    std::string text = row.dump();
    for (size_t at = text.find(".csv"); at != std::string::npos; at = text.find(".csv", at + 4)) {
      size_t start = at;
      while (start > 0 && (std::isalnum(static_cast<unsigned char>(text[start - 1])) ||
                           text[start - 1] == '_' || text[start - 1] == '-')) {
        --start;
      }
      std::string file = text.substr(start, at + 4 - start);
      if (std::find(files.begin(), files.end(), file) == files.end() &&
          std::filesystem::exists(dir / file)) {
        files.push_back(file);
      }
    }
  }
  for (const auto& row : form["survey"]) {
    std::string text = row.dump();
    for (size_t at = text.find("pulldata("); at != std::string::npos; at = text.find("pulldata(", at + 9)) {
      size_t q = text.find_first_of("'\"", at + 9);
      if (q == std::string::npos || q != text.find_first_not_of(' ', at + 9)) continue;
      size_t end = text.find(text[q], q + 1);
      if (end == std::string::npos) continue;
      std::string file = text.substr(q + 1, end - q - 1) + ".csv";
      if (std::find(files.begin(), files.end(), file) == files.end() &&
          std::filesystem::exists(dir / file)) {
        files.push_back(file);
      }
    }
  }
  if (!files.empty()) form["files"] = files;
  if (!result.errors.empty()) return result;

  std::string json = form.dump(1);
  FormLoadOptions options;
  options.files_dir = dir.empty() ? "." : dir.string();
  FormLoadResult loaded = FormDef::Parse(json, options);
  result.errors = std::move(loaded.errors);
  result.warnings = std::move(loaded.warnings);
  if (result.errors.empty()) result.json = std::move(json);
  return result;
}

}  // namespace tianye
