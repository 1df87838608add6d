// FormSession: skip logic, constraints, required, repeats, calculations, and
// the incremental engine agreeing with a full recompute.
#include "tianye/form_session.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

namespace tianye {

void PrintTo(const NodeState& s, std::ostream* os) {
  *os << "{" << s.path << " relevant=" << s.relevant << " required=" << s.required
      << " read_only=" << s.read_only << " value='" << s.value << "' error='" << s.error << "'}";
}

namespace {

class FixedClock final : public Clock {
 public:
  int64_t NowMillis() const override { return 1764460800000; }  // 2025-11-30 08:00 +08:00
};

class FormSessionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    FormLoadResult r = FormDef::LoadFile(std::string(TIANYE_TESTDATA) + "/session_form.json");
    for (const FormProblem& p : r.errors) ADD_FAILURE() << p.ToString();
    form_ = r.form;
  }
  std::unique_ptr<FormSession> Open(const std::string& values = "", const char* lang = "zh") {
    SessionOptions options;
    options.language = lang;
    options.clock = &clock_;
    options.device_id = "dev-7";
    auto s = FormSession::Open(form_, values, options);
    EXPECT_TRUE(s.has_value()) << s.error().ToString();
    return s ? std::move(s).value() : nullptr;
  }
  static const NodeState* Find(const std::vector<NodeState>& states, const std::string& path) {
    for (const NodeState& s : states) {
      if (s.path == path) return &s;
    }
    return nullptr;
  }
  static std::vector<std::string> Paths(const std::vector<NodeState>& states) {
    std::vector<std::string> out;
    for (const NodeState& s : states) out.push_back(s.path);
    std::sort(out.begin(), out.end());
    return out;
  }
  static inline std::shared_ptr<const FormDef> form_;
  FixedClock clock_;
};

TEST_F(FormSessionTest, NewRecordGetsMetadataAndDefaults) {
  auto s = Open();
  EXPECT_EQ(s->State("start")->value, "2025-11-30T08:00:00.000+08:00");
  EXPECT_EQ(s->State("today")->value, "2025-11-30");
  EXPECT_EQ(s->State("deviceid")->value, "dev-7");
  EXPECT_EQ(s->State("instanceID")->value.rfind("uuid:", 0), 0u);
  EXPECT_TRUE(s->State("instanceID")->read_only);
  EXPECT_EQ(s->State("hh_members")->value, "1");
  EXPECT_EQ(s->State("problem_count")->value, "0");
  EXPECT_EQ(s->State("end")->value, "");
}

TEST_F(FormSessionTest, SkipLogicHidesAndShowsGroups) {
  auto s = Open();
  EXPECT_FALSE(s->State("toilet_type")->relevant);  // has_toilet is not 'yes' yet
  ASSERT_TRUE(s->SetAnswer("has_toilet", "yes").has_value());
  EXPECT_TRUE(s->State("toilet_type")->relevant);
  auto changes = s->SetAnswer("has_toilet", "no");
  ASSERT_TRUE(changes.has_value()) << changes.error().ToString();
  EXPECT_FALSE(s->State("toilet")->relevant);
  EXPECT_FALSE(s->State("toilet_type")->relevant);
  EXPECT_FALSE(s->State("tank_volume")->relevant);
  ASSERT_NE(Find(*changes, "toilet_type"), nullptr);  // the group's child is reported too
  EXPECT_NE(Find(*changes, "qualified"), nullptr);
  EXPECT_EQ(s->State("qualified")->value, "0");

  changes = s->SetAnswer("has_toilet", "yes");
  EXPECT_TRUE(s->State("toilet_type")->relevant);
  EXPECT_FALSE(s->State("tank_volume")->relevant);  // its own relevance: no type yet
  EXPECT_EQ(s->State("qualified")->value, "1");
  changes = s->SetAnswer("toilet_type", "three_compartment");
  EXPECT_TRUE(s->State("tank_volume")->relevant);
  EXPECT_EQ(s->SetAnswer("has_toilet", "no").has_value(), true);
  EXPECT_FALSE(s->State("tank_volume")->relevant);
  EXPECT_EQ(s->SetAnswer("tank_volume", "2").error().code(), StatusCode::kFailedPrecondition);
}

