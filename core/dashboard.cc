#include "tianye/dashboard.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "sqlite.h"
#include "store_impl.h"
#include "sync_internal.h"

namespace tianye {
namespace {

using internal::Connection;
using internal::Stmt;

void AddInto(AreaFigures& to, const AreaFigures& from) {
  to.toilet_records += from.toilet_records;
  to.in_scope += from.in_scope;
  to.sanitary += from.sanitary;
  to.harmless += from.harmless;
  to.problem_households += from.problem_households;
  to.problems += from.problems;
  to.problems_fixed += from.problems_fixed;
  to.overdue += from.overdue;
  to.housing_records += from.housing_records;
  for (const auto& [g, n] : from.grades) to.grades[g] += n;
  to.secured += from.secured;
  to.germplasm_records += from.germplasm_records;
  for (const auto& [c, n] : from.samples) to.samples[c] += n;
  to.at_risk += from.at_risk;
  to.approved += from.approved;
  to.gps_outside += from.gps_outside;
}

}  // namespace

Result<Dashboard> ComputeDashboard(Store& store, const Principal& who, AreaLevel level, const std::string& within) {
  if (!within.empty() && (within.size() != 12 || within.find_first_not_of("0123456789") != std::string::npos)) {
    return Status::InvalidArgument("area is a 12-digit code");
  }
  const std::string key = level == AreaLevel::kCounty     ? "r.county_code"
                          : level == AreaLevel::kTownship ? "r.township_code"
                                                          : "r.village_code";
  // ?1 the user name, ?2 the code prefix of `within` ("%" for all).
  const std::string base = "r.deleted = 0 AND r.status NOT IN ('draft', 'rejected') AND (" +
                           internal::ScopeSql(who, "r", "?1") +
                           ") AND (r.village_code LIKE ?2 OR r.township_code LIKE ?2 OR r.county_code LIKE ?2)";
  const std::string prefix = within.empty() ? "%" : internal::ScopePrefix(within) + "%";
  Connection& conn = internal::StoreAccess::Conn(store);
  auto prepare = [&](const std::string& sql) -> Result<Stmt> {
    TIANYE_ASSIGN_OR_RETURN(Stmt s, conn.Prepare(sql));
    s.Bind(1, who.username).Bind(2, prefix);
    return s;
  };

  // Every figure comes from server_records and the one server_facts row per
  // record the ledger keeps current, never from the answers themselves; one
  // pass over the records in scope gives the per-area figures.
  const std::string from = " FROM server_records r LEFT JOIN server_facts f ON f.record_id = r.record_id WHERE " + base;
  std::map<std::string, AreaFigures> by_area;
  std::map<std::string, std::vector<double>> minutes;  // form -> survey lengths
  {
    TIANYE_ASSIGN_OR_RETURN(
        Stmt s, prepare("SELECT " + key + ", r.form_id, count(*), sum(r.status = 'approved'), "
                        "sum(f.in_scope = '1'), sum(f.is_sanitary = '1'), sum(f.is_harmless = '1'), "
                        "sum(f.problem_found = '1'), sum(round(CAST(f.n_overdue AS REAL))), sum(f.problems), "
                        "sum(f.problems_fixed), sum(f.secured = '1'), sum(round(CAST(f.n_at_risk AS REAL))), "
                        "sum(f.gps_in_area = '0'), sum(f.grade_final = 'A'), sum(f.grade_final = 'B'), "
                        "sum(f.grade_final = 'C'), sum(f.grade_final = 'D'), group_concat(nullif(f.samples, ''), ' '), "
                        "group_concat(f.minutes, ' ')" +
                        from + " GROUP BY 1, 2"));
    while (true) {
      TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      AreaFigures& f = by_area[s.Text(0)];
      const std::string form = s.Text(1);
      const int64_t n = s.Int(2);
      f.approved += s.Int(3);
      f.gps_outside += s.Int(13);
      if (!s.IsNull(19)) {  // survey lengths in whole minutes, for the median per form
        std::istringstream lengths(s.Text(19));
        for (double m; lengths >> m;) minutes[form].push_back(m);
      }
      if (form == "toilet") {
        f.toilet_records += n;
        f.in_scope += s.Int(4);
        f.sanitary += s.Int(5);
        f.harmless += s.Int(6);
        f.problem_households += s.Int(7);
        f.overdue += s.Int(8);
        f.problems += s.Int(9);
        f.problems_fixed += s.Int(10);
      } else if (form == "housing") {
        f.housing_records += n;
        f.secured += s.Int(11);
        const char* grades[] = {"A", "B", "C", "D"};
        for (int g = 0; g < 4; ++g) {
          if (s.Int(14 + g) > 0) f.grades[grades[g]] += s.Int(14 + g);
        }
      } else if (form == "germplasm") {
        f.germplasm_records += n;
        f.at_risk += s.Int(12);
        std::istringstream categories(s.IsNull(18) ? "" : s.Text(18));
        for (std::string c; categories >> c;) ++f.samples[c];
      }
    }
  }
  Dashboard d;
  for (auto& [area, f] : by_area) {
    f.area = area;
    AddInto(d.total, f);
    d.areas.push_back(std::move(f));
  }
  {
    TIANYE_ASSIGN_OR_RETURN(
        // Only C and D houses of low-income households: read those facts
        // first (CROSS JOIN keeps that order), then their records.
        Stmt s, prepare("SELECT r.record_id, r.village_code, f.grade_final, f.temp_housing, f.secured "
                        "FROM server_facts f CROSS JOIN server_records r ON r.record_id = f.record_id "
                        "WHERE f.grade_final IN ('C', 'D') AND f.category IS NOT NULL AND f.category NOT IN "
                        "('', 'none') AND r.form_id = 'housing' AND " + base + " ORDER BY r.village_code, r.record_id"));
    while (true) {
      TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      HousingAlert a{s.Text(0), s.Text(1), s.Text(2), false};
      a.red = a.grade == "D" && s.Text(3) == "stays" && s.Text(4) != "1";
      d.alerts.push_back(std::move(a));
    }
    std::stable_sort(d.alerts.begin(), d.alerts.end(),
                     [](const HousingAlert& x, const HousingAlert& y) { return x.red && !y.red; });
  }
  {
    TIANYE_ASSIGN_OR_RETURN(Stmt s, prepare("SELECT r.author, date(r.created_ms / 1000, 'unixepoch', '+8 hours'), "
                                            "count(*) FROM server_records r WHERE " + base +
                                            " GROUP BY 1, 2 ORDER BY 2 DESC, 1 LIMIT 200"));
    while (true) {
      TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      d.per_inspector.push_back({s.Text(0), s.Text(1), s.Int(2)});
    }
  }
  {
    for (auto& [form, v] : minutes) {
      std::sort(v.begin(), v.end());
      d.median_minutes[form] = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    }
  }
  return d;
}

}  // namespace tianye
