// Loading forms: the JSON format, complete error reports, record evaluation.
#include "tianye/form.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace tianye {
namespace {

constexpr char kToiletMini[] = R"json({
  "settings": {"form_id": "toilet_mini", "version": "2026.1", "default_language": "zh",
               "form_title::zh": "户厕摸排", "form_title::en": "Toilet check"},
  "files": ["villages.csv"],
  "survey": [
    {"type": "select_one_from_file villages.csv", "name": "village", "label::zh": "行政村", "required": "yes"},
    {"type": "calculate", "name": "ur_class", "calculation": "pulldata('villages', 'ur_class', 'name', ${village})"},
    {"type": "text", "name": "hh_head_name", "label::zh": "户主姓名", "label::en": "household head",
     "required": "yes", "constraint": "string-length(.) >= 2 and string-length(.) <= 20",
     "constraint_message::zh": "姓名应为2-20个字", "sensitive": "yes"},
    {"type": "select_one yes_no", "name": "has_toilet", "label::zh": "是否有厕所", "required": "yes"},
    {"type": "begin group", "name": "toilet", "relevant": "${has_toilet} = 'yes'"},
    {"type": "select_one toilet_type", "name": "toilet_type", "label::zh": "厕所类型",
     "choice_filter": "kind = 'sanitary' or ${has_toilet} = 'yes'"},
    {"type": "decimal", "name": "tank_volume", "label::zh": "贮粪池有效容积(m³)",
     "constraint": ". >= 0.2 and . <= 20", "appearance": "numbers", "parameters": "step=0.1"},
    {"type": "end group"},
    {"type": "begin repeat", "name": "problems", "label::zh": "问题"},
    {"type": "select_one problem", "name": "problem_type", "label::zh": "问题类型"},
    {"type": "integer", "name": "cost", "label::zh": "整改费用"},
    {"type": "calculate", "name": "pos", "calculation": "position(..)"},
    {"type": "end repeat"},
    {"type": "calculate", "name": "problem_count", "calculation": "count(${problems})"},
    {"type": "calculate", "name": "total_cost", "calculation": "sum(${cost})"},
    {"type": "calculate", "name": "qualified", "calculation": "if(${problem_count} = 0 and ${has_toilet} = 'yes', 1, 0)"},
    {"type": "note", "name": "summary", "label::zh": "类型：${toilet_type}",
     "relevant": "jr:choice-name(${toilet_type}, '${toilet_type}') != ''"}
  ],
  "choices": [
    {"list_name": "yes_no", "name": "yes", "label::zh": "是", "label::en": "yes"},
    {"list_name": "yes_no", "name": "no", "label::zh": "否", "label::en": "no"},
    {"list_name": "toilet_type", "name": "three_compartment", "label::zh": "三格化粪池式", "kind": "sanitary"},
    {"list_name": "toilet_type", "name": "dry_pit", "label::zh": "旱厕", "kind": "unsanitary"},
    {"list_name": "problem", "name": "cover_damaged", "label::zh": "盖板破损"},
    {"list_name": "problem", "name": "leak", "label::zh": "渗漏"}
  ]
})json";

class FormTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteBytes(dir_.File("villages.csv"),
                        "\xEF\xBB\xBFname,label::zh,town,ur_class\n"
                        "140622100201,东南角村委会,140622100,220\n"
                        "\"140622100202\",\"西,北村\",140622100,210\n");
  }
  FormLoadResult Load(const std::string& json) { return FormDef::Parse(json, {dir_.path()}); }
  testing::TempDir dir_;
};

std::string AllErrors(const FormLoadResult& r) {
  std::string out;
  for (const FormProblem& p : r.errors) out += p.ToString() + "\n";
  return out;
}

