#include "tianye/dashboard.h"

#include <algorithm>
#include <cmath>

#include "sqlite.h"
#include "store_impl.h"
#include "sync_internal.h"

namespace tianye {
namespace {

using internal::Connection;
using internal::Stmt;

// A repeat row's field "problems[i3]/prob_status" as "problems/prob_status".
std::string WithoutInstance(const std::string& field) {
  size_t open = field.find('[');
  size_t close = field.find(']');
  if (open == std::string::npos || close == std::string::npos || close < open) return field;
  return field.substr(0, open) + field.substr(close + 1);
}

int64_t Number(const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  return end != text.c_str() && std::isfinite(v) ? static_cast<int64_t>(std::llround(v)) : 0;
}

void Add(AreaFigures& f, const std::string& form, const std::string& field, const std::string& value, int64_t n) {
  if (field == "gps_in_area" && value == "0") f.gps_outside += n;
  if (form == "toilet") {
    if (field == "in_scope" && value == "1") f.in_scope += n;
    if (field == "is_sanitary" && value == "1") f.sanitary += n;
    if (field == "is_harmless" && value == "1") f.harmless += n;
    if (field == "problem_found" && value == "1") f.problem_households += n;
    if (field == "n_overdue") f.overdue += Number(value) * n;
    if (field == "problems/prob_status") {
      f.problems += n;
      if (value == "fixed") f.problems_fixed += n;
    }
  } else if (form == "housing") {
    if (field == "grade_final") f.grades[value] += n;
    if (field == "secured" && value == "1") f.secured += n;
  } else if (form == "germplasm") {
    if (field == "sample/res_cat") f.samples[value] += n;
    if (field == "n_at_risk") f.at_risk += Number(value) * n;
  }
}

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

  std::map<std::string, AreaFigures> by_area;
  {
    TIANYE_ASSIGN_OR_RETURN(Stmt s, prepare("SELECT " + key + ", r.form_id, count(*), sum(r.status = 'approved') "
                                            "FROM server_records r WHERE " + base + " GROUP BY 1, 2"));
    while (true) {
      TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      AreaFigures& f = by_area[s.Text(0)];
      const std::string form = s.Text(1);
      int64_t n = s.Int(2);
      if (form == "toilet") f.toilet_records += n;
      if (form == "housing") f.housing_records += n;
      if (form == "germplasm") f.germplasm_records += n;
      f.approved += s.Int(3);
    }
  }
  {
    TIANYE_ASSIGN_OR_RETURN(
        Stmt s, prepare("SELECT " + key + ", r.form_id, f.field, f.value, count(*) FROM server_records r "
                        "JOIN server_fields f ON f.record_id = r.record_id WHERE " + base +
                        " AND (f.field IN ('in_scope', 'is_sanitary', 'is_harmless', 'problem_found', 'n_overdue', "
                        "'grade_final', 'secured', 'n_at_risk', 'gps_in_area') "
                        "OR f.field LIKE 'problems[%]/prob\\_status' ESCAPE '\\' "
                        "OR f.field LIKE 'sample[%]/res\\_cat' ESCAPE '\\') AND f.value IS NOT NULL "
                        "GROUP BY 1, 2, 3, 4"));
    while (true) {
      TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      Add(by_area[s.Text(0)], s.Text(1), WithoutInstance(s.Text(2)), s.Text(3), s.Int(4));
    }
  }
  Dashboard d;
  for (auto& [area, f] : by_area) {
    f.area = area;
    AddInto(d.total, f);
    d.areas.push_back(std::move(f));
  }

  {
    auto pick = [](const char* field) {
      return std::string("max(CASE WHEN f.field = '") + field + "' THEN f.value END)";
    };
    TIANYE_ASSIGN_OR_RETURN(
        Stmt s, prepare("SELECT r.record_id, r.village_code, " + pick("grade_final") + " AS g, " + pick("category") +
                        " AS c, " + pick("temp_housing") + ", " + pick("secured") +
                        " FROM server_records r JOIN server_fields f ON f.record_id = r.record_id WHERE " + base +
                        " AND r.form_id = 'housing' AND f.field IN ('grade_final', 'category', 'temp_housing', "
                        "'secured') GROUP BY r.record_id HAVING g IN ('C', 'D') AND c IS NOT NULL AND c NOT IN "
                        "('', 'none') ORDER BY r.village_code, r.record_id"));
    while (true) {
      TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      HousingAlert a{s.Text(0), s.Text(1), s.Text(2), false};
      a.red = a.grade == "D" && s.Text(4) == "stays" && s.Text(5) != "1";
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
    TIANYE_ASSIGN_OR_RETURN(
        Stmt s, prepare("SELECT r.form_id, round((julianday(e.value) - julianday(b.value)) * 1440.0) FROM server_records r "
                        "JOIN server_fields b ON b.record_id = r.record_id AND b.field = 'start' "
                        "JOIN server_fields e ON e.record_id = r.record_id AND e.field = 'end' WHERE " + base));
    std::map<std::string, std::vector<double>> minutes;  // whole minutes
    while (true) {
      TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      if (s.IsNull(1)) continue;  // not a time
      minutes[s.Text(0)].push_back(static_cast<double>(s.Int(1)));
    }
    for (auto& [form, v] : minutes) {
      std::sort(v.begin(), v.end());
      d.median_minutes[form] = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    }
  }
  return d;
}

}  // namespace tianye
