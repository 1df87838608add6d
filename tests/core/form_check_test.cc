// The server's check of synced records against their forms: edits from two
// devices that each passed can fail a cross-field constraint once merged;
// the check finds it in the background pass, the queue filters on it, and a
// fix from a device clears it at the next pass.
#include "tianye/form_check.h"

#include <gtest/gtest.h>

#include "sync_testing.h"
#include "tianye/review.h"

namespace tianye {
namespace {

// A rectification deadline may not fall before the survey date; a required
// name; a bounded number.
constexpr char kCheckedForm[] = R"({"settings": {"form_id": "c", "version": "1"},
  "survey": [{"type": "date", "name": "survey_date", "required": "yes"},
             {"type": "text", "name": "name", "required": "yes"},
             {"type": "integer", "name": "members", "constraint": ". >= 1 and . <= 30"},
             {"type": "date", "name": "deadline", "constraint": ". >= ${survey_date}",
              "constraint_message::zh": "整改时限不能早于调查日期",
              "constraint_message::en": "The deadline cannot be before the survey date"}]})";

// Every test runs against both of the server's stores.
class FormCheckTest : public ::testing::TestWithParam<testing::ServerStore> {
 protected:
  void SetUp() override {
    auto installed = forms_.Install(kCheckedForm, {});
    ASSERT_TRUE(installed.has_value()) << installed.error().ToString();
  }

  std::string NewRecord(int device, const std::string& values_json, RecordStatus status = RecordStatus::kFinalized,
                        const std::string& version = "1") {
    tianye::NewRecord nr;
    nr.form_id = "c";
    nr.form_version = version;
    nr.author = world_.device(device).who.username;
    nr.status = status;
    nr.values_json = values_json;
    auto r = world_.device(device).records->Create(nr);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? r->id : "";
  }

  RecordRow Row(const std::string& id) {
    auto d = review_.Get(everyone_, id);
    EXPECT_TRUE(d.has_value()) << d.error().ToString();
    return d ? d->row : RecordRow{};
  }

  RecordList WithProblems() {
    RecordQuery q;
    q.problems_only = true;
    auto list = review_.List(everyone_, q);
    EXPECT_TRUE(list.has_value()) << list.error().ToString();
    return list ? *list : RecordList{};
  }

  // Checks everything waiting; how many records that was.
  int CheckAll() {
    auto n = checker_.CheckChanged(1000);
    EXPECT_TRUE(n.has_value()) << n.error().ToString();
    return n ? *n : -1;
  }

  testing::SyncWorld world_{2, {}, GetParam()};
  FormStore forms_{&world_.server()};
  RecordChecker checker_{&world_.server(), &forms_};
  ReviewQueries review_{&world_.server()};
  Principal everyone_{"zhao", "supervisor", "web", {"*"}};
};
INSTANTIATE_TEST_SUITE_P(Stores, FormCheckTest,
                         testing::BothServerStores(),
                         testing::ServerStoreName);

