#include "tianye/dashboard.h"

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
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

// "YYYY-MM-DD" of a day counted from 1970-01-01.
std::string DayText(int64_t days) {
  const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{days}}};
  char out[16];
  std::snprintf(out, sizeof out, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()));
  return out;
}

}  // namespace

Result<Dashboard> ComputeDashboard(Store& store, const Principal& who, AreaLevel level, const std::string& within) {
  if (!within.empty() && (within.size() != 12 || within.find_first_not_of("0123456789") != std::string::npos)) {
    return Status::InvalidArgument("area is a 12-digit code");
  }
  const std::string key = level == AreaLevel::kCounty     ? "r.county_code"
                          : level == AreaLevel::kTownship ? "r.township_code"
                                                          : "r.village_code";
  // ?1 the user name, ?2 the code prefix of `within` (named even when
  // unused, so that binding it stays valid).
  std::string base = "r.deleted = 0 AND r.status NOT IN ('draft', 'rejected') AND (" +
                     internal::ScopeSql(who, "r", "?1") + ") AND ?2 IS NOT NULL";
  if (!within.empty()) base += " AND (r.village_code LIKE ?2 OR r.township_code LIKE ?2 OR r.county_code LIKE ?2)";
  const std::string prefix = within.empty() ? "%" : internal::ScopePrefix(within) + "%";
  Connection& conn = internal::StoreAccess::Conn(store);
  auto prepare = [&](const std::string& sql) -> Result<Stmt> {
    TIANYE_ASSIGN_OR_RETURN(Stmt s, conn.Prepare(sql));
    s.Bind(1, who.username).Bind(2, prefix);
    return s;
  };

  // Every figure comes from server_records and the one server_facts row per
  // record the ledger keeps current, never from the answers themselves; one
  // pass over the records in scope gives the per-area figures, the survey
  // lengths and the records per inspector per day.
  const std::string from = " FROM server_records r LEFT JOIN server_facts f ON f.record_id = r.record_id WHERE " + base;
  std::map<std::string, AreaFigures> by_area;
  std::map<std::string, std::vector<double>> minutes;  // form -> survey lengths
  // (-day, author) -> records made: the newest day first, then by name
  std::map<std::pair<int64_t, std::string>, int64_t> per_day;
  {
    // Grouped by the area columns in the order of server_records_by_area,
    // so SQLite reads the records in that index's order and keeps one group
    // at a time instead of sorting every record; the forms are told apart
    // by FILTER clauses.
    const char* group = level == AreaLevel::kCounty     ? "r.county_code"
                        : level == AreaLevel::kTownship ? "r.county_code, r.township_code"
                                                        : "r.county_code, r.township_code, r.village_code";
    const std::string toilet = " FILTER (WHERE r.form_id = 'toilet'), ";
    const std::string housing = " FILTER (WHERE r.form_id = 'housing'), ";
    const std::string germplasm = " FILTER (WHERE r.form_id = 'germplasm'), ";
    TIANYE_ASSIGN_OR_RETURN(
        Stmt s, prepare("SELECT " + key + ", sum(r.status = 'approved'), sum(f.gps_in_area = '0'), "
                        "group_concat(r.form_id || ' ' || f.minutes, ' '), "  // 3: form and survey length pairs
                        "count(*)" + toilet + "sum(f.in_scope = '1')" + toilet + "sum(f.is_sanitary = '1')" + toilet +
                        "sum(f.is_harmless = '1')" + toilet + "sum(f.problem_found = '1')" + toilet +
                        "sum(round(CAST(f.n_overdue AS REAL)))" + toilet + "sum(f.problems)" + toilet +
                        "sum(f.problems_fixed)" + toilet +                                  // 4..11
                        "count(*)" + housing + "sum(f.secured = '1')" + housing + "sum(f.grade_final = 'A')" +
                        housing + "sum(f.grade_final = 'B')" + housing + "sum(f.grade_final = 'C')" + housing +
                        "sum(f.grade_final = 'D')" + housing +                              // 12..17
                        "count(*)" + germplasm + "sum(round(CAST(f.n_at_risk AS REAL)))" + germplasm +
                        "group_concat(nullif(f.samples, ''), ' ')" + germplasm +            // 18..20
                        // 21: each record's author and day of creation (Beijing time, days since 1970)
                        "group_concat(r.author || char(31) || ((r.created_ms + 28800000) / 86400000), char(10))" +
                        from + " GROUP BY " + group));
    while (true) {
      TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      AreaFigures& f = by_area[s.Text(0)];
      f.approved += s.Int(1);
      f.gps_outside += s.Int(2);
      std::istringstream lengths(s.IsNull(3) ? "" : s.Text(3));  // survey lengths in whole minutes
      std::string form;
      for (double m; lengths >> form >> m;) minutes[form].push_back(m);
      f.toilet_records += s.Int(4);
      f.in_scope += s.Int(5);
      f.sanitary += s.Int(6);
      f.harmless += s.Int(7);
      f.problem_households += s.Int(8);
      f.overdue += s.Int(9);
      f.problems += s.Int(10);
      f.problems_fixed += s.Int(11);
      f.housing_records += s.Int(12);
      f.secured += s.Int(13);
      const char* grades[] = {"A", "B", "C", "D"};
      for (int g = 0; g < 4; ++g) {
        if (s.Int(14 + g) > 0) f.grades[grades[g]] += s.Int(14 + g);
      }
      f.germplasm_records += s.Int(18);
      f.at_risk += s.Int(19);
      std::istringstream categories(s.IsNull(20) ? "" : s.Text(20));
      for (std::string c; categories >> c;) ++f.samples[c];
      if (!s.IsNull(21)) {
        std::istringstream made(s.Text(21));
        for (std::string line; std::getline(made, line);) {
          size_t sep = line.find('\x1f');
          if (sep != std::string::npos) ++per_day[{-std::stoll(line.substr(sep + 1)), line.substr(0, sep)}];
        }
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
  for (const auto& [day_author, n] : per_day) {
    if (d.per_inspector.size() == 200) break;
    d.per_inspector.push_back({day_author.second, DayText(-day_author.first), n});
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
