// Golden tests for the three forms we ship (forms/*.json): they load cleanly,
// a complete record finalizes, errors get the right messages, skip logic
// works, and the derived flags and grades follow the rules of the domain
// research (forms.md §3.3.11 and §4.3.5) on its own worked cases.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "tianye/form_session.h"

namespace tianye {
namespace {

class FixedClock final : public Clock {
 public:
  int64_t NowMillis() const override { return 1764460800000; }  // 2025-11-30 08:00 +08:00
};

std::shared_ptr<const FormDef> LoadForm(const std::string& name) {
  FormLoadResult r = FormDef::LoadFile(std::string(TIANYE_FORMS_DIR) + "/" + name + ".json");
  for (const FormProblem& p : r.errors) ADD_FAILURE() << name << ": " << p.ToString();
  for (const FormProblem& p : r.warnings) ADD_FAILURE() << name << " warning: " << p.ToString();
  return r.form;
}

class ShippedFormTest : public ::testing::Test {
 protected:
  std::unique_ptr<FormSession> Open(const std::string& form, const char* lang = "zh") {
    auto def = LoadForm(form);
    if (!def) return nullptr;
    SessionOptions options;
    options.clock = &clock_;
    options.language = lang;
    options.device_id = "test-device";
    options.username = "inspector1";
    auto s = FormSession::Open(def, "", options);
    EXPECT_TRUE(s.has_value()) << s.error().ToString();
    return s ? std::move(s).value() : nullptr;
  }
  // Sets answers in order; each must be accepted.
  static void Fill(FormSession& s, const std::vector<std::pair<std::string, std::string>>& answers) {
    for (const auto& [path, value] : answers) {
      auto r = s.SetAnswer(path, value);
      ASSERT_TRUE(r.has_value()) << path << " = " << value << ": " << r.error().ToString();
    }
  }
  static std::string Value(FormSession& s, const std::string& path) {
    auto st = s.State(path);
    return st ? st->value : "<" + st.error().message() + ">";
  }