TEST_F(FormSessionTest, ConstraintsAndTypesRunOnlyOnAnswers) {
  auto s = Open();
  ASSERT_TRUE(s->SetAnswer("has_toilet", "yes").has_value());
  ASSERT_TRUE(s->SetAnswer("toilet_type", "three_compartment").has_value());
  auto c = s->SetAnswer("tank_volume", "50");
  ASSERT_TRUE(c.has_value());
  ASSERT_NE(Find(*c, "tank_volume"), nullptr);
  EXPECT_EQ(Find(*c, "tank_volume")->error, "答案不符合要求");
  EXPECT_EQ(s->SetAnswer("tank_volume", "abc").has_value(), true);
  EXPECT_EQ(s->State("tank_volume")->error, "请输入数字");
  ASSERT_TRUE(s->SetAnswer("tank_volume", "1.5").has_value());
  EXPECT_EQ(s->State("tank_volume")->error, "");
  ASSERT_TRUE(s->SetAnswer("tank_volume", "").has_value());
  EXPECT_EQ(s->State("tank_volume")->error, "");  // empty: the constraint does not run
  ASSERT_TRUE(s->SetAnswer("hh_head_name", "张").has_value());
  EXPECT_EQ(s->State("hh_head_name")->error, "姓名至少两个字");
  ASSERT_TRUE(s->SetAnswer("hh_members", "2.5").has_value());
  EXPECT_EQ(s->State("hh_members")->error, "请输入整数");
  ASSERT_TRUE(s->SetAnswer("has_toilet", "maybe").has_value());
  EXPECT_EQ(s->State("has_toilet")->error, "不是可选的选项：maybe");
}

TEST_F(FormSessionTest, FinalizeReportsEveryProblemInTheLanguage) {
  auto s = Open("", "en");
  ASSERT_TRUE(s->SetAnswer("hh_members", "99").has_value());
  std::vector<FinalizeProblem> problems = s->Finalize();
  std::map<std::string, std::string> by_path;
  for (const auto& p : problems) by_path[p.path] = p.message;
  EXPECT_EQ(by_path["hh_head_name"], "Enter the head's name");
  EXPECT_EQ(by_path["town"], "This question is required");
  EXPECT_EQ(by_path["hh_members"], "This answer is not allowed");
  EXPECT_EQ(by_path.count("toilet_type"), 0u);  // not relevant: not required
  EXPECT_EQ(s->State("end")->value, "2025-11-30T08:00:00.000+08:00");

  ASSERT_TRUE(s->SetAnswer("town", "140622100").has_value());
  ASSERT_TRUE(s->SetAnswer("village", "140622100201").has_value());
  ASSERT_TRUE(s->SetAnswer("hh_head_name", "张德明").has_value());
  ASSERT_TRUE(s->SetAnswer("hh_members", "4").has_value());
  ASSERT_TRUE(s->SetAnswer("has_toilet", "no").has_value());
  EXPECT_TRUE(s->Finalize().empty());
  EXPECT_EQ(s->State("ur_class")->value, "220");
}

TEST_F(FormSessionTest, RepeatsAddRemoveMoveAndFeedCalculations) {
  auto s = Open();
  auto added = s->AddRepeat("problems");
  ASSERT_TRUE(added.has_value()) << added.error().ToString();
  ASSERT_NE(Find(*added, "problems[1]/cost"), nullptr);
  ASSERT_NE(Find(*added, "problem_count"), nullptr);
  EXPECT_EQ(s->State("problem_count")->value, "1");
  ASSERT_TRUE(s->AddRepeat("problems").has_value());
  ASSERT_TRUE(s->AddRepeat("problems").has_value());
  EXPECT_EQ(s->State("problems[3]/pos")->value, "3");
  ASSERT_TRUE(s->SetAnswer("problems[1]/cost", "100").has_value());
  ASSERT_TRUE(s->SetAnswer("problems[2]/cost", "250").has_value());
  auto c = s->SetAnswer("problems[3]/cost", "30");
  ASSERT_TRUE(c.has_value());
  EXPECT_NE(Find(*c, "total_cost"), nullptr);
  EXPECT_EQ(Find(*c, "problems[1]/cost"), nullptr);  // siblings untouched
  EXPECT_EQ(s->State("total_cost")->value, "380");
  EXPECT_EQ(s->State("first_cost")->value, "100");
  // Predicates: bare names are fields of each instance.
  EXPECT_EQ(s->State("n_big")->value, "1");
  EXPECT_EQ(s->State("second_cost")->value, "250");
  EXPECT_EQ(s->State("n_leak_big")->value, "0");
  ASSERT_TRUE(s->SetAnswer("problems[2]/problem_type", "leak").has_value());
  EXPECT_EQ(s->State("n_leak_big")->value, "1");
  ASSERT_TRUE(s->SetAnswer("problems[1]/problem_type", "leak").has_value());
  EXPECT_EQ(s->State("n_leak_big")->value, "1");  // 100 < 200
  // note_big reads its own instance's cost and a top-level answer.
  EXPECT_FALSE(s->State("problems[1]/note_big")->relevant);
  EXPECT_TRUE(s->State("problems[2]/note_big")->relevant);
  c = s->SetAnswer("hh_members", "3");
  ASSERT_TRUE(c.has_value());
  EXPECT_NE(Find(*c, "problems[2]/note_big"), nullptr);
  EXPECT_FALSE(s->State("problems[2]/note_big")->relevant);

  // Nested repeat.
  ASSERT_TRUE(s->AddRepeat("problems[2]/followups").has_value());
  ASSERT_TRUE(s->AddRepeat("problems[2]/followups").has_value());
  ASSERT_TRUE(s->SetAnswer("problems[2]/followups[2]/fix_date", "2026-01-05").has_value());
  EXPECT_EQ(s->State("problems[2]/fix_count")->value, "2");
  EXPECT_EQ(s->State("problems[1]/fix_count")->value, "0");
  EXPECT_EQ(s->State("n_followed")->value, "1");

  auto moved = s->MoveRepeat("problems[3]", 1);
  ASSERT_TRUE(moved.has_value()) << moved.error().ToString();
  EXPECT_EQ(s->State("problems[1]/cost")->value, "30");
  EXPECT_EQ(s->State("problems[1]/pos")->value, "1");
  EXPECT_EQ(s->State("first_cost")->value, "30");
  auto removed = s->RemoveRepeat("problems[1]");
  ASSERT_TRUE(removed.has_value()) << removed.error().ToString();
  EXPECT_EQ(*s->RepeatCount("problems"), 2);
  EXPECT_EQ(s->State("total_cost")->value, "350");
  EXPECT_EQ(s->State("problems[2]/fix_count")->value, "2");
  EXPECT_EQ(s->State("problems[2]/pos")->value, "2");
  EXPECT_EQ(s->RemoveRepeat("problems[5]").error().code(), StatusCode::kNotFound);
}

