// The dashboard's figures over a real ledger with records of the shipped
// forms: per-area sums, the C/D alert list, scope, and what is left out.
#include "tianye/dashboard.h"

#include <gtest/gtest.h>

#include "sql.h"
#include "store_impl.h"
#include "sync_testing.h"
#include "tianye/form_check.h"
#include "tianye/form_store.h"
#include "tianye/priority_list.h"
#include "tianye/review.h"

namespace tianye {
namespace {

const AreaCodes kYing{"140622000000", "140622100000", "140622100201"};
const AreaCodes kYouyu{"140623000000", "140623100000", "140623100201"};

// Every test runs against both of the server's stores.
class DashboardTest : public ::testing::TestWithParam<testing::ServerStore> {
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

  testing::SyncWorld world_{1, {}, GetParam()};
  Principal city_{"zhao", "supervisor", "web", {"140600000000"}};
};
INSTANTIATE_TEST_SUITE_P(Stores, DashboardTest, testing::BothServerStores(), testing::ServerStoreName);

TEST_P(DashboardTest, SumsTheIndicatorsPerCountyAndListsLowIncomeHouseholdsInUnsafeHouses) {
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

  auto d = ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, {});
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
  auto own = ComputeDashboard(world_.server(), county, AreaLevel::kTownship, {});
  ASSERT_TRUE(own.has_value());
  ASSERT_EQ(own->areas.size(), 1u);
  EXPECT_EQ(own->areas[0].area, "140622100000");
  EXPECT_EQ(own->total.toilet_records, 2);
  EXPECT_EQ(ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, {"14%"}).error().code(),
            StatusCode::kInvalidArgument);
}

TEST_P(DashboardTest, MedianSurveyLengthPerFormAndFiguresFollowLaterEdits) {
  auto at = [](int minute) { return "2026-09-01T10:" + std::string(minute < 10 ? "0" : "") + std::to_string(minute) + ":00+08:00"; };
  Add("toilet", kYing, {{"start", at(0)}, {"end", at(10)}});
  Add("toilet", kYing, {{"start", at(0)}, {"end", at(40)}});
  Add("toilet", kYouyu, {{"start", at(5)}, {"end", at(25)}});
  Add("toilet", kYouyu, {{"start", "not a time"}, {"end", at(25)}});  // left out
  std::string house = Add("housing", kYing, {{"start", at(0)}, {"end", at(15)}, {"grade_final", "B"}});
  ASSERT_TRUE(world_.SyncAll().ok());
  auto d = ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, {});
  ASSERT_TRUE(d.has_value()) << d.error().ToString();
  EXPECT_EQ(d->median_minutes, (std::map<std::string, double>{{"toilet", 20}, {"housing", 15}}));
  EXPECT_EQ(d->total.grades, (std::map<std::string, int64_t>{{"B", 1}}));

  // An inspector regrades the house on a later visit; the next sync moves it.
  world_.Set(0, house, "grade_final", "D");
  ASSERT_TRUE(world_.SyncAll().ok());
  d = ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, {});
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->total.grades, (std::map<std::string, int64_t>{{"D", 1}}));
}

// Records per inspector per day: days end at midnight in China (UTC+8), the
// newest day first, then by name.
TEST_P(DashboardTest, RecordsPerInspectorPerDayCountChinaDays) {
  // The test clock starts on 2026-09-21 at 22:13:20 China time (14:13:20 UTC).
  world_.clock().Advance((105 * 60 + 40) * 1000);  // 23:59:00
  Add("toilet", kYing, nlohmann::json::object(), "wang");
  Add("toilet", kYing, nlohmann::json::object(), "li");
  Add("housing", kYouyu, nlohmann::json::object(), "wang");
  ASSERT_TRUE(world_.SyncAll().ok());
  world_.clock().Advance(2 * 60 * 1000);  // 00:01 the next day, still 2026-09-21 in UTC
  Add("toilet", kYouyu, nlohmann::json::object(), "wang");
  ASSERT_TRUE(world_.SyncAll().ok());
  auto d = ComputeDashboard(world_.server(), city_, AreaLevel::kTownship, {});
  ASSERT_TRUE(d.has_value()) << d.error().ToString();
  std::vector<std::string> rows;
  for (const InspectorDay& r : d->per_inspector) rows.push_back(r.day + " " + r.author + " " + std::to_string(r.records));
  EXPECT_EQ(rows, (std::vector<std::string>{"2026-09-22 wang 1", "2026-09-21 li 1", "2026-09-21 wang 2"}));
  // A county supervisor counts only their county's records.
  auto ying = ComputeDashboard(world_.server(), Principal{"ying", "supervisor", "web", {"140622000000"}},
                               AreaLevel::kCounty, {});
  ASSERT_TRUE(ying.has_value());
  rows.clear();
  for (const InspectorDay& r : ying->per_inspector) rows.push_back(r.day + " " + r.author + " " + std::to_string(r.records));
  EXPECT_EQ(rows, (std::vector<std::string>{"2026-09-21 li 1", "2026-09-21 wang 1"}));
}