TEST_P(FormCheckTest, EditsThatPassedOnTwoDevicesButFailTogetherAreFoundAndListed) {
  const std::string id =
      NewRecord(0, R"({"survey_date": "2026-09-01", "name": "张三", "members": "4", "deadline": "2026-09-10"})");
  ASSERT_TRUE(world_.SyncAll().ok());
  EXPECT_EQ(CheckAll(), 1);
  EXPECT_TRUE(Row(id).checked);
  EXPECT_EQ(Row(id).form_problems, 0);
  EXPECT_EQ(WithProblems().total, 0);

  // Offline, one inspector corrects the survey date, the other moves the
  // deadline: each passes on its own device, not together.
  world_.Set(0, id, "survey_date", "2026-09-15");
  world_.Set(1, id, "deadline", "2026-09-12");
  ASSERT_TRUE(world_.SyncAll().ok());
  EXPECT_EQ(world_.ServerFields(id).at("survey_date"), "2026-09-15");
  EXPECT_EQ(world_.ServerFields(id).at("deadline"), "2026-09-12");

  // Until the next pass the record reads as not checked, and the filter says
  // how many wait.
  EXPECT_FALSE(Row(id).checked);
  EXPECT_EQ(*checker_.Waiting(), 1);
  EXPECT_EQ(WithProblems().unchecked, 1);
  EXPECT_EQ(CheckAll(), 1);
  EXPECT_EQ(*checker_.Waiting(), 0);
  EXPECT_EQ(CheckAll(), 0);  // nothing changed since
  RecordRow row = Row(id);
  EXPECT_TRUE(row.checked);
  EXPECT_EQ(row.form_problems, 1);
  RecordList listed = WithProblems();
  ASSERT_EQ(listed.total, 1);
  EXPECT_EQ(listed.rows[0].record_id, id);
  EXPECT_EQ(listed.unchecked, 0);

  // What the record page shows, in either language.
  Record record;
  ApplyFields(world_.ServerFields(id), &record);
  auto form = forms_.Load("c", "1");
  ASSERT_TRUE(form.has_value());
  auto zh = CheckAnswers(*form, record, "zh", &world_.clock());
  ASSERT_EQ(zh.size(), 1u);
  EXPECT_EQ(zh[0].path, "deadline");
  EXPECT_EQ(zh[0].message, "整改时限不能早于调查日期");
  EXPECT_FALSE(zh[0].missing);
  EXPECT_EQ(CheckAnswers(*form, record, "en", &world_.clock())[0].message,
            "The deadline cannot be before the survey date");

  // The inspector's fix clears it at the next pass.
  world_.Set(1, id, "deadline", "2026-09-20");
  ASSERT_TRUE(world_.SyncAll().ok());
  EXPECT_EQ(CheckAll(), 1);
  EXPECT_EQ(Row(id).form_problems, 0);
  EXPECT_EQ(WithProblems().total, 0);
}

// Devices sync finalized records only, but the rule is the one a record
// page applies to any record: a draft may still lack answers.
TEST_P(FormCheckTest, ADraftMayLackAnswersButNotBreakConstraints) {
  auto form = forms_.Load("c", "1");
  ASSERT_TRUE(form.has_value());
  auto check = [&](RecordStatus status, const std::string& values) {
    Record record;
    record.status = status;
    record.values_json = values;
    return CheckAnswers(*form, record, "en", &world_.clock());
  };
  EXPECT_TRUE(check(RecordStatus::kDraft, R"({"survey_date": "2026-09-01"})").empty());
  auto broken = check(RecordStatus::kDraft, R"({"survey_date": "2026-09-01", "members": "40"})");
  ASSERT_EQ(broken.size(), 1u);
  EXPECT_EQ(broken[0].path, "members");
  auto lacking = check(RecordStatus::kFinalized, R"({"survey_date": "2026-09-01"})");
  ASSERT_EQ(lacking.size(), 1u);
  EXPECT_EQ(lacking[0].path, "name");
  EXPECT_TRUE(lacking[0].missing);
  // A finalized record on the server lacking an answer counts too.
  const std::string id = NewRecord(0, R"({"survey_date": "2026-09-01"})");
  ASSERT_TRUE(world_.SyncAll().ok());
  EXPECT_EQ(CheckAll(), 1);
  EXPECT_EQ(Row(id).form_problems, 1);
}

TEST_P(FormCheckTest, ChecksAFewAtATimeOldestChangeFirst) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(NewRecord(0, R"({"survey_date": "2026-09-01", "name": "张三", "members": "0"})"));
  }
  ASSERT_TRUE(world_.SyncAll().ok());
  auto first = checker_.CheckChanged(2);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, 2);
  EXPECT_EQ(*checker_.Waiting(), 3);
  EXPECT_TRUE(Row(ids[0]).checked);
  EXPECT_TRUE(Row(ids[1]).checked);
  EXPECT_FALSE(Row(ids[2]).checked);
  RecordList partial = WithProblems();
  EXPECT_EQ(partial.total, 2);
  EXPECT_EQ(partial.unchecked, 3);
  EXPECT_EQ(CheckAll(), 3);
  EXPECT_EQ(WithProblems().total, 5);
}

