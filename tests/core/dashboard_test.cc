// The dashboard's figures over a real ledger with records of the shipped
// forms: per-area sums, the C/D alert list, scope, and what is left out.
#include "tianye/dashboard.h"

#include <gtest/gtest.h>

#include "sync_testing.h"
#include "tianye/form_store.h"

namespace tianye {
namespace {

const AreaCodes kYing{"140622000000", "140622100000", "140622100201"};
const AreaCodes kYouyu{"140623000000", "140623100000", "140623100201"};

class DashboardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FormStore forms(&world_.server());
    for (const char* f : {"toilet", "housing", "germplasm"}) {
      auto installed = forms.InstallFile(std::string(TIANYE_FORMS_DIR) + "/" + f + ".json");
      ASSERT_TRUE(installed.has_value()) << installed.error().ToString();
    }
  }

  std::string Add(const std::string& form, const AreaCodes& area, const nlohmann::json& values,
                  const std::string& author = "inspector0") {
    NewRecord nr;
    nr.form_id = form;
    nr.form_version = "2026.1";
    nr.author = author;
    nr.status = RecordStatus::kFinalized;
    nr.area = area;
    nr.values_json = values.dump();
    auto r = world_.device(0).records->Create(nr);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? r->id : "";
  }

  testing::SyncWorld world_{1};
  Principal city_{"zhao", "supervisor", "web", {"140600000000"}};
};

TEST_F(DashboardTest, SumsTheIndicatorsPerCountyAndListsLowIncomeHouseholdsInUnsafeHouses) {
  using nlohmann::json;
  Add("toilet", kYing, {{"in_scope", "1"}, {"is_sanitary", "1"}, {"n_overdue", "2"},
                        {"problems", json::array({{{"_id", "p1"}, {"prob_status", "fixed"}},
                                                  {{"_id", "p2"}, {"prob_status", "pending"}}})}});
  Add("toilet", kYing, {{"in_scope", "1"}, {"is_sanitary", "0"}, {"problem_found", "1"}});
  Add("toilet", kYouyu, {{"in_scope", "1"}, {"is_sanitary", "1"}, {"gps_in_area", "0"}});
  std::string gone = Add("toilet", kYouyu, {{"in_scope", "1"}, {"is_sanitary", "1"}});
  std::string red = Add("housing", kYing, {{"grade_final", "D"}, {"category", "dibao"}, {"temp_housing", "stays"},
                                          {"secured", "0"}});
  std::string amber = Add("housing", kYing, {{"grade_final", "C"}, {"category", "tekun"}, {"secured", "1"}});
  Add("housing", kYouyu, {{"grade_final", "C"}, {"category", "none"}, {"secured", "0"}});
  Add("housing", kYouyu, {{"grade_final", "B"}, {"category", "dibao"}, {"secured", "1"}});
  Add("germplasm", kYouyu, {{"n_at_risk", "1"},
                            {"sample", json::array({{{"_id", "s1"}, {"res_cat", "crop"}},
                                                    {{"_id", "s2"}, {"res_cat", "livestock"}}})}});
  ASSERT_TRUE(world_.SyncAll().ok());
  ASSERT_TRUE(world_.ledger().SetRecordField(city_, gone, "@status", std::string("rejected"), 0).ok());

  auto d = ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, "");
  ASSERT_TRUE(d.has_value()) << d.error().ToString();
  ASSERT_EQ(d->areas.size(), 2u);
  const AreaFigures& ying = d->areas[0];
  EXPECT_EQ(ying.area, "140622000000");
  EXPECT_EQ(ying.toilet_records, 2);
  EXPECT_EQ(ying.in_scope, 2);
  EXPECT_EQ(ying.sanitary, 1);
  EXPECT_EQ(ying.problems, 2);
  EXPECT_EQ(ying.problems_fixed, 1);
  EXPECT_EQ(ying.overdue, 2);
  EXPECT_EQ(ying.problem_households, 1);
  EXPECT_EQ(ying.grades, (std::map<std::string, int64_t>{{"C", 1}, {"D", 1}}));
  EXPECT_EQ(ying.secured, 1);
  // The rejected record is left out; the rest of 右玉 counts.
  const AreaFigures& youyu = d->areas[1];
  EXPECT_EQ(youyu.toilet_records, 1);
  EXPECT_EQ(youyu.gps_outside, 1);
  EXPECT_EQ(youyu.samples, (std::map<std::string, int64_t>{{"crop", 1}, {"livestock", 1}}));
  EXPECT_EQ(youyu.at_risk, 1);
  EXPECT_EQ(d->total.in_scope, 3);
  EXPECT_EQ(d->total.sanitary, 2);
  EXPECT_EQ(d->total.housing_records, 4);

  // Low-income households in C or D houses, the red one first; not the
  // non-low-income C house, not the low-income B house.
  ASSERT_EQ(d->alerts.size(), 2u);
  EXPECT_EQ(d->alerts[0].record_id, red);
  EXPECT_TRUE(d->alerts[0].red);
  EXPECT_EQ(d->alerts[1].record_id, amber);
  EXPECT_FALSE(d->alerts[1].red);

  // A county supervisor sees only the county; townships within it.
  Principal county{"ying", "supervisor", "web", {"140622000000"}};
  auto own = ComputeDashboard(world_.server(), county, AreaLevel::kTownship, "");
  ASSERT_TRUE(own.has_value());
  ASSERT_EQ(own->areas.size(), 1u);
  EXPECT_EQ(own->areas[0].area, "140622100000");
  EXPECT_EQ(own->total.toilet_records, 2);
  EXPECT_EQ(ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, "14%").error().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(DashboardTest, MedianSurveyLengthPerFormAndFiguresFollowLaterEdits) {
  auto at = [](int minute) { return "2026-09-01T10:" + std::string(minute < 10 ? "0" : "") + std::to_string(minute) + ":00+08:00"; };
  Add("toilet", kYing, {{"start", at(0)}, {"end", at(10)}});
  Add("toilet", kYing, {{"start", at(0)}, {"end", at(40)}});
  Add("toilet", kYouyu, {{"start", at(5)}, {"end", at(25)}});
  Add("toilet", kYouyu, {{"start", "not a time"}, {"end", at(25)}});  // left out
  std::string house = Add("housing", kYing, {{"start", at(0)}, {"end", at(15)}, {"grade_final", "B"}});
  ASSERT_TRUE(world_.SyncAll().ok());
  auto d = ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, "");
  ASSERT_TRUE(d.has_value()) << d.error().ToString();
  EXPECT_EQ(d->median_minutes, (std::map<std::string, double>{{"toilet", 20}, {"housing", 15}}));
  EXPECT_EQ(d->total.grades, (std::map<std::string, int64_t>{{"B", 1}}));

  // An inspector regrades the house on a later visit; the next sync moves it.
  world_.Set(0, house, "grade_final", "D");
  ASSERT_TRUE(world_.SyncAll().ok());
  d = ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, "");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->total.grades, (std::map<std::string, int64_t>{{"D", 1}}));
}