// The rest of §6: each figure counts the records its formula names, and
// nothing else.
TEST_P(DashboardTest, EveryIndicatorCountsWhatItsFormulaNames) {
  using nlohmann::json;
  // Toilets: B4 in use, B6 cleared, B7 on time, B8, B9, B10, B11, B12, B13.
  std::string toilet = Add("toilet", kYing, {{"renovated", "yes"}, {"in_use", "normal"}, {"has_toilet", "yes"}, {"is_sanitary", "1"},
                        {"toilet_type", "three_compartment"}, {"emptying_mode", "village"},
                        {"manure_fate", "field_treated"}, {"old_latrine", "demolished"}, {"satisfaction", "basic"},
                        {"subsidy_yuan", "1000"}, {"hh_paid_yuan", "500"}, {"froze_last_winter", "yes"},
                        {"problem_found", "1"}, {"problem_open", "0"}, {"hh_key", "140622100201-7"},
                        {"problems", json::array({{{"_id", "p1"}, {"prob_status", "fixed"}, {"deadline", "2026-10-01"},
                                                   {"fixed_date", "2026-09-30"}},
                                                  {{"_id", "p2"}, {"prob_status", "fixed"}, {"deadline", "2026-10-01"},
                                                   {"fixed_date", "2026-10-02"}},
                                                  {{"_id", "p3"}, {"prob_status", "pending"}, {"deadline", "2026-10-01"},
                                                   {"fixed_date", "2026-09-01"}}})}});
  Add("toilet", kYing, {{"renovated", "yes"}, {"in_use", "idle"}, {"has_toilet", "yes"}, {"is_sanitary", "1"},
                        {"toilet_type", "double_urn"}, {"emptying_mode", "self"}, {"old_latrine", "kept"},
                        {"satisfaction", "not"}, {"subsidy_yuan", "1000"}, {"problem_found", "1"},
                        {"problem_open", "1"}, {"hh_key", "140622100201-7"}},
      "li");
  Add("toilet", kYing, {{"renovated", "no"}, {"has_toilet", "yes"}, {"is_sanitary", "0"}, {"toilet_type", "nonsanitary"},
                        {"emptying_mode", "not_needed"}, {"old_latrine", "none"}, {"hh_key", "140622100201-"},
                        {"gps_acc", "80"}, {"start", "2026-09-21T20:00:00+08:00"}, {"end", "2026-09-21T20:03:00+08:00"}});
  // Housing: C2 by category and structure, C3, C6, C7, C8, C9, C10, C11.
  Add("housing", kYouyu, {{"grade_final", "D"}, {"grade_calc", "C"}, {"category", "dibao"}, {"structure", "earth_wood"},
                          {"new_danger", "1"}, {"measure_status", "completed"}, {"survey_date", "2026-09-01"},
                          {"done_date", "2026-09-11"}, {"seismic_focus", "1"}, {"dm_final", "none"},
                          {"age_over_30", "1"}, {"site_safety", "dangerous"},
                          {"site_hazards", "mining_subsidence ground_fissure"}, {"hh_key", "140623100201-3"},
                          {"monitor_round", "2026"}},
      "wang");
  Add("housing", kYouyu, {{"grade_final", "B"}, {"grade_calc", "B"}, {"category", "none"}, {"structure", "brick_concrete"},
                          {"no_house", "yes"}, {"measure_status", "planned"}, {"seismic_focus", "1"},
                          {"dm_final", "full"}, {"site_safety", "safe"}, {"hh_key", "140623100201-3"},
                          {"monitor_round", "2025"}},
      "wang");
  // Germplasm: A2, A4, A5 (GPS within 10 m), A8, A9.
  Add("germplasm", kYouyu,
      {{"gps_acc", "6"},
       {"sample", json::array({{{"_id", "s1"}, {"res_cat", "crop"}, {"germplasm_type", "landrace"},
                                {"deposit_to", "prov_bank"}, {"photo_main", "a.jpg"}, {"photo_2", "b.jpg"},
                                {"latin_name", "Fagopyrum esculentum"}, {"main_traits", "drought cold"}},
                               {{"_id", "s2"}, {"res_cat", "crop"}, {"germplasm_type", "bred"}, {"deposit_to", "not_yet"},
                                {"photo_main", "c.jpg"}, {"main_traits", "salt_alkali drought"}},
                               {{"_id", "s3"}, {"res_cat", "livestock"}, {"photo_main", "d.jpg"}, {"photo_2", "e.jpg"}}})}});
  Add("germplasm", kYing, {{"gps_acc", "25"},
                           {"sample", json::array({{{"_id", "s1"}, {"res_cat", "fungi"}, {"photo_main", "f.jpg"},
                                                    {"photo_2", "g.jpg"}, {"fungi_latin", "Morchella"}}})}});
  ASSERT_TRUE(world_.SyncAll().ok());

  auto d = ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, {});
  ASSERT_TRUE(d.has_value()) << d.error().ToString();
  const AreaFigures& t = d->total;
  EXPECT_EQ(t.renovated, 2);
  EXPECT_EQ(t.in_use_normal, 1);
  EXPECT_EQ(t.problem_households, 2);
  EXPECT_EQ(t.problem_cleared, 1);
  EXPECT_EQ(t.problems_fixed, 2);
  EXPECT_EQ(t.fixed_on_time, 1);  // p2 was late; p3 is not fixed
  EXPECT_EQ(t.frozen, 1);
  EXPECT_EQ(t.with_toilet, 3);
  EXPECT_EQ(t.manure_managed, 2);  // by the village; not needed; not the self-emptied one
  EXPECT_EQ(t.old_latrine_cleared, 1);  // the third has none but was not renovated
  EXPECT_EQ(t.satisfaction_answered, 2);
  EXPECT_EQ(t.satisfied, 1);
  EXPECT_EQ(t.subsidy_answered, 2);
  EXPECT_DOUBLE_EQ(t.subsidy_yuan, 2000);
  EXPECT_DOUBLE_EQ(t.paid_yuan, 500);
  EXPECT_EQ(t.sanitary_types, (std::map<std::string, int64_t>{{"double_urn", 1}, {"three_compartment", 1}}));
  // B3's households: the two visits to household 7 count once; the third
  // record gives no household number.
  EXPECT_EQ(t.toilet_households, 1);

  EXPECT_EQ(t.danger_by_category, (std::map<std::string, int64_t>{{"dibao", 1}}));
  EXPECT_EQ(t.danger_by_structure, (std::map<std::string, int64_t>{{"earth_wood", 1}}));
  EXPECT_EQ(t.no_house, 1);
  EXPECT_EQ(t.new_danger, 1);
  EXPECT_EQ(t.measures, (std::map<std::string, int64_t>{{"completed", 1}, {"planned", 1}}));
  EXPECT_DOUBLE_EQ(d->median_days_to_done, 10);
  EXPECT_EQ(t.seismic_focus, 2);
  EXPECT_EQ(t.seismic_full, 1);
  EXPECT_EQ(t.seismic_none, 1);
  EXPECT_EQ(t.high_risk_structure, 1);
  EXPECT_EQ(t.over_30_years, 1);
  EXPECT_EQ(t.site_dangerous, 1);
  EXPECT_EQ(t.hazards, (std::map<std::string, int64_t>{{"ground_fissure", 1}, {"mining_subsidence", 1}}));
  EXPECT_EQ(t.grade_overridden, 1);

  EXPECT_EQ(t.samples, (std::map<std::string, int64_t>{{"crop", 2}, {"fungi", 1}, {"livestock", 1}}));
  EXPECT_EQ(t.landrace_wild, 1);
  EXPECT_EQ(t.deposited, 1);
  EXPECT_EQ(t.samples_complete, 2);  // s1 and the livestock s3; the fungus's GPS is 25 m off
  EXPECT_EQ(t.traits, (std::map<std::string, int64_t>{{"cold", 1}, {"drought", 2}, {"salt_alkali", 1}}));
  EXPECT_EQ(t.townships_visited, 2);
  ASSERT_EQ(d->areas.size(), 2u);
  EXPECT_EQ(d->areas[0].townships_visited, 1);

  // Data quality: a 3-minute toilet check, GPS 80 m off, two visits to one
  // toilet household (not the housing one: different rounds; not the empty
  // household number), two hours from the end of the survey to the server.
  EXPECT_EQ(t.short_surveys, 1);
  EXPECT_EQ(t.gps_inaccurate, 1);
  ASSERT_EQ(d->duplicates.size(), 1u);
  EXPECT_EQ(d->duplicates[0].form_id, "toilet");
  EXPECT_EQ(d->duplicates[0].hh_key, "140622100201-7");
  EXPECT_EQ(d->duplicates[0].record_ids.size(), 2u);
  // The test clock reads 2026-09-21 22:13:20 China time.
  EXPECT_NEAR(d->median_sync_hours.at("toilet"), 2.17, 0.01);
  std::vector<std::string> inspectors;
  for (const InspectorFigures& i : d->inspectors) {
    inspectors.push_back(i.author + " " + std::to_string(i.records) + " " + std::to_string(i.short_surveys) + " " +
                         std::to_string(i.housing_records) + " " + std::to_string(i.grade_overridden));
  }
  EXPECT_EQ(inspectors, (std::vector<std::string>{"inspector0 4 1 0 0", "li 1 0 0 0", "wang 2 0 2 1"}));
  EXPECT_EQ(d->per_month, (std::map<std::string, std::map<std::string, int64_t>>{
                              {"2026-09", {{"germplasm", 2}, {"housing", 2}, {"toilet", 3}}}}));

  // The figures follow later edits: the late problem's deadline moves.
  world_.Change(0, toilet, [](json& v) { v["problems"][1]["deadline"] = "2026-10-05"; });
  ASSERT_TRUE(world_.SyncAll().ok());
  d = ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, {});
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->total.fixed_on_time, 2);
}