TEST_P(FormCheckTest, ADeletedRecordHasNoProblems) {
  const std::string id = NewRecord(0, R"({"survey_date": "2026-09-01", "members": "99"})");
  ASSERT_TRUE(world_.SyncAll().ok());
  EXPECT_EQ(CheckAll(), 1);
  EXPECT_EQ(Row(id).form_problems, 2);  // no name, too many members
  ASSERT_TRUE(world_.device(0).records->Delete(id).ok());
  ASSERT_TRUE(world_.SyncAll().ok());
  EXPECT_EQ(CheckAll(), 1);
  EXPECT_EQ(Row(id).form_problems, 0);
  EXPECT_EQ(WithProblems().total, 0);
}

// The server checks without its store's lock (CheckBatch::Check): a push
// may change a record between reading it (Take) and keeping its count
// (Keep). That count is of the older answers: the record keeps waiting,
// and the dashboard does not take the count.
TEST_P(FormCheckTest, ARecordChangedWhileBeingCheckedWaitsForTheNextCheck) {
  const std::string id = NewRecord(0, R"({"survey_date": "2026-09-01", "name": "张三", "members": "40"})");
  ASSERT_TRUE(world_.SyncAll().ok());
  auto batch = checker_.Take(10);
  ASSERT_TRUE(batch.has_value()) << batch.error().ToString();
  ASSERT_EQ(batch->size(), 1u);
  batch->Check(&world_.clock());
  world_.Set(0, id, "members", "4");  // the fix arrives meanwhile
  ASSERT_TRUE(world_.SyncAll().ok());
  ASSERT_TRUE(checker_.Keep(*batch).ok());
  EXPECT_EQ(*checker_.Waiting(), 1);
  EXPECT_FALSE(Row(id).checked);
  const std::string facts = "SELECT form_problems FROM server_facts WHERE record_id = '" + id + "'";
  auto on_dashboard = internal::StoreAccess::Conn(world_.server()).QueryInt(facts.c_str());
  ASSERT_TRUE(on_dashboard.has_value()) << on_dashboard.error().ToString();
  EXPECT_EQ(*on_dashboard, 0);
  EXPECT_EQ(CheckAll(), 1);
  EXPECT_TRUE(Row(id).checked);
  EXPECT_EQ(Row(id).form_problems, 0);
  EXPECT_EQ(WithProblems().total, 0);
}

// The server checks a record as the device finalized it: `end` is the
// device's, not the moment of the check (Finalize would set it to now).
TEST(CheckAnswersTest, ReadsTheRecordAsStoredEndIncluded) {
  FormLoadResult r = FormDef::Parse(R"json({"settings": {"form_id": "e", "version": "1"},
    "survey": [{"type": "end", "name": "end"},
               {"type": "integer", "name": "n", "constraint": "substr(${end}, 5, 7) = '05'",
                "constraint_message": "finished in May"}]})json", {});
  ASSERT_TRUE(r.form) << (r.errors.empty() ? "" : r.errors[0].message);
  testing::ManualClock clock;  // September 2026
  Record record;
  record.status = RecordStatus::kFinalized;
  record.values_json = R"({"end": "2026-05-20T10:00:00.000+08:00", "n": "1"})";
  EXPECT_TRUE(CheckAnswers(r.form, record, "zh", &clock).empty());
  record.values_json = R"({"end": "2026-04-20T10:00:00.000+08:00", "n": "1"})";
  std::vector<FinalizeProblem> found = CheckAnswers(r.form, record, "zh", &clock);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].path, "n");
  // Finalizing the same answers now stamps `end` with September.
  SessionOptions options;
  options.clock = &clock;
  auto session = FormSession::Open(r.form, R"({"end": "2026-05-20T10:00:00.000+08:00", "n": "1"})", options);
  ASSERT_TRUE(session.has_value());
  EXPECT_TRUE((*session)->Problems().empty());
  EXPECT_EQ((*session)->Finalize().size(), 1u);
}

}  // namespace
}  // namespace tianye
