// XLSForm import from real .xlsx workbooks (written here with libxlsxwriter)
// and CSV sheets; malformed inputs are clear errors, never crashes.
#include "tianye/xlsform.h"

#include <gtest/gtest.h>
#include <xlsxwriter.h>
#include <zip.h>

#include <cstring>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace tianye {
namespace {

using Sheet = std::vector<std::vector<std::string>>;

// Writes a workbook with the given sheets; numeric-looking cells are written
// as numbers, as a spreadsheet program would store them.
void WriteXlsx(const std::string& path, const std::vector<std::pair<std::string, Sheet>>& sheets) {
  lxw_workbook* wb = workbook_new(path.c_str());
  ASSERT_NE(wb, nullptr);
  for (const auto& [name, rows] : sheets) {
    lxw_worksheet* ws = workbook_add_worksheet(wb, name.c_str());
    for (size_t r = 0; r < rows.size(); ++r) {
      for (size_t c = 0; c < rows[r].size(); ++c) {
        const std::string& v = rows[r][c];
        if (v.empty()) continue;
        char* end = nullptr;
        double d = std::strtod(v.c_str(), &end);
        if (end != nullptr && *end == '\0' && v.find_first_not_of("0123456789.") == std::string::npos) {
          worksheet_write_number(ws, static_cast<lxw_row_t>(r), static_cast<lxw_col_t>(c), d, nullptr);
        } else {
          worksheet_write_string(ws, static_cast<lxw_row_t>(r), static_cast<lxw_col_t>(c), v.c_str(), nullptr);
        }
      }
    }
  }
  ASSERT_EQ(workbook_close(wb), LXW_NO_ERROR);
}

const Sheet kSurvey = {
    {"Type", "Name", "Label::Chinese (zh)", "label::English (en)", "Required", "Constraint",
     "Relevance", "media::image", "Calculation"},
    {"select_one yes_no", "has_toilet", "是否有厕所", "Has a toilet", "yes", "", "", "", ""},
    {"begin group", "chk", "检查", "Check", "", "", "${has_toilet} = 'yes'", "", ""},
    {"decimal", "tank_volume", "容积", "Volume", "", ". >= 0.2 and . <= 20", "", "tank.png", ""},
    {"end group", "", "", "", "", "", "", "", ""},
    {"", "", "", "", "", "", "", "", ""},
    {"calculate", "double_volume", "", "", "", "", "", "", "${tank_volume} * 2"},
};
const Sheet kChoices = {
    {"List Name", "Name", "Label::Chinese (zh)", "Label::English (en)"},
    {"yes_no", "yes", "是", "yes"},
    {"yes_no", "no", "否", "no"},
};
const Sheet kSettings = {{"form_title", "form_id", "version", "default_language"},
                         {"户厕检查", "toilet_x", "2026010101", "zh"}};

TEST(XlsFormTest, ImportsARealWorkbook) {
  testing::TempDir dir;
  std::string path = dir.File("toilet.xlsx");
  WriteXlsx(path, {{"survey", kSurvey}, {"choices", kChoices}, {"settings", kSettings}});
  XlsFormImport r = ImportXlsForm(path);
  for (const FormProblem& e : r.errors) ADD_FAILURE() << e.ToString();
  ASSERT_FALSE(r.json.empty());
  // The unknown media column is kept and warned about, not dropped.
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].ToString().find("media::image"), std::string::npos);

  auto j = nlohmann::json::parse(r.json);
  EXPECT_EQ(j["settings"]["form_id"], "toilet_x");
  EXPECT_EQ(j["settings"]["version"], "2026010101");  // a number cell, read as text
  ASSERT_EQ(j["survey"].size(), 5u);                  // the blank row is skipped
  EXPECT_EQ(j["survey"][0]["label::zh"], "是否有厕所");
  EXPECT_EQ(j["survey"][0]["label::en"], "Has a toilet");
  EXPECT_EQ(j["survey"][1]["relevance"], "${has_toilet} = 'yes'");
  EXPECT_EQ(j["survey"][2]["media::image"], "tank.png");
  EXPECT_EQ(j["choices"][1]["list_name"], "yes_no");

  FormLoadResult loaded = FormDef::Parse(r.json, {});
  ASSERT_TRUE(loaded.form);
  EXPECT_TRUE(loaded.form->Find("tank_volume")->constraint.has_value());
  EXPECT_EQ(loaded.form->questions()[loaded.form->Find("tank_volume")->parent].name, "chk");
}

TEST(XlsFormTest, SheetNamesAndHeadersAreCaseInsensitive) {
  testing::TempDir dir;
  std::string path = dir.File("f.xlsx");
  WriteXlsx(path, {{"Settings", kSettings}, {"SURVEY", kSurvey}, {"Choices", kChoices}});
  XlsFormImport r = ImportXlsForm(path);
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors[0].ToString());
}