// Records that fail their form's checks count once the server's check has
// run, and stop counting when an edit answers what was missing.
TEST_P(DashboardTest, RecordsFailingTheFormCheckCountOnceChecked) {
  std::string id = Add("toilet", kYing, nlohmann::json::object());  // finalized with every required answer missing
  ASSERT_TRUE(world_.SyncAll().ok());
  auto failing = [&] {
    auto d = ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, {});
    EXPECT_TRUE(d.has_value());
    return d ? d->total.form_problems : -1;
  };
  EXPECT_EQ(failing(), 0);  // not checked yet
  FormStore forms(&world_.server());
  RecordChecker checker(&world_.server(), &forms);
  ASSERT_EQ(*checker.CheckChanged(10), 1);
  EXPECT_EQ(failing(), 1);
  // An edit of a figure's answer refreshes the facts: unchecked again until
  // the next check, which still finds answers missing.
  world_.Set(0, id, "renovated", "yes");
  ASSERT_TRUE(world_.SyncAll().ok());
  EXPECT_EQ(failing(), 0);
  ASSERT_EQ(*checker.CheckChanged(10), 1);
  EXPECT_EQ(failing(), 1);
}

}  // namespace
}  // namespace tianye

namespace tianye {
namespace {

// C1: households on the imported low-income list with a housing record made
// this year (China time), per area and only in the user's scope; the list's
// households without one are listed for follow-up.
TEST_P(DashboardTest, LowIncomeListCoverageCountsListedHouseholdsAssessedThisYear) {
  auto imported = ImportPriorityList(world_.server(),
                                     "\xEF\xBB\xBFhh_key,category,head\n"
                                     "140622100201-7,dibao,张\n"
                                     "140622100201-8,tekun,\n"
                                     "140622100201-9, dibao_edge ,\n"
                                     "140623100201-1,hardship,\n");
  ASSERT_TRUE(imported.has_value()) << imported.error().ToString();
  EXPECT_EQ(imported->households, 4);
  EXPECT_EQ(imported->counties, (std::vector<std::string>{"140622", "140623"}));

  Add("housing", kYing, {{"hh_key", "140622100201-7"}});  // 2026: last year once the clock reaches 2027
  ASSERT_TRUE(world_.SyncAll().ok());
  world_.clock().Advance(int64_t{120} * 24 * 3600 * 1000);  // 2027-01-19
  Add("housing", kYing, {{"hh_key", "140622100201-8"}});
  Add("housing", kYing, {{"hh_key", "140622100201-8"}});  // twice: one household
  Add("housing", kYouyu, {{"hh_key", "140623100201-1"}});
  Add("housing", kYing, {{"hh_key", "140622100201-99"}});  // not on the list
  Add("toilet", kYing, {{"hh_key", "140622100201-9"}});  // a toilet check is no house assessment
  ASSERT_TRUE(world_.SyncAll().ok());

  auto d = ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, {});
  ASSERT_TRUE(d.has_value()) << d.error().ToString();
  ASSERT_EQ(d->areas.size(), 2u);
  EXPECT_EQ(d->areas[0].priority_listed, 3);
  EXPECT_EQ(d->areas[0].priority_assessed, 1);
  EXPECT_EQ(d->areas[1].priority_listed, 1);
  EXPECT_EQ(d->areas[1].priority_assessed, 1);
  EXPECT_EQ(d->total.priority_listed, 4);
  EXPECT_EQ(d->total.priority_assessed, 2);
  std::vector<std::string> waiting;
  for (const UnassessedHousehold& u : d->unassessed) waiting.push_back(u.hh_key + " " + u.village + " " + u.category);
  EXPECT_EQ(waiting, (std::vector<std::string>{"140622100201-7 140622100201 dibao",
                                               "140622100201-9 140622100201 dibao_edge"}));

