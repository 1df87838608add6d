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

struct AreaFigures {
  std::string area;  // the county, township or village code ("" for the total)
  // Toilets (form toilet): B1 coverage = sanitary / in_scope, B2, B5, B6, B7.
  int64_t toilet_records = 0;
  int64_t in_scope = 0;
  int64_t sanitary = 0;
  int64_t harmless = 0;
  int64_t problem_households = 0;  // problem_found = 1
  int64_t problems = 0;            // repeat rows
  int64_t problems_fixed = 0;      // prob_status = fixed
  int64_t overdue = 0;             // Σ n_overdue
  // Housing (form housing): C2 grades, C4 secured.
  int64_t housing_records = 0;
  std::map<std::string, int64_t> grades;  // grade_final: A, B, C, D
  int64_t secured = 0;
  // Germplasm (form germplasm): A1 samples per category, A3 at risk.
  int64_t germplasm_records = 0;
  std::map<std::string, int64_t> samples;  // res_cat -> samples
  int64_t at_risk = 0;                     // Σ n_at_risk
  // Every form.
  int64_t approved = 0;
  int64_t gps_outside = 0;  // gps_in_area = 0
};

// A low-income household (category other than none) in a C or D house;
// `red` when it is D, the family still lives there and it is not secured (C5).
struct HousingAlert {
  std::string record_id;
  std::string village;
  std::string grade;
  bool red = false;
};

struct InspectorDay {
  std::string author;
  std::string day;  // YYYY-MM-DD, China time, of the record's creation
  int64_t records = 0;
};

struct Dashboard {
  std::vector<AreaFigures> areas;  // ordered by code
  AreaFigures total;
  std::vector<HousingAlert> alerts;         // red first
  std::vector<InspectorDay> per_inspector;  // newest day first, at most 200
  std::map<std::string, double> median_minutes;  // form -> median survey length (end - start)
};

enum class AreaLevel { kCounty, kTownship, kVillage };

// Errors: kInvalidArgument for a malformed `within` (not a 12-digit code).
// `within` ("" = the whole scope) narrows to one county or township.
Result<Dashboard> ComputeDashboard(Store& store, const Principal& who, AreaLevel level, const std::string& within);

}  // namespace tianye

#endif  // TIANYE_DASHBOARD_H_