TEST_F(FormTest, LoadsAValidForm) {
  FormLoadResult r = Load(kToiletMini);
  ASSERT_TRUE(r.form) << AllErrors(r);
  const FormDef& f = *r.form;
  EXPECT_EQ(f.id(), "toilet_mini");
  EXPECT_EQ(f.version(), "2026.1");
  EXPECT_EQ(f.Text(f.title(), "en"), "Toilet check");
  EXPECT_EQ(f.Text(f.title(), "fr"), "户厕摸排");  // falls back to the default language

  const Question* tank = f.Find("tank_volume");
  ASSERT_NE(tank, nullptr);
  EXPECT_EQ(tank->type, QuestionType::kDecimal);
  EXPECT_EQ(f.questions()[tank->parent].name, "toilet");
  EXPECT_EQ(tank->repeat, -1);
  EXPECT_EQ(tank->parameters.at("step"), "0.1");
  EXPECT_EQ(tank->appearance, "numbers");
  const Question* cost = f.Find("cost");
  EXPECT_EQ(f.questions()[cost->repeat].name, "problems");
  EXPECT_TRUE(f.Find("hh_head_name")->sensitive);
  EXPECT_FALSE(f.Find("has_toilet")->sensitive);
  EXPECT_TRUE(f.Find("hh_head_name")->required.has_value());
  EXPECT_EQ(f.Text(f.Find("hh_head_name")->constraint_message, "en"), "姓名应为2-20个字");
  EXPECT_EQ(f.Find("village")->file, "villages.csv");
  ASSERT_NE(f.File("villages"), nullptr);
  EXPECT_EQ(f.File("villages")->rows.size(), 2u);
  EXPECT_EQ(f.File("villages")->rows[1][1], "西,北村");
  EXPECT_EQ(f.Choices("toilet_type")->columns, std::vector<std::string>{"kind"});

  // Dependents: has_toilet is read by the group's relevance, the choice
  // filter and the qualified flag.
  std::vector<std::string> deps;
  for (int d : f.Dependents(f.Find("has_toilet")->index)) deps.push_back(f.questions()[d].name);
  EXPECT_EQ(deps, (std::vector<std::string>{"toilet", "toilet_type", "qualified"}));
  // Calculations come after what they read.
  std::vector<std::string> order;
  for (int i : f.CalculationOrder()) order.push_back(f.questions()[i].name);
  auto at = [&](const char* n) { return std::find(order.begin(), order.end(), n) - order.begin(); };
  EXPECT_LT(at("problem_count"), at("qualified"));
  EXPECT_EQ(order.size(), 5u);
}

TEST_F(FormTest, ReportsEveryProblemWithRowAndName) {
  constexpr char kBroken[] = R"json({
    "settings": {"form_id": "broken", "version": "1"},
    "survey": [
      {"type": "text", "name": "a", "label": "A", "colour": "red"},
      {"type": "txet", "name": "b"},
      {"type": "text", "name": "a"},
      {"type": "integer", "name": "c", "relevant": "${nope} = 1"},
      {"type": "integer", "name": "d", "constraint": "frobnicate(.)"},
      {"type": "integer", "name": "e", "constraint": "if(. > 1, 2)"},
      {"type": "calculate", "name": "x", "calculation": "${y} + 1"},
      {"type": "calculate", "name": "y", "calculation": "${x} + 1"},
      {"type": "select_one colours", "name": "f"},
      {"type": "select_one_from_file missing.csv", "name": "g"},
      {"type": "select_one yes_no", "name": "h", "choice_filter": "shade = 'dark'"},
      {"type": "text", "name": "i", "relevant": "${i} != ''"},
      {"type": "calculate", "name": "j"},
      {"type": "text", "name": "2bad"},
      {"type": "end repeat"},
      {"type": "begin group", "name": "open_group"},
      {"type": "text", "name": "k", "relevant": "county = 1"}
    ],
    "choices": [
      {"list_name": "yes_no", "name": "yes", "label": "Yes"},
      {"list_name": "yes_no", "name": "yes", "label": "Yes again"}
    ]
  })json";
  FormLoadResult r = Load(kBroken);
  EXPECT_FALSE(r.form);
  std::string all = AllErrors(r);
  for (const char* want : {
           "survey row 3 (b), type: unknown type 'txet'",
           "survey row 4 (a), name: duplicate name: also used on survey row 2",
           "survey row 11 (g), type: file 'missing.csv' is not among the form's files",
           "survey row 14 (j), calculation: a calculate row needs a calculation",
           "survey row 15 (2bad), name: '2bad' is not a valid name",
           "survey row 16, type: end repeat has no matching begin",
           "survey row 17 (open_group), type: begin group is never closed",
           "choices row 3 (yes), name: choice 'yes' appears twice in list 'yes_no'",
           "survey row 5 (c), relevant: refers to ${nope}, which does not exist",
           "survey row 6 (d), constraint: at character 1: unknown function frobnicate()",
           "survey row 7 (e), constraint: at character 1: if() takes 3 argument(s), not 2",
           "survey row 8 (x), calculation: calculation cycle: x -> y -> x",
           "survey row 10 (f), type: choice list 'colours' is missing from the choices sheet",
           "survey row 12 (h), choice_filter: 'shade' is not a column of choice list 'yes_no'",
           "survey row 13 (i), relevant: a question cannot depend on itself to be shown",
           "survey row 18 (k), relevant: 'county' is not a function or a field",
       }) {
    EXPECT_NE(all.find(want), std::string::npos) << "missing: " << want << "\nin:\n" << all;
  }
  // Nothing else: one message per problem.
  EXPECT_EQ(r.errors.size(), 16u) << all;
  // In sheet and row order.
  EXPECT_EQ(r.errors.front().sheet, "survey");
  EXPECT_EQ(r.errors.back().sheet, "choices");
  for (size_t i = 1; i < r.errors.size(); ++i) {
    if (r.errors[i].sheet == r.errors[i - 1].sheet) {
      EXPECT_LE(r.errors[i - 1].row, r.errors[i].row);
    }
  }

  constexpr char kCycle[] = R"json({
    "settings": {"form_id": "cycle", "version": "1"},
    "survey": [
      {"type": "calculate", "name": "x", "calculation": "${y} + 1"},
      {"type": "calculate", "name": "y", "calculation": "${z} * 2"},
      {"type": "calculate", "name": "z", "calculation": "${x} - 1"}
    ]
  })json";
  r = Load(kCycle);
  EXPECT_FALSE(r.form);
  EXPECT_NE(AllErrors(r).find("calculation cycle: x -> y -> z -> x"), std::string::npos) << AllErrors(r);
}