TEST(XlsFormTest, ImportsCsvSheets) {
  testing::TempDir dir;
  testing::WriteBytes(dir.File("survey.csv"),
                      "type,name,label::zh,calculation\n"
                      "integer,n,数量,\n"
                      "calculate,twice,,${n} * 2\n");
  testing::WriteBytes(dir.File("settings.csv"), "form_id,version\ncsv_form,1\n");
  XlsFormImport r = ImportXlsForm(dir.File("survey.csv"));
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].ToString();
  auto j = nlohmann::json::parse(r.json);
  EXPECT_EQ(j["settings"]["form_id"], "csv_form");
  EXPECT_EQ(j["survey"][1]["calculation"], "${n} * 2");
}

std::string Errors(const XlsFormImport& r) {
  std::string out;
  for (const FormProblem& e : r.errors) out += e.ToString() + "\n";
  return out;
}

TEST(XlsFormTest, MalformedInputsAreClearErrors) {
  testing::TempDir dir;
  // Not a zip at all.
  testing::WriteBytes(dir.File("junk.xlsx"), "this is not a spreadsheet");
  XlsFormImport r = ImportXlsForm(dir.File("junk.xlsx"));
  EXPECT_NE(Errors(r).find("not an .xlsx workbook"), std::string::npos) << Errors(r);
  EXPECT_TRUE(r.json.empty());
  // Missing file.
  EXPECT_FALSE(ImportXlsForm(dir.File("missing.xlsx")).errors.empty());
  // A workbook without a survey sheet.
  WriteXlsx(dir.File("nosurvey.xlsx"), {{"choices", kChoices}});
  r = ImportXlsForm(dir.File("nosurvey.xlsx"));
  EXPECT_NE(Errors(r).find("no survey sheet"), std::string::npos) << Errors(r);
  // A survey sheet whose header lacks the type column.
  WriteXlsx(dir.File("badheader.xlsx"), {{"survey", {{"kind", "name"}, {"text", "a"}}}});
  r = ImportXlsForm(dir.File("badheader.xlsx"));
  EXPECT_NE(Errors(r).find("the survey sheet has no 'type' column"), std::string::npos) << Errors(r);
  // A calculation cycle is reported from the form check.
  WriteXlsx(dir.File("cycle.xlsx"),
            {{"survey", {{"type", "name", "calculation"}, {"calculate", "a", "${b} + 1"}, {"calculate", "b", "${a} + 1"}}},
             {"settings", kSettings}});
  r = ImportXlsForm(dir.File("cycle.xlsx"));
  EXPECT_NE(Errors(r).find("calculation cycle: a -> b -> a"), std::string::npos) << Errors(r);
  EXPECT_TRUE(r.json.empty());
  // A 10 MB expression (CSV has no cell-size limit, unlike Excel).
  testing::WriteBytes(dir.File("survey.csv"),
                      "type,name,calculation\ncalculate,big," + std::string(10 << 20, '1') + "\n");
  testing::WriteBytes(dir.File("settings.csv"), "form_id,version\nbig,1\n");
  r = ImportXlsForm(dir.File("survey.csv"));
  EXPECT_NE(Errors(r).find("the limit is"), std::string::npos) << Errors(r).substr(0, 300);
  // A zip that is not a workbook.
  {
    int err = 0;
    zip_t* z = zip_open(dir.File("other.zip").c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
    ASSERT_NE(z, nullptr);
    zip_source_t* src = zip_source_buffer(z, "hello", 5, 0);
    zip_file_add(z, "readme.txt", src, ZIP_FL_OVERWRITE);
    ASSERT_EQ(zip_close(z), 0);
  }
  r = ImportXlsForm(dir.File("other.zip"));
  EXPECT_NE(Errors(r).find("no xl/workbook.xml"), std::string::npos) << Errors(r);
  // A workbook with malformed XML inside.
  {
    int err = 0;
    zip_t* z = zip_open(dir.File("broken.xlsx").c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
    const char* xml = "<workbook><sheets><sheet name='survey'";
    zip_source_t* src = zip_source_buffer(z, xml, std::strlen(xml), 0);
    zip_file_add(z, "xl/workbook.xml", src, ZIP_FL_OVERWRITE);
    ASSERT_EQ(zip_close(z), 0);
  }
  r = ImportXlsForm(dir.File("broken.xlsx"));
  EXPECT_NE(Errors(r).find("not well-formed XML"), std::string::npos) << Errors(r);
}

}  // namespace
}  // namespace tianye