  // The common header with a real Shuozhou village (应县金城镇东南角村).
  static void FillHeader(FormSession& s) {
    Fill(s, {{"survey_date", "2025-11-28"}, {"enum_name", "李秀英"}, {"enum_unit", "county_agri"},
             {"county", "140622"}, {"town", "140622100"}, {"village", "140622100201"},
             {"gps", "39.56 113.18 1010 6"}, {"consent", "yes"}});
  }
  FixedClock clock_;
};

TEST_F(ShippedFormTest, AllThreeLoadWithoutProblems) {
  for (const char* name : {"germplasm", "toilet", "housing"}) {
    auto form = LoadForm(name);
    ASSERT_NE(form, nullptr) << name;
    EXPECT_EQ(form->id(), name);
    EXPECT_EQ(form->languages(), (std::vector<std::string>{"zh", "en"})) << name;
    // Every labelled question has both languages.
    for (const Question& q : form->questions()) {
      if (q.label.count("zh") == 0) continue;
      EXPECT_EQ(q.label.count("en"), 1u) << name << "." << q.name;
    }
  }
}

TEST_F(ShippedFormTest, HeaderCascadesCountyTownshipVillage) {
  auto s = Open("toilet");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->Choices("county")->size(), 7u);
  EXPECT_TRUE(s->Choices("town")->empty());  // nothing until a county is chosen
  Fill(*s, {{"county", "140622"}});
  auto towns = s->Choices("town");
  ASSERT_FALSE(towns->empty());
  for (const ChoiceOption& t : *towns) EXPECT_EQ(t.name.substr(0, 6), "140622");
  Fill(*s, {{"town", "140622100"}});
  auto villages = s->Choices("village");
  ASSERT_FALSE(villages->empty());
  bool found = false;
  for (const ChoiceOption& v : *villages) {
    EXPECT_EQ(v.name.substr(0, 9), "140622100");
    if (v.name == "140622100201") found = v.label == "东南角村委会";
  }
  EXPECT_TRUE(found);
  // GPS outside the loose Shuozhou box asks for confirmation.
  Fill(*s, {{"gps", "39.56 113.18 1010 6"}});
  EXPECT_FALSE(s->State("gps_warn")->relevant);
  Fill(*s, {{"gps", "31.23 121.47 5 8"}});  // Shanghai
  EXPECT_TRUE(s->State("gps_warn")->relevant);
  EXPECT_EQ(Value(*s, "gps_lat"), "31.23");
}

TEST_F(ShippedFormTest, IdCardChecksumAndMasking) {
  auto s = Open("housing", "en");
  ASSERT_NE(s, nullptr);
  Fill(*s, {{"id_card", "11010519491231002X"}});
  EXPECT_EQ(s->State("id_card")->error, "");
  EXPECT_EQ(Value(*s, "id_masked"), "110***********002X");
  Fill(*s, {{"id_card", "110105194912310021"}});
  EXPECT_EQ(s->State("id_card")->error, "Not a valid ID card number (format or check digit)");
  auto form = LoadForm("housing");
  EXPECT_TRUE(form->Find("id_card")->sensitive);
  EXPECT_TRUE(form->Find("category")->sensitive);
  EXPECT_FALSE(form->Find("hh_size")->sensitive);
}

// forms.md §3.3.11: "a good 三格 toilet → qualified", and its variations.
class ToiletFlagsTest : public ShippedFormTest {
 protected:
  std::unique_ptr<FormSession> GoodThreeCompartment() {
    auto s = Open("toilet");
    FillHeader(*s);
    Fill(*s, {{"occupancy", "year_round"}, {"has_toilet", "yes"}, {"renovated", "yes"},
              {"toilet_type", "three_compartment"}, {"tank_volume", "2"}, {"has_wall", "yes"},
              {"has_roof", "yes"}, {"has_door", "yes"}, {"leak", "no"}, {"fecal_exposure", "no"},
              {"flies", "none"}, {"cover", "intact"}, {"pipe_state", "ok"}, {"vent", "ok"},
              {"in_use", "normal"}, {"froze_last_winter", "no"}});
    return s;
  }
};

TEST_F(ToiletFlagsTest, GoodThreeCompartmentIsQualified) {
  auto s = GoodThreeCompartment();
  EXPECT_EQ(Value(*s, "is_sanitary"), "1");
  EXPECT_EQ(Value(*s, "is_harmless"), "1");
  EXPECT_EQ(Value(*s, "is_qualified"), "1");
  EXPECT_EQ(Value(*s, "problem_found"), "0");
  EXPECT_EQ(Value(*s, "in_scope"), "1");
}

TEST_F(ToiletFlagsTest, SmallTankIsSanitaryButNotHarmless) {
  auto s = GoodThreeCompartment();
  Fill(*s, {{"tank_volume", "1.2"}});
  EXPECT_EQ(Value(*s, "is_sanitary"), "1");
  EXPECT_EQ(Value(*s, "is_harmless"), "0");
  EXPECT_EQ(Value(*s, "capacity_low"), "1");
  EXPECT_EQ(Value(*s, "is_qualified"), "0");
  EXPECT_EQ(Value(*s, "problem_found"), "1");
}

TEST_F(ToiletFlagsTest, LeakMeansNotSanitary) {
  auto s = GoodThreeCompartment();
  Fill(*s, {{"leak", "yes"}});
  EXPECT_EQ(Value(*s, "is_sanitary"), "0");
  EXPECT_EQ(Value(*s, "is_qualified"), "0");
}

TEST_F(ToiletFlagsTest, OpenProblemPastDeadlineIsOverdue) {
  auto s = GoodThreeCompartment();
  ASSERT_TRUE(s->AddRepeat("problems").has_value());
  Fill(*s, {{"problems[1]/prob_cat", "product"}});
  auto items = s->Choices("problems[1]/prob_item");
  ASSERT_FALSE(items->empty());
  Fill(*s, {{"problems[1]/prob_item", items->front().name}, {"problems[1]/prob_photo_before", "before.jpg"},
            {"problems[1]/measure", "repair"}, {"problems[1]/responsible", "contractor"},
            {"problems[1]/deadline", "2025-11-29"}, {"problems[1]/prob_status", "pending"}});
  EXPECT_EQ(Value(*s, "n_problems"), "1");
  EXPECT_EQ(Value(*s, "n_open"), "1");
  EXPECT_EQ(Value(*s, "n_overdue"), "1");  // the deadline passed before today (2025-11-30)
  EXPECT_EQ(Value(*s, "is_qualified"), "0");
  // Fixed: qualified again, but it stays a problem toilet found (counts toward rectification).
  Fill(*s, {{"problems[1]/prob_status", "fixed"}, {"problems[1]/fixed_date", "2025-11-29"},
            {"problems[1]/prob_photo_after", "after.jpg"}});
  EXPECT_EQ(Value(*s, "n_open"), "0");
  EXPECT_EQ(Value(*s, "n_overdue"), "0");
  EXPECT_EQ(Value(*s, "is_qualified"), "1");
  EXPECT_EQ(Value(*s, "problem_found"), "1");
  // A deadline before the survey date is refused with the form's message.
  Fill(*s, {{"problems[1]/deadline", "2025-11-01"}});
  EXPECT_EQ(s->State("problems[1]/deadline")->error, "整改时限不能早于调查日期");
}

TEST_F(ToiletFlagsTest, WinterSewerUrineDiversionBiogasVacant) {
  {
    auto s = GoodThreeCompartment();
    Fill(*s, {{"froze_last_winter", "yes"}, {"frozen_months", "2"}});
    EXPECT_EQ(Value(*s, "winter_ok"), "0");
    EXPECT_EQ(Value(*s, "is_qualified"), "0");
  }
  {
    auto s = GoodThreeCompartment();
    Fill(*s, {{"toilet_type", "sewer"}, {"sewer_connected", "no"}});
    EXPECT_EQ(Value(*s, "is_sanitary"), "0");
  }
  {
    auto s = GoodThreeCompartment();
    Fill(*s, {{"toilet_type", "urine_diversion"}, {"tank_volume", "0.6"}});
    EXPECT_EQ(Value(*s, "is_sanitary"), "1");
    EXPECT_EQ(Value(*s, "is_harmless"), "0");
  }
  {
    auto s = GoodThreeCompartment();
    Fill(*s, {{"toilet_type", "biogas"}});  // a biogas toilet has no vent question
    EXPECT_FALSE(s->State("vent")->relevant);
    EXPECT_EQ(Value(*s, "is_harmless"), "1");
  }
  {
    auto s = GoodThreeCompartment();
    Fill(*s, {{"occupancy", "vacant"}});
    EXPECT_EQ(Value(*s, "in_scope"), "0");
  }
}

TEST_F(ToiletFlagsTest, SkipLogicFollowsHasToilet) {
  auto s = Open("toilet");
  Fill(*s, {{"has_toilet", "no"}});
  EXPECT_TRUE(s->State("no_toilet_reason")->relevant);
  EXPECT_FALSE(s->State("toilet_type")->relevant);
  EXPECT_FALSE(s->State("chk_room")->relevant);
  EXPECT_FALSE(s->State("has_wall")->relevant);
  Fill(*s, {{"has_toilet", "yes"}, {"toilet_type", "dry_pit"}});
  EXPECT_FALSE(s->State("no_toilet_reason")->relevant);
  EXPECT_TRUE(s->State("has_wall")->relevant);
}

// forms.md §4.3.5: the whole-house grade from component grades and the site.
class HousingGradeTest : public ShippedFormTest {
 protected:
  std::unique_ptr<FormSession> House() {
    auto s = Open("housing");
    Fill(*s, {{"no_house", "no"}, {"site_safety", "safe"}, {"site_hazards", "none"}});
    return s;
  }
  static void AddComponent(FormSession& s, const std::string& type, char grade) {
    ASSERT_TRUE(s.AddRepeat("components").has_value());
    int n = *s.RepeatCount("components");
    std::string base = "components[" + std::to_string(n) + "]/";
    Fill(s, {{base + "comp_type", type}, {base + "comp_grade", std::string(1, grade) + "_" + type}});
    // The grade offered is filtered to the component type.
    auto grades = s.Choices(base + "comp_grade");
    ASSERT_EQ(grades->size(), 4u);
    for (const ChoiceOption& g : *grades) EXPECT_NE(g.name.find(type), std::string::npos);
  }
};

TEST_F(HousingGradeTest, EnclosureIsCappedAtB) {
  auto s = House();
  AddComponent(*s, "bearing_wall", 'a');
  AddComponent(*s, "foundation", 'a');
  AddComponent(*s, "roof_floor", 'a');
  AddComponent(*s, "enclosure", 'd');
  EXPECT_EQ(Value(*s, "comp_complete"), "1");
  EXPECT_EQ(Value(*s, "grade_calc"), "B");
}

TEST_F(HousingGradeTest, WorstComponentDecides) {
  auto s = House();
  AddComponent(*s, "foundation", 'a');
  AddComponent(*s, "bearing_wall", 'c');
  AddComponent(*s, "wood_truss", 'b');
  EXPECT_EQ(Value(*s, "max_comp"), "3");
  EXPECT_EQ(Value(*s, "grade_calc"), "C");
  auto cave = House();
  AddComponent(*cave, "cave_arch", 'd');
  EXPECT_EQ(Value(*cave, "grade_calc"), "D");
}

TEST_F(HousingGradeTest, DangerousSiteGivesD) {
  auto s = House();
  Fill(*s, {{"site_hazards", "mining_subsidence"}, {"site_safety", "dangerous"}});
  AddComponent(*s, "foundation", 'a');
  AddComponent(*s, "bearing_wall", 'a');
  AddComponent(*s, "roof_floor", 'a');
  EXPECT_EQ(Value(*s, "grade_calc"), "D");
  // A dangerous site cannot be rebuilt in place.
  Fill(*s, {{"grade_final", "D"}, {"disposal", "rebuild_same_site"}});
  EXPECT_EQ(s->State("disposal")->error, "处置建议与鉴定等级或场地安全性不符");
  Fill(*s, {{"disposal", "relocate"}});
  EXPECT_EQ(s->State("disposal")->error, "");
  EXPECT_EQ(Value(*s, "is_unsafe"), "1");
  EXPECT_TRUE(s->State("guarantee_mode")->relevant);
}

TEST_F(HousingGradeTest, MissingMandatoryComponentsBlockTheGrade) {
  auto s = House();
  AddComponent(*s, "foundation", 'b');
  EXPECT_EQ(Value(*s, "grade_calc"), "B");
  EXPECT_EQ(Value(*s, "comp_complete"), "0");
  EXPECT_TRUE(s->State("complete_gate")->relevant);
  Fill(*s, {{"grade_final", "B"}});
  EXPECT_EQ(s->State("grade_final")->error, "必查部位未齐：请补充地基基础、承重构件和屋盖的检查");
  bool reported = false;
  for (const FinalizeProblem& p : s->Finalize()) reported = reported || p.path == "grade_final";
  EXPECT_TRUE(reported);
}

// Fills every shown, required, empty question with the first value the form
// accepts, until Finalize() reports nothing (or no progress is possible).
std::vector<FinalizeProblem> AutoFill(FormSession& s) {
  const std::vector<std::string> candidates = {"1", "2", "3", "5", "10", "30", "2025", "2020", "0.5",
                                               "1.5", "2025-11-28", "2025-11-30", "08:30",
                                               "张德明测试", "Fagopyrum esculentum", "OK", "39.56 113.18 1010 6", "yes"};
  std::vector<FinalizeProblem> problems;
  for (int round = 0; round < 8; ++round) {
    for (const NodeState& n : s.States()) {
      const Question& q = s.form().questions()[n.question];
      if (!n.relevant || n.read_only || !q.holds_value() || !n.value.empty() || !n.required) continue;
      std::vector<std::string> tries;
      if (auto choices = s.Choices(n.path); choices.has_value()) {
        for (const ChoiceOption& c : *choices) {
          if (c.name != "none" && c.name != "other") tries.push_back(c.name);
        }
      } else {
        tries = candidates;
      }
      for (const std::string& v : tries) {
        if (!s.SetAnswer(n.path, v).has_value()) break;
        if (s.State(n.path)->error.empty()) break;
      }
    }
    problems = s.Finalize();
    if (problems.empty()) break;
  }
  return problems;
}

TEST_F(ShippedFormTest, CompleteRecordsFinalizeAndEmptyOnesDoNot) {
  struct Start {
    const char* form;
    std::vector<std::pair<std::string, std::string>> answers;
    const char* repeat;
  };
  for (const Start& start : std::vector<Start>{
           {"germplasm", {{"res_cat", ""}}, "sample"},
           {"toilet", {{"has_toilet", "yes"}, {"renovated", "yes"}, {"toilet_type", "three_compartment"}}, "problems"},
           {"housing", {{"no_house", "no"}}, "components"},
       }) {
    SCOPED_TRACE(start.form);
    auto s = Open(start.form);
    ASSERT_NE(s, nullptr);
    EXPECT_FALSE(s->Finalize().empty());  // an empty record is not complete
    FillHeader(*s);
    for (const auto& [path, value] : start.answers) {
      if (!value.empty()) Fill(*s, {{path, value}});
    }
    ASSERT_TRUE(s->AddRepeat(start.repeat).has_value());
    if (std::string(start.form) == "housing") {
      ASSERT_TRUE(s->AddRepeat("components").has_value());
      ASSERT_TRUE(s->AddRepeat("components").has_value());
      Fill(*s, {{"components[1]/comp_type", "foundation"}, {"components[2]/comp_type", "bearing_wall"},
                {"components[3]/comp_type", "roof_floor"}});
    }
    std::vector<FinalizeProblem> left = AutoFill(*s);
    for (const FinalizeProblem& p : left) ADD_FAILURE() << p.path << ": " << p.message;
    EXPECT_TRUE(left.empty());
    EXPECT_FALSE(s->State("end")->value.empty());
  }
}

}  // namespace
}  // namespace tianye