TEST_F(FormTest, UnknownColumnsAreKeptAndWarnedAbout) {
  FormLoadResult r = Load(R"json({"settings": {"form_id": "w", "version": "1"},
    "survey": [{"type": "text", "name": "a", "colour": "red", "bind::esri:fieldLength": 50}]})json");
  ASSERT_TRUE(r.form) << AllErrors(r);
  EXPECT_EQ(r.form->Find("a")->extra.at("colour"), "red");
  EXPECT_EQ(r.form->Find("a")->extra.at("bind::esri:fieldLength"), "50");
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_NE(r.warnings[0].ToString().find("unknown column"), std::string::npos);
}

TEST_F(FormTest, MalformedInputIsAnErrorNotACrash) {
  for (const char* bad : {"", "[]", "{", "{\"settings\": 5}", "{\"settings\": {}, \"survey\": 3}",
                          "{\"settings\": {\"form_id\": \"x\", \"version\": 1}, \"survey\": [5]}",
                          "{\"settings\": {\"form_id\": \"x\", \"version\": 1}, \"survey\": [{}],"
                          " \"choices\": {}}"}) {
    FormLoadResult r = FormDef::Parse(bad, {});
    EXPECT_FALSE(r.form) << bad;
    EXPECT_FALSE(r.errors.empty()) << bad;
  }
  FormLoadResult missing = FormDef::LoadFile(dir_.File("nope.json"));
  ASSERT_EQ(missing.errors.size(), 1u);
  EXPECT_NE(missing.errors[0].message.find("cannot read"), std::string::npos);
}

TEST_F(FormTest, XlsformSpellingsAreAccepted) {
  FormLoadResult r = Load(R"json({"settings": {"form_id": "x", "version": 3},
    "survey": [
      {"Type": "begin_group", "Name": "g", "Label::Chinese (zh)": "组"},
      {"type": "dateTime", "name": "t", "Relevance": "true()", "readonly": "yes", "jr:constraintMsg": "bad"},
      {"type": "end_group"}]})json");
  ASSERT_TRUE(r.form) << AllErrors(r);
  EXPECT_EQ(r.form->version(), "3");
  EXPECT_EQ(r.form->Text(r.form->Find("g")->label, "zh"), "组");
  const Question* t = r.form->Find("t");
  EXPECT_EQ(t->type, QuestionType::kDateTime);
  EXPECT_TRUE(t->relevant.has_value());
  EXPECT_TRUE(t->read_only.has_value());
  EXPECT_EQ(r.form->Text(t->constraint_message, ""), "bad");
}

