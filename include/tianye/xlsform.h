// Importing XLSForms: an .xlsx workbook (the format ODK, KoboToolbox,
// SurveyCTO and Survey123 authors write) or CSV sheets, into Tianye's JSON
// form format (forms/README.md).
//
// Thread safety: a free function; safe to call from several threads.
#ifndef TIANYE_XLSFORM_H_
#define TIANYE_XLSFORM_H_

#include <string>
#include <vector>

#include "tianye/form.h"

namespace tianye {

struct XlsFormImport {
  std::string json;                  // the form in Tianye's JSON format; empty on errors
  std::vector<FormProblem> errors;   // reading problems, then every problem of the form itself
  std::vector<FormProblem> warnings; // e.g. unknown columns (kept in the JSON, not dropped)
};

// Reads `path`: an .xlsx workbook with survey, choices and settings sheets, or
// a .csv file holding the survey sheet, with choices.csv and settings.csv
// beside it when the form has them. Sheet and header names are
// case-insensitive; "label::Chinese (zh)" becomes "label::zh". The result is
// checked as FormDef::LoadFile would check it (CSV lists beside `path`).
XlsFormImport ImportXlsForm(const std::string& path);

}  // namespace tianye

#endif  // TIANYE_XLSFORM_H_