  // 右玉's supervisor sees 右玉's part of the list only.
  auto youyu = ComputeDashboard(world_.server(), Principal{"yy", "supervisor", "web", {"140623000000"}},
                                AreaLevel::kVillage, {});
  ASSERT_TRUE(youyu.has_value());
  EXPECT_EQ(youyu->total.priority_listed, 1);
  EXPECT_EQ(youyu->total.priority_assessed, 1);
  EXPECT_TRUE(youyu->unassessed.empty());
  auto within = ComputeDashboard(world_.server(), city_, AreaLevel::kTownship, {kYouyu.county});
  ASSERT_TRUE(within.has_value());
  EXPECT_EQ(within->total.priority_listed, 1);

  // A new list for 应县 replaces 应县's and leaves 右玉's.
  imported = ImportPriorityList(world_.server(), "hh_key,category\r\n140622100201-9,dibao\r\n");
  ASSERT_TRUE(imported.has_value()) << imported.error().ToString();
  auto summary = PriorityListSummary(world_.server());
  ASSERT_TRUE(summary.has_value());
  ASSERT_EQ(summary->size(), 2u);
  EXPECT_EQ((*summary)[0].county, "140622");
  EXPECT_EQ((*summary)[0].households, 1);
  EXPECT_EQ((*summary)[1].households, 1);