TEST_F(FormTest, TypesFromPublicXlsforms) {
  FormLoadResult r = Load(R"json({"settings": {"form_id": "pub", "version": "1"},
    "survey": [
      {"type": "select one colours or_other", "name": "colour"},
      {"type": "select_multiple colours", "name": "many"},
      {"type": "rank colours", "name": "order"},
      {"type": "range", "name": "score", "parameters": "start=0 end=5 step=0.5"},
      {"type": "trigger", "name": "ok"},
      {"type": "csv-external", "name": "households"},
      {"type": "email", "name": "email"}, {"type": "phonenumber", "name": "phone"},
      {"type": "audit", "name": "audit"}, {"type": "start-geopoint", "name": "sg"},
      {"type": "imei", "name": "imei"}],
    "choices": [{"list_name": "colours", "name": "red"}, {"list_name": "colours", "name": "blue"}]})json");
  ASSERT_TRUE(r.form) << AllErrors(r);
  const FormDef& f = *r.form;
  EXPECT_EQ(f.Find("colour")->type, QuestionType::kSelectOne);
  EXPECT_EQ(f.Find("colour")->list_name, "colours");
  EXPECT_TRUE(f.Find("colour")->or_other);
  EXPECT_TRUE(f.IsChoice(*f.Find("colour"), "other"));
  EXPECT_FALSE(f.IsChoice(*f.Find("many"), "other"));
  EXPECT_EQ(f.Find("order")->type, QuestionType::kRank);
  EXPECT_EQ(f.Find("ok")->type, QuestionType::kAcknowledge);
  EXPECT_FALSE(f.Find("households")->holds_value());
  EXPECT_EQ(f.Find("imei")->type, QuestionType::kDeviceId);
}

TEST_F(FormTest, EvaluatesExpressionsOnARecord) {
  FormLoadResult r = Load(kToiletMini);
  ASSERT_TRUE(r.form) << AllErrors(r);
  const std::string record = R"json({"village": "140622100201", "hh_head_name": "张德明",
    "has_toilet": "yes", "toilet_type": "three_compartment", "tank_volume": 1.5,
    "problems": [{"_id": "a", "problem_type": "leak", "cost": 300},
                 {"_id": "b", "problem_type": "cover_damaged", "cost": "120"}]})json";
  auto eval = [&](const char* text, const char* lang = "zh") {
    auto e = Expression::Parse(text);
    EXPECT_TRUE(e.has_value()) << text;
    auto v = EvaluateOnRecord(*r.form, *e, record, lang);
    return v ? v->AsString() : "ERROR: " + v.error().message();
  };
  EXPECT_EQ(eval("sum(${cost})"), "420");
  EXPECT_EQ(eval("count(${problems}[cost > 200])"), "1");
  EXPECT_EQ(eval("count(${problems}[problem_type = 'leak' or cost = 120])"), "2");
  EXPECT_EQ(eval("sum(${cost}[2])"), "120");
  EXPECT_EQ(eval("count(${problems}[pos = 1])"), "0");  // calculations are not stored here
  EXPECT_EQ(eval("count(${problems})"), "2");
  EXPECT_EQ(eval("${problem_type} = 'leak'"), "true");
  EXPECT_EQ(eval("${tank_volume} * 2"), "3");
  EXPECT_EQ(eval("jr:choice-name(${toilet_type}, '${toilet_type}')"), "三格化粪池式");
  EXPECT_EQ(eval("jr:choice-name(${has_toilet}, '${has_toilet}')", "en"), "yes");
  EXPECT_EQ(eval("jr:choice-name(${village}, '${village}')"), "东南角村委会");
  EXPECT_EQ(eval("pulldata('villages', 'ur_class', 'name', ${village})"), "220");
  EXPECT_EQ(eval("pulldata('villages', 'nope', 'name', ${village})").rfind("ERROR", 0), 0u);
  EXPECT_EQ(eval("${absent_field}").rfind("ERROR", 0), 0u);
  auto e = Expression::Parse("1");
  EXPECT_FALSE(EvaluateOnRecord(*r.form, *e, "[1]", "zh").has_value());
}

}  // namespace
}  // namespace tianye