// Records per inspector per day: days end at midnight in China (UTC+8), the
// newest day first, then by name.
TEST_F(DashboardTest, RecordsPerInspectorPerDayCountChinaDays) {
  // The test clock starts on 2026-09-21 at 22:13:20 China time (14:13:20 UTC).
  world_.clock().Advance((105 * 60 + 40) * 1000);  // 23:59:00
  Add("toilet", kYing, nlohmann::json::object(), "wang");
  Add("toilet", kYing, nlohmann::json::object(), "li");
  Add("housing", kYouyu, nlohmann::json::object(), "wang");
  ASSERT_TRUE(world_.SyncAll().ok());
  world_.clock().Advance(2 * 60 * 1000);  // 00:01 the next day, still 2026-09-21 in UTC
  Add("toilet", kYouyu, nlohmann::json::object(), "wang");
  ASSERT_TRUE(world_.SyncAll().ok());
  auto d = ComputeDashboard(world_.server(), city_, AreaLevel::kTownship, "");
  ASSERT_TRUE(d.has_value()) << d.error().ToString();
  std::vector<std::string> rows;
  for (const InspectorDay& r : d->per_inspector) rows.push_back(r.day + " " + r.author + " " + std::to_string(r.records));
  EXPECT_EQ(rows, (std::vector<std::string>{"2026-09-22 wang 1", "2026-09-21 li 1", "2026-09-21 wang 2"}));
  // A county supervisor counts only their county's records.
  auto ying = ComputeDashboard(world_.server(), Principal{"ying", "supervisor", "web", {"140622000000"}},
                               AreaLevel::kCounty, "");
  ASSERT_TRUE(ying.has_value());
  rows.clear();
  for (const InspectorDay& r : ying->per_inspector) rows.push_back(r.day + " " + r.author + " " + std::to_string(r.records));
  EXPECT_EQ(rows, (std::vector<std::string>{"2026-09-21 li 1", "2026-09-21 wang 1"}));
}

}  // namespace
}  // namespace tianye