  // A list with any problem is refused whole, naming the lines; nothing changes.
  const std::pair<const char*, const char*> bad[] = {
      {"", "empty"},
      {"hh_key\n140622100201-1\n", "hh_key and category"},
      {"hh_key,category\n", "no households"},
      {"hh_key,category\n140622100201-1,dibao\n14062210-1,dibao\n", "line 3"},
      {"hh_key,category\n140622100201-1,none\n", "line 2: category 'none'"},
      {"hh_key,category\n140622100201-1,dibao\n140622100201-1,tekun\n", "listed twice"},
      {"hh_key,category\n140622100201-1'; DROP TABLE server_records; --,dibao\n", "line 2"},
      {"hh_key,category\n\"140622100201-1,dibao\n", "quote"}};
  for (const auto& [csv, why] : bad) {
    auto r = ImportPriorityList(world_.server(), csv);
    ASSERT_FALSE(r.has_value()) << csv;
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument) << csv;
    EXPECT_NE(r.error().message().find(why), std::string::npos) << csv << ": " << r.error().message();
  }
  auto after = PriorityListSummary(world_.server());
  ASSERT_TRUE(after.has_value());
  ASSERT_EQ(after->size(), 2u);
  EXPECT_EQ((*after)[0].households, 1);
}

}  // namespace
}  // namespace tianye

namespace tianye {
namespace {

// The facts row follows the record (schema 13 keeps it in area order): a
// record moved to another county counts there, a deleted one nowhere, an
// approved one as approved.
TEST_P(DashboardTest, FiguresFollowARecordsAreaStatusAndDeletion) {
  const std::string id = Add("toilet", kYing, {{"in_scope", "1"}, {"is_sanitary", "1"}});
  ASSERT_TRUE(world_.SyncAll().ok());
  auto county_of = [&]() -> std::string {
    auto d = ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, {});
    if (!d || d->areas.size() != 1) return d ? std::to_string(d->areas.size()) + " areas" : d.error().ToString();
    return d->areas[0].area + " " + std::to_string(d->areas[0].sanitary) + " " + std::to_string(d->areas[0].approved);
  };
  EXPECT_EQ(county_of(), "140622000000 1 0");
  auto r = world_.device(0).records->Get(id);
  ASSERT_TRUE(r.has_value());
  r->area = kYouyu;
  ASSERT_TRUE(world_.device(0).records->Update(*r).has_value());
  ASSERT_TRUE(world_.SyncAll().ok());
  EXPECT_EQ(county_of(), "140623000000 1 0");
  ASSERT_TRUE(world_.ledger().SetRecordField(city_, id, "@status", std::string("approved"), 0).ok());
  EXPECT_EQ(county_of(), "140623000000 1 1");
  ASSERT_TRUE(world_.SyncAll().ok());  // the device learns of the approval before it deletes
  ASSERT_TRUE(world_.device(0).records->Delete(id).ok());
  ASSERT_TRUE(world_.SyncAll().ok());
  EXPECT_EQ(county_of(), "0 areas");
}

// The figures a test compares whole: per area, the records of each form,
// the form check's counts, medians, alerts and breeds.
std::string Summary(const Dashboard& d) {
  std::string out;
  for (const AreaFigures& a : d.areas) {
    out += a.area + ": " + std::to_string(a.toilet_records) + " " + std::to_string(a.in_scope) + " " +
           std::to_string(a.with_toilet) + " " + std::to_string(a.housing_records) + " " +
           std::to_string(a.germplasm_records) + " " + std::to_string(a.at_risk) + " " +
           std::to_string(a.form_problems) + " " + std::to_string(a.photos_missing) + " " +
           std::to_string(a.short_surveys) + "; ";
  }
  for (const auto& [form, m] : d.median_minutes) out += form + " " + std::to_string(m) + " min; ";
  for (const HousingAlert& a : d.alerts) out += "alert " + a.record_id + (a.red ? " red; " : "; ");
  for (const BreedFigures& b : d.breeds) out += b.name + " " + std::to_string(b.males) + "/" + std::to_string(b.females) + "; ";
  return out;
}

// A store upgraded to where the figures' tables are new (PostgreSQL
// databases from before the dashboard ran there) has them computed once,
// from every record's answers, when a server starts: the same figures as
// the ones kept up as records came in, the form check's counts included.
TEST_P(DashboardTest, FiguresMissingAfterAnUpgradeAreComputedOnceFromTheAnswers) {
  using nlohmann::json;
  Add("toilet", kYing, {{"in_scope", "1"}, {"has_toilet", "yes"}, {"start", "2026-09-01T10:00:00+08:00"},
                        {"end", "2026-09-01T10:12:00+08:00"}});
  Add("housing", kYouyu, {{"grade_final", "D"}, {"category", "dibao"}, {"temp_housing", "stays"}});
  Add("germplasm", kYouyu, {{"n_at_risk", "2"},
                            {"sample", json::array({{{"_id", "s1"}, {"res_cat", "livestock"}, {"local_name", "右玉边鸡"},
                                                     {"n_male", "3"}, {"n_female", "9"}}})}});
  ASSERT_TRUE(world_.SyncAll().ok());
  FormStore forms(&world_.server());
  RecordChecker checker(&world_.server(), &forms);
  ASSERT_EQ(*checker.CheckChanged(10), 3);
  auto before = ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, {});
  ASSERT_TRUE(before.has_value()) << before.error().ToString();
  ASSERT_GT(before->total.form_problems, 0);