TEST_F(FormSessionTest, OnlyDependentsAreReported) {
  auto s = Open();
  auto c = s->SetAnswer("hh_head_name", "张德明");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(Paths(*c), std::vector<std::string>{"hh_head_name"});
  EXPECT_EQ(s->SetAnswer("total_cost", "5").error().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->SetAnswer("start", "x").error().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->SetAnswer("nope", "x").error().code(), StatusCode::kNotFound);
  EXPECT_EQ(s->SetAnswer("problems[1]/cost", "1").error().code(), StatusCode::kNotFound);
  EXPECT_EQ(s->SetAnswer("cost", "1").error().code(), StatusCode::kNotFound);
  EXPECT_EQ(s->SetAnswer("problems[x]/cost", "1").error().code(), StatusCode::kNotFound);
}

TEST_F(FormSessionTest, ChoiceFilterCascades) {
  auto s = Open();
  auto all = s->Choices("village");
  ASSERT_TRUE(all.has_value()) << all.error().ToString();
  EXPECT_TRUE(all->empty());  // no town chosen yet
  ASSERT_TRUE(s->SetAnswer("town", "140622100").has_value());
  auto villages = s->Choices("village");
  ASSERT_EQ(villages->size(), 2u);
  EXPECT_EQ((*villages)[0].name, "140622100201");
  EXPECT_EQ((*villages)[0].label, "东南角村委会");
  auto yes_no = s->Choices("has_toilet");
  ASSERT_EQ(yes_no->size(), 2u);
  EXPECT_EQ((*yes_no)[0].label, "是");
}

TEST_F(FormSessionTest, ValuesRoundTripKeepUnknownAndDropHidden) {
  auto s = Open(R"({"hh_head_name": "刘桂兰", "old_field": {"kept": true}, "has_toilet": "no",
                   "toilet_type": "dry_pit",
                   "problems": [{"_id": "p-1", "cost": 12, "mystery": 1}]})");
  EXPECT_EQ(s->State("problems[1]/cost")->value, "12");
  EXPECT_FALSE(s->State("toilet_type")->relevant);
  auto all = nlohmann::json::parse(s->ValuesJson(false));
  EXPECT_EQ(all["toilet_type"], "dry_pit");  // kept while filling in
  EXPECT_EQ(all["old_field"]["kept"], true);
  EXPECT_EQ(all["problems"][0]["_id"], "p-1");
  EXPECT_EQ(all["problems"][0]["mystery"], 1);
  auto final_values = nlohmann::json::parse(s->ValuesJson(true));
  EXPECT_FALSE(final_values.contains("toilet_type"));  // not relevant: left out
  EXPECT_EQ(final_values["hh_head_name"], "刘桂兰");
  EXPECT_EQ(final_values["problem_count"], "1");
  EXPECT_FALSE(FormSession::Open(form_, "[1]", {}).has_value());
}

