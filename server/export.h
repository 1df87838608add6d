// What the exports share (export.cc, export_xlsx.cc, export_zip.cc): a form's
// columns over all its installed versions, masking of sensitive answers, and
// the response that streams a finished export file.
#ifndef TIANYE_SERVER_EXPORT_H_
#define TIANYE_SERVER_EXPORT_H_

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "http.h"
#include "tianye/form.h"
#include "tianye/form_store.h"
#include "tianye/review.h"
#include "tianye/sync.h"

namespace tianye::server {

inline constexpr char kMasked[] = "***";

// The answers of one level of a form: the record itself, or the instances of
// one repeat group.
struct ExportSheet {
  std::string repeat;                 // the repeat's name; empty for the record level
  std::string parent;                 // the enclosing repeat's name; empty at the top
  std::vector<std::string> columns;   // question names in form order (groups flattened)
  std::set<std::string> repeats;      // which columns are repeats nested at this level
};

// A form's export layout over every installed version, newest first: a name
// keeps the place it has in the newest version that has it.
struct ExportColumns {
  std::vector<ExportSheet> sheets;           // [0] is the record level
  std::map<std::string, QuestionType> types;  // question name -> type
  std::set<std::string> sensitive;           // names to mask unless the user may see them
};

// The columns of `form_id`. Errors: kNotFound when no version is installed.
Result<ExportColumns> FormColumns(FormStore& forms, const std::string& form_id);

// What an export request asks for: the queue's filters and, for an export of
// one form, that form's columns.
struct ExportRequest {
  RecordQuery query;
  ExportColumns columns;  // empty unless the export is of one form
};

// Checks that `who` may export and reads the filters. With `one_form`, the
// `form` parameter is required. Errors: review_forbidden (403),
// invalid_argument (400), kNotFound (no such form).
Result<ExportRequest> ParseExport(const http::Request& request, const Principal& who, FormStore& forms,
                                  bool one_form);

// The record's own columns, '@'-prefixed (as its fields are in sync) so they
// never clash with a form's questions (forms have county, village, ...).
std::vector<std::string> RecordHeader();
std::vector<std::string> RecordCells(const RecordRow& row, const Record& record);

// Replaces sensitive answers inside repeat instances with kMasked.
void MaskIn(nlohmann::json& value, const std::set<std::string>& sensitive);

// A cell's text: strings as they are, null as empty, anything else as JSON.
std::string CellText(const nlohmann::json& value);

// Whether `value` names a stored file (tianye::IsFileAnswer) whose extension,
// if any, is 1 to 8 letters or digits, so it can end a path in the ZIP.
bool IsExportableFile(const std::string& value);

// The response that streams the finished export at `path` (and removes it).
http::Response ExportFileResponse(const std::string& path, const std::string& content_type,
                                  const std::string& filename, int64_t records);

}  // namespace tianye::server

#endif  // TIANYE_SERVER_EXPORT_H_