  // What an upgrade leaves: the tables empty, marked to fill.
  ReviewQueries review(&world_.server());
  EXPECT_EQ(*review.BuildDashboardFactsIfStale(), 0) << "nothing to do on a store that keeps them";
  ASSERT_TRUE(world_.server().PutSetting("server.facts_stale", "1").ok());
  {
    auto tx = world_.server().Begin();
    ASSERT_TRUE(tx.has_value());
    internal::Connection& conn = internal::StoreAccess::Conn(world_.server());
    ASSERT_TRUE(conn.Exec("DELETE FROM server_facts").ok());
    ASSERT_TRUE(conn.Exec("DELETE FROM server_samples").ok());
    ASSERT_TRUE(tx->Commit().ok());
  }
  EXPECT_EQ(ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, {})->areas.size(), 0u);
  EXPECT_EQ(*review.BuildDashboardFactsIfStale(), 3);
  EXPECT_EQ(*review.BuildDashboardFactsIfStale(), 0) << "once";
  auto after = ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, {});
  ASSERT_TRUE(after.has_value()) << after.error().ToString();
  EXPECT_EQ(Summary(*after), Summary(*before));
}

// §6.4 "photos missing where required": of the records failing their form's
// check, those lacking a photo the form requires where it is shown.
TEST_P(DashboardTest, RecordsLackingARequiredPhotoAreCountedApart) {
  Add("toilet", kYing, {{"has_toilet", "yes"}});  // the room and pan photos are required
  Add("toilet", kYing, {{"has_toilet", "no"}});   // no toilet: no photo to take
  Add("toilet", kYouyu, {{"has_toilet", "yes"}, {"toilet_type", "sewer"}, {"photo_room", "a.jpg"}, {"photo_pan", "b.jpg"}});
  ASSERT_TRUE(world_.SyncAll().ok());
  FormStore forms(&world_.server());
  RecordChecker checker(&world_.server(), &forms);
  ASSERT_EQ(*checker.CheckChanged(10), 3);
  auto d = ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, {});
  ASSERT_TRUE(d.has_value()) << d.error().ToString();
  EXPECT_EQ(d->total.form_problems, 3) << "each misses other answers";
  EXPECT_EQ(d->total.photos_missing, 1);
  ASSERT_EQ(d->areas.size(), 2u);
  EXPECT_EQ(d->areas[0].photos_missing, 1);
  EXPECT_EQ(d->areas[1].photos_missing, 0);
}