TEST_F(FormSessionTest, RangeRankAndOrOther) {
  FormLoadResult r = FormDef::Parse(R"json({"settings": {"form_id": "t", "version": "1"},
    "survey": [{"type": "range", "name": "score", "parameters": "start=0 end=5"},
               {"type": "rank c", "name": "order"},
               {"type": "select_one c or_other", "name": "pick"}],
    "choices": [{"list_name": "c", "name": "a"}, {"list_name": "c", "name": "b"}]})json", {});
  ASSERT_TRUE(r.form);
  auto s = FormSession::Open(r.form, "", {});
  ASSERT_TRUE(s.has_value());
  ASSERT_TRUE((*s)->SetAnswer("score", "4.5").has_value());
  EXPECT_EQ((*s)->State("score")->error, "");
  ASSERT_TRUE((*s)->SetAnswer("score", "6").has_value());
  EXPECT_EQ((*s)->State("score")->error, "请输入数字");
  ASSERT_TRUE((*s)->SetAnswer("order", "b a").has_value());
  EXPECT_EQ((*s)->State("order")->error, "");
  ASSERT_TRUE((*s)->SetAnswer("order", "b z").has_value());
  EXPECT_EQ((*s)->State("order")->error, "不是可选的选项：z");
  ASSERT_TRUE((*s)->SetAnswer("pick", "other").has_value());
  EXPECT_EQ((*s)->State("pick")->error, "");
}

TEST_F(FormSessionTest, LanguageSwitchChangesMessages) {
  auto s = Open();
  ASSERT_TRUE(s->SetAnswer("hh_head_name", "张").has_value());
  EXPECT_EQ(s->State("hh_head_name")->error, "姓名至少两个字");
  auto changed = s->SetLanguage("en");
  EXPECT_NE(Find(changed, "hh_head_name"), nullptr);
  EXPECT_EQ(s->State("hh_head_name")->error, "At least two characters");
}

// Random edits; after each, the incrementally maintained states must equal
// those of a fresh session computed from scratch on the same answers.
TEST_F(FormSessionTest, IncrementalAgreesWithFullRecompute) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  auto s = Open();
  const std::vector<std::pair<std::string, std::vector<std::string>>> answers = {
      {"has_toilet", {"yes", "no", ""}},
      {"toilet_type", {"three_compartment", "dry_pit", ""}},
      {"tank_volume", {"1.5", "30", "x", ""}},
      {"hh_members", {"1", "3", "40", ""}},
      {"town", {"140622100", "140623100"}},
      {"hh_head_name", {"张德明", "张"}},
  };
  for (int step = 0; step < 300; ++step) {
    int what = std::uniform_int_distribution<int>(0, 9)(rng);
    int problems = *s->RepeatCount("problems");
    if (what == 0 && problems < 5) {
      ASSERT_TRUE(s->AddRepeat("problems").has_value());
    } else if (what == 1 && problems > 0) {
      int k = std::uniform_int_distribution<int>(1, problems)(rng);
      ASSERT_TRUE(s->RemoveRepeat("problems[" + std::to_string(k) + "]").has_value());
    } else if (what == 2 && problems > 1) {
      ASSERT_TRUE(s->MoveRepeat("problems[" + std::to_string(problems) + "]", 1).has_value());
    } else if (what == 3 && problems > 0) {
      int k = std::uniform_int_distribution<int>(1, problems)(rng);
      std::string base = "problems[" + std::to_string(k) + "]/";
      int sub = std::uniform_int_distribution<int>(0, 2)(rng);
      if (sub == 0) {
        ASSERT_TRUE(s->AddRepeat(base + "followups").has_value());
      } else {
        auto r = s->SetAnswer(base + "cost", std::to_string(std::uniform_int_distribution<int>(0, 900)(rng)));
        ASSERT_TRUE(r.has_value()) << r.error().ToString();
      }
    } else {
      const auto& [path, values] = answers[std::uniform_int_distribution<size_t>(0, answers.size() - 1)(rng)];
      const std::string& v = values[std::uniform_int_distribution<size_t>(0, values.size() - 1)(rng)];
      auto r = s->SetAnswer(path, v);
      if (!r) {
        ASSERT_EQ(r.error().code(), StatusCode::kFailedPrecondition) << r.error().ToString();
      }
    }
    auto fresh = Open(s->ValuesJson(false));
    std::vector<NodeState> a = s->States(), b = fresh->States();
    ASSERT_EQ(a.size(), b.size()) << "after step " << step;
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(a[i], b[i]) << "after step " << step << " (incremental vs recomputed)";
    }
  }
}

}  // namespace
}  // namespace tianye
