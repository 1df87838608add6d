// The supervisor dashboard's figures (../shared/domain/forms.md §6), from the
// records on the server in the user's scope, per county, township or village.
// Records count once synced and not rejected or deleted; each figure reads the
// answers (and the form's calculated fields) the records hold now.
//
// Thread safety: as the Store (not thread-safe); the server serialises calls.
#ifndef TIANYE_DASHBOARD_H_
#define TIANYE_DASHBOARD_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tianye/status.h"
#include "tianye/store.h"
#include "tianye/sync.h"

namespace tianye {

// Sanitary-toilet coverage target of the plan (农村卫生厕所普及率 > 80 %).
inline constexpr double kToiletCoverageTarget = 0.80;

// Counts per area. Each comment names the indicator of forms.md §6 the
// figure feeds; ratios are left to the reader (the API adds them).
struct AreaFigures {
  std::string area;  // the county, township or village code, the inspector or the month ("" for the total)
  // Toilets (form toilet).
  int64_t toilet_records = 0;
  int64_t in_scope = 0;            // B1, B2 denominator: dwellings in scope
  int64_t toilet_households = 0;   // B3: distinct hh_key with has_toilet answered (÷ villages' hh_registered)
  int64_t sanitary = 0;            // B1
  int64_t harmless = 0;            // B2
  int64_t renovated = 0;           // B4, B5, B8, B10 denominator
  int64_t in_use_normal = 0;       // B4: renovated and used normally
  int64_t problem_households = 0;  // B5, B6: problem_found = 1
  int64_t problem_cleared = 0;     // B6: of those, problem_open = 0 (销号)
  int64_t problems = 0;            // B6: problem rows with a status
  int64_t problems_fixed = 0;      // B6: prob_status = fixed
  int64_t fixed_on_time = 0;       // B7: fixed with fixed_date <= deadline
  int64_t overdue = 0;             // B7: Σ n_overdue
  int64_t frozen = 0;              // B8: froze_last_winter = yes
  int64_t with_toilet = 0;         // B9 denominator: has_toilet = yes
  int64_t manure_managed = 0;      // B9: emptied by the village, a service or not needed, and not dumped/raw
  int64_t old_latrine_cleared = 0; // B10: renovated, old latrine demolished or none
  int64_t satisfaction_answered = 0;  // B11
  int64_t satisfied = 0;              // B11: satisfied or basic
  int64_t subsidy_answered = 0;       // B12: records with subsidy_yuan
  double subsidy_yuan = 0;            // B12: Σ subsidy_yuan
  double paid_yuan = 0;               // B12: Σ hh_paid_yuan
  std::map<std::string, int64_t> sanitary_types;  // B13: toilet_type of sanitary toilets
  // Housing (form housing).
  int64_t housing_records = 0;            // assessed households
  std::map<std::string, int64_t> grades;  // C2: grade_final A, B, C, D
  std::map<std::string, int64_t> danger_by_category;   // C2: C and D houses by category
  std::map<std::string, int64_t> danger_by_structure;  // C2: C and D houses by structure
  int64_t no_house = 0;                   // C3
  int64_t secured = 0;                    // C4
  int64_t new_danger = 0;                 // C6
  std::map<std::string, int64_t> measures;  // C7: measure_status
  int64_t seismic_focus = 0;              // C8 denominator: intensity 8 and above
  int64_t seismic_full = 0;               // C8: of those, dm_final = full
  int64_t seismic_none = 0;               // C8: of those, dm_final = none
  int64_t high_risk_structure = 0;        // C9: earth-wood, brick-earth, earth cave
  int64_t over_30_years = 0;              // C9: age_over_30 = 1
  int64_t site_dangerous = 0;             // C10
  std::map<std::string, int64_t> hazards;  // C10: site_hazards of dangerous sites
  int64_t grade_overridden = 0;           // C11: grade_final differs from grade_calc
  int64_t priority_listed = 0;            // C1 denominator: households on the imported low-income list
  int64_t priority_assessed = 0;          // C1: of those, with a housing record made this year
  // Germplasm (form germplasm).
  int64_t germplasm_records = 0;
  std::map<std::string, int64_t> samples;  // A1: res_cat -> samples
  int64_t landrace_wild = 0;               // A2: crop samples that are landraces or wild
  int64_t at_risk = 0;                     // A3: Σ n_at_risk
  int64_t deposited = 0;                   // A4: samples handed to a bank
  int64_t samples_complete = 0;            // A5: both photos, a Latin name, GPS within 10 m
  std::map<std::string, int64_t> traits;   // A8: main_traits of crop samples
  int64_t townships_visited = 0;           // A9: townships with a germplasm record
  // Every form (§6.4).
  int64_t approved = 0;
  int64_t gps_outside = 0;     // gps_in_area = 0
  int64_t gps_inaccurate = 0;  // gps_acc > 50 m
  int64_t short_surveys = 0;   // toilet or housing records under 5 minutes
  int64_t form_problems = 0;   // records that failed their form's checks when last checked (form_check.h)
  int64_t photos_missing = 0;  // of those, records lacking a photo their form requires
};

// A low-income household (category other than none) in a C or D house;
// `red` when it is D, the family still lives there and it is not secured (C5).
struct HousingAlert {
  std::string record_id;
  std::string village;
  std::string grade;
  bool red = false;
};

// A household on the imported low-income list (priority_list.h) whose house
// has no assessment this year yet (C1).
struct UnassessedHousehold {
  std::string hh_key;
  std::string village;
  std::string category;
};

// A6: one livestock breed (the local name of livestock samples): its
// breeding stock summed over the samples, with the effective population
// size of those sums, Ne = 4·M·F / (M + F).
struct BreedFigures {
  std::string name;
  int64_t samples = 0;
  double males = 0;
  double females = 0;
  double families = 0;
  double ne = 0;
  std::map<std::string, int64_t> trends;  // pop_trend
};

// A7: one of the plan's tracked local resources (平鲁红山荞麦, 应县紫皮大蒜,
// 怀仁绿豆, 右玉边鸡) in one year (when the records reached the server, China
// time): the area grown (crops, mu) or the stock (livestock) its samples give.
struct TrackedFigures {
  std::string resource;  // the plan's name
  std::string year;
  int64_t samples = 0;
  double area_mu = 0;
  double stock = 0;
};

struct InspectorDay {
  std::string author;
  std::string day;  // YYYY-MM-DD, China time, of the record's creation
  int64_t records = 0;
};

// One inspector's records and the data-quality flags on them (§6.4, C11).
struct InspectorFigures {
  std::string author;
  int64_t records = 0;
  int64_t short_surveys = 0;
  int64_t gps_outside = 0;
  int64_t housing_records = 0;
  int64_t grade_overridden = 0;
};

// Records that name the same household (hh_key; for housing in the same
// monitoring round): one visit too many, or two families under one number.
struct DuplicateHousehold {
  std::string form_id;
  std::string hh_key;
  std::string round;
  std::vector<std::string> record_ids;
};

struct Dashboard {
  std::vector<AreaFigures> areas;  // ordered by code
  AreaFigures total;
  std::vector<HousingAlert> alerts;         // red first
  std::vector<UnassessedHousehold> unassessed;  // C1: by hh_key, at most 200
  std::vector<InspectorDay> per_inspector;  // newest day first, at most 200
  std::vector<InspectorFigures> inspectors;  // by name
  std::map<std::string, std::map<std::string, int64_t>> per_month;  // "YYYY-MM" -> form -> records
  std::map<std::string, double> median_minutes;  // form -> median survey length (end - start)
  std::map<std::string, double> median_sync_hours;  // form -> median hours from end to the server
  double median_days_to_done = -1;            // C7: survey_date to done_date (-1: none done)
  std::vector<DuplicateHousehold> duplicates;  // at most 200
  std::vector<BreedFigures> breeds;    // A6: by name
  std::vector<TrackedFigures> tracked;  // A7: by resource, then year
};

// What one row of Dashboard::areas stands for: an area of the scope, an
// inspector (the records' author) or a month (when the records reached the
// server, China time, "YYYY-MM"). forms.md §6 breaks every indicator down by
// area, enumerator and month. C1 needs the low-income list, which is kept per
// village: by inspector or month it is counted in the total only.
enum class AreaLevel { kCounty, kTownship, kVillage, kInspector, kMonth };

// Narrows the records every figure counts; "" = no narrowing.
struct DashboardFilter {
  std::string within;     // a 12-digit county or township code
  std::string inspector;  // the user name of the records' author
  std::string month;      // "YYYY-MM": records that reached the server that month, China time
};

// Errors: kInvalidArgument for a malformed `within` (not a 12-digit code) or
// `month` (not YYYY-MM).
Result<Dashboard> ComputeDashboard(Store& store, const Principal& who, AreaLevel level, const DashboardFilter& filter);

}  // namespace tianye

#endif  // TIANYE_DASHBOARD_H_
