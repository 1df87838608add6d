// The `tianye` command line, driven as a separate process.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>
#include <set>

#include "test_util.h"
#include "tianye/form_check.h"
#include "tianye/form_store.h"
#include "tianye/record.h"
#include "tianye/store.h"

namespace tianye {
namespace {

using testing::ProcessResult;
using testing::TempDir;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = dir_.File("field.db");
    pass_ = dir_.File("pass");
    testing::WriteBytes(pass_, "应县 inspector 口令\n");
  }
  ProcessResult Tianye(std::vector<std::string> args, std::map<std::string, std::string> env = {},
                       const std::string& input = "") {
    args.insert(args.begin(), TIANYE_CLI);
    env.emplace("XDG_DATA_HOME", dir_.File("xdg"));
    return testing::Run(args, env, input);
  }
  ProcessResult WithStore(std::vector<std::string> args) {
    args.insert(args.end(), {"--store", store_, "--passphrase-file", pass_});
    return Tianye(args);
  }
  ProcessResult InstallForms() {
    const std::string forms = TIANYE_FORMS_DIR;
    return WithStore({"forms", "install", forms + "/germplasm.json", forms + "/toilet.json", forms + "/housing.json"});
  }
  TempDir dir_;
  std::string store_, pass_;
};

TEST_F(CliTest, VersionNamesSqlcipherFourAndSqlite) {
  auto r = Tianye({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("tianye ", 0), 0u);
  EXPECT_NE(r.out.find("SQLCipher 4."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("SQLite 3."), std::string::npos) << r.out;
}

TEST_F(CliTest, InitDemoListShow) {
  auto init = WithStore({"init"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_NE(init.out.find("Created encrypted store"), std::string::npos);

  ASSERT_EQ(InstallForms().exit_code, 0);
  auto demo = WithStore({"demo", "--count", "6"});
  ASSERT_EQ(demo.exit_code, 0) << demo.err;
  EXPECT_NE(demo.out.find("Wrote 6 records"), std::string::npos) << demo.out;

  auto list = WithStore({"list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  auto records = nlohmann::json::parse(list.out);
  ASSERT_EQ(records.size(), 6u);
  auto toilets = nlohmann::json::parse(WithStore({"list", "--json", "--form", "toilet"}).out);
  EXPECT_EQ(toilets.size(), 2u);

  std::string id = records[0]["id"];
  auto show = WithStore({"show", id});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  auto record = nlohmann::json::parse(show.out);
  EXPECT_EQ(record["id"], id);
  EXPECT_EQ(record["values"]["sample"][0]["local_name"], "平鲁红山荞麦");
  // One photo, held by each photo question the record answered.
  ASSERT_GE(record["attachments"].size(), 1u);
  for (const auto& a : record["attachments"]) {
    EXPECT_EQ(a["mime"], "image/bmp");
    EXPECT_EQ(a["sha256"], record["attachments"][0]["sha256"]);
  }

  // The file on disk carries none of it in the clear.
  std::string bytes = testing::ReadBytes(store_);
  EXPECT_EQ(bytes.find("平鲁红山荞麦"), std::string::npos);
  EXPECT_EQ(bytes.find("SQLite format 3"), std::string::npos);
}

// The demo answers its records through the forms' sessions: every
// finalized record has each answer its form requires and passes every
// check, as the server's own check (form_check.h) reads it; drafts break no
// constraint. Without the forms the demo says what to install.
TEST_F(CliTest, DemoRecordsPassTheirFormsChecks) {
  ASSERT_EQ(WithStore({"init"}).exit_code, 0);
  auto without = WithStore({"demo"});
  EXPECT_NE(without.exit_code, 0);
  EXPECT_NE(without.err.find("tianye forms install"), std::string::npos) << without.err;
  ASSERT_EQ(InstallForms().exit_code, 0);
  auto demo = WithStore({"demo", "--count", "120"});
  ASSERT_EQ(demo.exit_code, 0) << demo.err;

  StoreOptions so;
  so.path = store_;
  auto store = Store::Open(so, "应县 inspector 口令");
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  FormStore forms(store->get());
  auto records = RecordStore(store->get()).List({});
  ASSERT_TRUE(records.has_value());
  ASSERT_EQ(records->size(), 120u);
  std::map<std::string, int> finalized;
  std::set<std::string> grades, problem_states;
  for (const Record& r : *records) {
    auto form = forms.Load(r.form_id, r.form_version);
    ASSERT_TRUE(form.has_value()) << form.error().ToString();
    for (const FinalizeProblem& p : CheckAnswers(*form, r, "en", nullptr)) {
      ADD_FAILURE() << r.form_id << " " << RecordStatusName(r.status) << " " << p.path << ": " << p.message;
    }
    if (r.status != RecordStatus::kFinalized) continue;
    ++finalized[r.form_id];
    auto values = nlohmann::json::parse(r.values_json);
    EXPECT_FALSE(values.value("end", "").empty()) << r.values_json;
    if (r.form_id == "housing") grades.insert(values.value("grade_final", ""));
    if (r.form_id == "toilet" && values.contains("problems")) problem_states.insert(values["problems"][0]["prob_status"]);
  }
  EXPECT_EQ(finalized, (std::map<std::string, int>{{"germplasm", 10}, {"housing", 10}, {"toilet", 10}}));
  // Enough variety for the dashboard: every grade, open and fixed problems.
  EXPECT_EQ(grades, (std::set<std::string>{"A", "B", "C", "D"}));
  EXPECT_EQ(problem_states, (std::set<std::string>{"fixed", "pending"}));
}

TEST_F(CliTest, PassphraseFromEnvironment) {
  auto init = Tianye({"init", "--store", store_}, {{"TIANYE_PASSPHRASE", "env secret"}});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  auto list = Tianye({"list", "--store", store_}, {{"TIANYE_PASSPHRASE", "env secret"}});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("0 record(s)"), std::string::npos);
}

TEST_F(CliTest, DefaultStoreLivesUnderXdgDataHome) {
  auto init = Tianye({"init"}, {{"TIANYE_PASSPHRASE", "x"}});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_TRUE(testing::Exists(dir_.File("xdg/tianye/store.db")));
}

TEST_F(CliTest, WrongPassphraseExitsThreeAndSaysSo) {
  ASSERT_EQ(WithStore({"init"}).exit_code, 0);
  auto r = Tianye({"list", "--store", store_}, {{"TIANYE_PASSPHRASE", "not it"}});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("wrong passphrase"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("hmac"), std::string::npos) << "library noise leaked: " << r.err;
}

TEST_F(CliTest, MissingPassphraseIsExplained) {
  ASSERT_EQ(WithStore({"init"}).exit_code, 0);
  auto r = Tianye({"list", "--store", store_});  // stdin is not a terminal
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("TIANYE_PASSPHRASE"), std::string::npos) << r.err;
}

TEST_F(CliTest, MissingStoreExitsFourAndPointsToInit) {
  auto r = WithStore({"list"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("tianye init"), std::string::npos) << r.err;
  EXPECT_FALSE(testing::Exists(store_));
}

TEST_F(CliTest, InitRefusesToOverwrite) {
  ASSERT_EQ(WithStore({"init"}).exit_code, 0);
  std::string before = testing::ReadBytes(store_);
  auto r = WithStore({"init"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("already exists"), std::string::npos);
  EXPECT_EQ(testing::ReadBytes(store_), before);
}

TEST_F(CliTest, PasswdChangesThePassphrase) {
  ASSERT_EQ(WithStore({"init"}).exit_code, 0);
  ASSERT_EQ(InstallForms().exit_code, 0);
  ASSERT_EQ(WithStore({"demo", "--count", "2"}).exit_code, 0);
  std::string fresh = dir_.File("new-pass");
  testing::WriteBytes(fresh, "新口令\n");
  auto r = WithStore({"passwd", "--new-passphrase-file", fresh});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(WithStore({"list"}).exit_code, 3);
  auto list = Tianye({"list", "--store", store_, "--passphrase-file", fresh});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("2 record(s)"), std::string::npos);
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Tianye({}).exit_code, 2);
  EXPECT_EQ(Tianye({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(WithStore({"list", "--status", "lost"}).exit_code, 2);
  EXPECT_EQ(WithStore({"list", "--no-such-option"}).exit_code, 2);
  EXPECT_EQ(WithStore({"show"}).exit_code, 2);
  auto help = Tianye({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("Exit codes"), std::string::npos);
  EXPECT_EQ(Tianye({"list", "--help"}).exit_code, 0);
}

TEST_F(CliTest, ShowUnknownRecordFails) {
  ASSERT_EQ(WithStore({"init"}).exit_code, 0);
  auto r = WithStore({"show", "01a22b60-71d1-73c5-a418-d451b9cb8e05"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no record"), std::string::npos);
}

}  // namespace
}  // namespace tianye

namespace tianye {
namespace {

const std::string kSessionForm = std::string(TIANYE_TESTDATA) + "/session_form.json";

TEST(FormCliTest, CheckPrintsOkOrEveryProblem) {
  testing::TempDir dir;
  auto ok = testing::Run({TIANYE_CLI, "form", "check", kSessionForm});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("OK: session_test version 1"), std::string::npos) << ok.out;

  std::string bad = dir.File("bad.json");
  testing::WriteBytes(bad, R"({"settings": {"form_id": "b", "version": "1"},
    "survey": [{"type": "txet", "name": "a"}, {"type": "integer", "name": "b", "relevant": "${zz} = 1"}]})");
  auto r = testing::Run({TIANYE_CLI, "form", "check", bad});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("survey row 2 (a), type: unknown type 'txet'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("survey row 3 (b), relevant: refers to ${zz}"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 error(s)"), std::string::npos) << r.out;
}

TEST(FormCliTest, EvalPrintsOneValue) {
  testing::TempDir dir;
  auto bare = testing::Run({TIANYE_CLI, "form", "eval", kSessionForm, "format-date('2026-11-30', '%Y年%n月')"});
  EXPECT_EQ(bare.exit_code, 0) << bare.err;
  EXPECT_EQ(bare.out, "2026年11月\n");
  std::string rec = dir.File("rec.json");
  testing::WriteBytes(rec, R"({"values": {"town": "140622100", "problems": [{"cost": 5}, {"cost": 300}]}})");
  auto sum = testing::Run({TIANYE_CLI, "form", "eval", kSessionForm, "count(${problems}[cost > 100])",
                           "--record", rec});
  EXPECT_EQ(sum.out, "1\n") << sum.err;
  auto label = testing::Run({TIANYE_CLI, "form", "eval", kSessionForm,
                             "jr:choice-name(${town}, '${town}')", "--record", rec});
  EXPECT_EQ(label.out, "金城镇\n") << label.err;
  auto broken = testing::Run({TIANYE_CLI, "form", "eval", kSessionForm, "if(1, 2)"});
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_NE(broken.err.find("if() takes 3 argument(s)"), std::string::npos) << broken.err;
  auto show = testing::Run({TIANYE_CLI, "form", "show", kSessionForm, "--lang", "en"});
  EXPECT_EQ(show.exit_code, 0);
  EXPECT_NE(show.out.find("* hh_head_name  text  Household head"), std::string::npos) << show.out;
}

}  // namespace
}  // namespace tianye

namespace tianye {
namespace {

class RecordCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = dir_.File("field.db");
    pass_ = dir_.File("pass");
    testing::WriteBytes(pass_, "口令\n");
    ASSERT_EQ(Run({"init"}).exit_code, 0);
    auto r = Run({"forms", "install", std::string(TIANYE_FORMS_DIR) + "/toilet.json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  testing::ProcessResult Run(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), TIANYE_CLI);
    args.insert(args.end(), {"--store", store_, "--passphrase-file", pass_});
    return testing::Run(args, {}, input);
  }
  std::string OnlyRecordId() {
    auto list = nlohmann::json::parse(Run({"list", "--json"}).out);
    return list.size() == 1 ? list[0]["id"].get<std::string>() : "";
  }
  testing::TempDir dir_;
  std::string store_, pass_;
};

TEST_F(RecordCliTest, NewAsksReasksAndKeepsTheDraft) {
  // survey date, a name that breaks the 2..20 characters rule, then a good one,
  // the unit (choice 1), then input ends: the draft keeps what was answered.
  auto r = Run({"new", "toilet"}, "2026-11-28\n李\n李秀英\n1\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("! "), std::string::npos) << r.out;  // the constraint message, then asked again
  EXPECT_NE(r.out.find("草稿已保存"), std::string::npos) << r.out;
  std::string id = OnlyRecordId();
  ASSERT_FALSE(id.empty());
  auto shown = nlohmann::json::parse(Run({"show", id}).out);
  EXPECT_EQ(shown["status"], "draft");
  EXPECT_EQ(shown["values"]["enum_name"], "李秀英");
  EXPECT_EQ(shown["values"]["enum_unit"], "county_agri");
  EXPECT_EQ(shown["values"]["survey_date"], "2026-11-28");
  // Finalizing lists what is missing and keeps the draft.
  auto fin = Run({"finalize", id});
  EXPECT_EQ(fin.exit_code, 1);
  EXPECT_NE(fin.out.find("county: 此题必答"), std::string::npos) << fin.out;
  EXPECT_EQ(nlohmann::json::parse(Run({"show", id}).out)["status"], "draft");
}

TEST_F(RecordCliTest, DeleteRestoreAttachAndExport) {
  ASSERT_EQ(Run({"new", "toilet", "--lang", "en"}, "2026-11-28\n张德明\n").exit_code, 0);
  std::string id = OnlyRecordId();
  // A photo as a question's answer, stored in the store.
  std::string photo = dir_.File("厕屋.jpg");
  testing::WriteBytes(photo, std::string(300000, '\xd8'));
  auto att = Run({"attach", id, "hh_sign", photo});
  EXPECT_EQ(att.exit_code, 0) << att.err;
  auto shown = nlohmann::json::parse(Run({"show", id}).out);
  ASSERT_EQ(shown["attachments"].size(), 1u);
  EXPECT_EQ(shown["attachments"][0]["field"], "hh_sign");
  EXPECT_EQ(shown["attachments"][0]["size"], 300000);
  EXPECT_EQ(Run({"attach", id, "enum_name", photo}).exit_code, 1);   // not a photo question
  EXPECT_EQ(Run({"attach", id, "photo_room", photo}).exit_code, 1);  // not shown: no toilet yet
  EXPECT_EQ(nlohmann::json::parse(Run({"show", id}).out)["attachments"].size(), 1u);
  // CSV with a BOM for Excel, and GeoJSON.
  auto csv = Run({"export", "--format", "csv"});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_EQ(csv.out.rfind("\xEF\xBB\xBF" "id,form_id", 0), 0u);
  EXPECT_NE(csv.out.find("张德明"), std::string::npos);
  EXPECT_NE(csv.out.find(id), std::string::npos);
  auto geo = Run({"export", "--format", "geojson"});
  EXPECT_EQ(nlohmann::json::parse(geo.out)["type"], "FeatureCollection");
  EXPECT_EQ(Run({"export", "--format", "xml"}).exit_code, 2);
  // Soft delete and restore.
  ASSERT_EQ(Run({"delete", id}).exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(Run({"list", "--json"}).out).size(), 0u);
  EXPECT_EQ(nlohmann::json::parse(Run({"list", "--json", "--deleted"}).out).size(), 1u);
  ASSERT_EQ(Run({"delete", id, "--restore"}).exit_code, 0);
  EXPECT_EQ(OnlyRecordId(), id);
}

}  // namespace
}  // namespace tianye