// forms.md §6: every indicator breaks down by enumerator and month as well
// as by area, and the filters combine with any breakdown.
TEST_P(DashboardTest, EveryFigureBreaksDownByInspectorAndMonth) {
  auto imported = ImportPriorityList(world_.server(), "hh_key,category\n140622100201-7,dibao\n140622100201-8,tekun\n");
  ASSERT_TRUE(imported.has_value()) << imported.error().ToString();
  // September (the test clock starts on 2026-09-21, China time).
  Add("toilet", kYing, {{"in_scope", "1"}, {"is_sanitary", "1"}}, "wang");
  Add("toilet", kYouyu, {{"in_scope", "1"}, {"is_sanitary", "0"}}, "li");
  Add("housing", kYing, {{"grade_final", "D"}, {"hh_key", "140622100201-7"}}, "wang");
  ASSERT_TRUE(world_.SyncAll().ok());
  world_.clock().Advance(int64_t{10} * 24 * 3600 * 1000);  // October
  Add("toilet", kYouyu, {{"in_scope", "1"}, {"is_sanitary", "1"}}, "wang");
  Add("housing", kYing, {{"grade_final", "C"}}, "li");
  ASSERT_TRUE(world_.SyncAll().ok());

  auto by_inspector = ComputeDashboard(world_.server(), city_, AreaLevel::kInspector, {});
  ASSERT_TRUE(by_inspector.has_value()) << by_inspector.error().ToString();
  ASSERT_EQ(by_inspector->areas.size(), 2u);
  const AreaFigures& li = by_inspector->areas[0];
  const AreaFigures& wang = by_inspector->areas[1];
  EXPECT_EQ(li.area, "li");
  EXPECT_EQ(li.toilet_records, 1);
  EXPECT_EQ(li.sanitary, 0);
  EXPECT_EQ(li.grades, (std::map<std::string, int64_t>{{"C", 1}}));
  EXPECT_EQ(wang.area, "wang");
  EXPECT_EQ(wang.toilet_records, 2);
  EXPECT_EQ(wang.sanitary, 2);
  EXPECT_EQ(wang.grades, (std::map<std::string, int64_t>{{"D", 1}}));
  // The low-income list has no inspector: C1 in the total only.
  EXPECT_EQ(wang.priority_listed, 0);
  EXPECT_EQ(by_inspector->total.priority_listed, 2);
  EXPECT_EQ(by_inspector->total.priority_assessed, 1);
  EXPECT_EQ(by_inspector->total.sanitary, 2);

  auto by_month = ComputeDashboard(world_.server(), city_, AreaLevel::kMonth, {});
  ASSERT_TRUE(by_month.has_value()) << by_month.error().ToString();
  ASSERT_EQ(by_month->areas.size(), 2u);
  EXPECT_EQ(by_month->areas[0].area, "2026-09");
  EXPECT_EQ(by_month->areas[0].toilet_records, 2);
  EXPECT_EQ(by_month->areas[0].sanitary, 1);
  EXPECT_EQ(by_month->areas[0].grades, (std::map<std::string, int64_t>{{"D", 1}}));
  EXPECT_EQ(by_month->areas[1].area, "2026-10");
  EXPECT_EQ(by_month->areas[1].toilet_records, 1);
  EXPECT_EQ(by_month->areas[1].grades, (std::map<std::string, int64_t>{{"C", 1}}));

  // One inspector month by month; one month by county.
  auto wang_by_month = ComputeDashboard(world_.server(), city_, AreaLevel::kMonth, {"", "wang", ""});
  ASSERT_TRUE(wang_by_month.has_value());
  ASSERT_EQ(wang_by_month->areas.size(), 2u);
  EXPECT_EQ(wang_by_month->areas[0].toilet_records, 1);
  EXPECT_EQ(wang_by_month->areas[0].sanitary, 1);
  EXPECT_EQ(wang_by_month->areas[1].sanitary, 1);
  EXPECT_EQ(wang_by_month->total.toilet_records, 2);
  EXPECT_EQ(wang_by_month->total.housing_records, 1);
  ASSERT_EQ(wang_by_month->inspectors.size(), 1u);
  EXPECT_EQ(wang_by_month->inspectors[0].author, "wang");
  auto october = ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, {"", "", "2026-10"});
  ASSERT_TRUE(october.has_value());
  ASSERT_EQ(october->areas.size(), 2u);
  EXPECT_EQ(october->areas[0].area, kYing.county);
  EXPECT_EQ(october->areas[0].housing_records, 1);
  EXPECT_EQ(october->areas[0].toilet_records, 0);
  EXPECT_EQ(october->areas[1].toilet_records, 1);
  EXPECT_EQ(october->alerts.size(), 0u) << "li's C house is no low-income household";
  EXPECT_EQ(october->total.priority_assessed, 0) << "household 7 was assessed in September";
  auto august = ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, {"", "", "2026-08"});
  ASSERT_TRUE(august.has_value());
  EXPECT_EQ(august->total.toilet_records + august->total.housing_records, 0);
  EXPECT_EQ(august->total.priority_listed, 2) << "the list stays the denominator";
  EXPECT_EQ(august->total.priority_assessed, 0);
  auto nobody = ComputeDashboard(world_.server(), city_, AreaLevel::kInspector, {"", "zhang' OR '1'='1", ""});
  ASSERT_TRUE(nobody.has_value());
  EXPECT_TRUE(nobody->areas.empty());

  for (const char* bad : {"2026-13", "2026-1", "2026/10", "202610", "2026-1x", "-2026-1"}) {
    auto d = ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, {"", "", bad});
    ASSERT_FALSE(d.has_value()) << bad;
    EXPECT_EQ(d.error().code(), StatusCode::kInvalidArgument) << bad;
  }
}

// A6: livestock breeds' stock summed over their samples, with Ne of the sums;
// A7: the plan's tracked resources per year. Both follow edits and removed
// samples, and keep to the scope.
TEST_P(DashboardTest, BreedPopulationsAndTrackedResourcesComeFromTheSamples) {
  using nlohmann::json;
  auto sample = [](const char* id, const char* cat, const char* name, json more) {
    more["_id"] = id;
    more["res_cat"] = cat;
    more["local_name"] = name;
    return more;
  };
  Add("germplasm", kYouyu, {{"sample", json::array({sample("a", "livestock", "右玉边鸡", {{"n_male", "30"}, {"n_female", "300"},
                                                                                     {"n_families", "6"}, {"pop_trend", "decreasing"},
                                                                                     {"n_total", "420"}}),
                                                   sample("b", "crop", "平鲁红山荞麦", {{"area_mu", "120.5"}})})}});
  ASSERT_TRUE(world_.SyncAll().ok());
  world_.clock().Advance(int64_t{120} * 24 * 3600 * 1000);  // 2027
  const std::string later = Add("germplasm", kYing, {{"sample", json::array({
      sample("c", "livestock", "右玉边鸡", {{"n_male", "10"}, {"n_female", "100"}, {"pop_trend", "decreasing"}, {"n_total", "x"}}),
      sample("d", "crop", "平鲁红山荞麦", {{"area_mu", "80"}}),
      sample("e", "crop", "红小豆", {{"area_mu", "999"}})})}});
  ASSERT_TRUE(world_.SyncAll().ok());

  auto d = ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, {});
  ASSERT_TRUE(d.has_value()) << d.error().ToString();
  ASSERT_EQ(d->breeds.size(), 1u);
  const BreedFigures& chicken = d->breeds[0];
  EXPECT_EQ(chicken.name, "右玉边鸡");
  EXPECT_EQ(chicken.samples, 2);
  EXPECT_EQ(chicken.males, 40);
  EXPECT_EQ(chicken.females, 400);
  EXPECT_EQ(chicken.families, 6);
  EXPECT_DOUBLE_EQ(chicken.ne, 145.5);  // 4 x 40 x 400 / 440 = 145.45
  EXPECT_EQ(chicken.trends, (std::map<std::string, int64_t>{{"decreasing", 2}}));
  std::vector<std::string> series;
  for (const TrackedFigures& t : d->tracked) {
    series.push_back(t.resource + " " + t.year + " " + std::to_string(t.samples) + " " + std::to_string(t.area_mu) +
                     " " + std::to_string(t.stock));
  }
  EXPECT_EQ(series, (std::vector<std::string>{"右玉边鸡 2026 1 0.000000 420.000000", "右玉边鸡 2027 1 0.000000 0.000000",
                                              "平鲁红山荞麦 2026 1 120.500000 0.000000",
                                              "平鲁红山荞麦 2027 1 80.000000 0.000000"}));

  // The later record's chicken sample is corrected, its buckwheat removed.
  world_.Change(0, later, [](json& v) {
    v["sample"][0]["n_male"] = "20";
    v["sample"].erase(1);
  });
  ASSERT_TRUE(world_.SyncAll().ok());
  d = ComputeDashboard(world_.server(), city_, AreaLevel::kCounty, {});
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->breeds.at(0).males, 50);
  EXPECT_EQ(d->tracked.size(), 3u) << "the removed sample no longer counts";

  // 应县's supervisor sees 应县's samples only.
  auto ying = ComputeDashboard(world_.server(), Principal{"yx", "supervisor", "web", {"140622000000"}},
                               AreaLevel::kCounty, {});
  ASSERT_TRUE(ying.has_value());
  ASSERT_EQ(ying->breeds.size(), 1u);
  EXPECT_EQ(ying->breeds[0].males, 20);
  EXPECT_EQ(ying->breeds[0].samples, 1);
}

}  // namespace
}  // namespace tianye
