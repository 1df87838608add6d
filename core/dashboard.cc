#include "tianye/dashboard.h"

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <charconv>
#include <deque>
#include <sstream>
#include <string_view>
#include <tuple>

#include "sqlite.h"
#include "store_impl.h"
#include "sync_internal.h"

namespace tianye {
namespace {

using internal::Connection;
using internal::Stmt;

// "YYYY-MM-DD" of a day counted from 1970-01-01.
std::string DayText(int64_t days) {
  const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{days}}};
  char out[16];
  std::snprintf(out, sizeof out, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()));
  return out;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// The per-area figures, each one aggregate over the records of one form in
// an area (r: server_records, f: server_facts); kAny: of every form. One
// query per form computes only that form's figures (and the common ones),
// reading only that form's records (server_records_by_form_area).
const char kToilet[] = "toilet";
const char kHousing[] = "housing";
const char kGermplasm[] = "germplasm";
const char* const kAny = nullptr;
// A text fact holding a number that was answered ('' casts to 0).
#define TIANYE_NUMBER(fact) "(coalesce(" fact ", '') != '' AND CAST(" fact " AS REAL)"

struct CountSpec {
  const char* form;
  const char* sql;
  int64_t AreaFigures::*member;
};
const CountSpec kCounts[] = {
    {kToilet, "count(*)", &AreaFigures::toilet_records},
    {kToilet, "sum(f.in_scope = '1')", &AreaFigures::in_scope},
    {kToilet, "sum(f.is_sanitary = '1')", &AreaFigures::sanitary},
    {kToilet, "sum(f.is_harmless = '1')", &AreaFigures::harmless},
    {kToilet, "sum(f.renovated = 'yes')", &AreaFigures::renovated},
    {kToilet, "sum(f.renovated = 'yes' AND f.in_use = 'normal')", &AreaFigures::in_use_normal},
    {kToilet, "sum(f.problem_found = '1')", &AreaFigures::problem_households},
    {kToilet, "sum(f.problem_found = '1' AND f.problem_open = '0')", &AreaFigures::problem_cleared},
    {kToilet, "sum(f.problems)", &AreaFigures::problems},
    {kToilet, "sum(f.problems_fixed)", &AreaFigures::problems_fixed},
    {kToilet, "sum(f.fixed_on_time)", &AreaFigures::fixed_on_time},
    {kToilet, "sum(round(CAST(f.n_overdue AS REAL)))", &AreaFigures::overdue},
    {kToilet, "sum(f.froze = 'yes')", &AreaFigures::frozen},
    {kToilet, "sum(f.has_toilet = 'yes')", &AreaFigures::with_toilet},
    {kToilet,
     "sum(f.has_toilet = 'yes' AND f.emptying_mode IN ('village', 'paid_service', 'not_needed') AND "
     "coalesce(f.manure_fate, '') NOT IN ('dumped', 'field_raw'))",
     &AreaFigures::manure_managed},
    {kToilet, "sum(f.renovated = 'yes' AND f.old_latrine IN ('demolished', 'none'))", &AreaFigures::old_latrine_cleared},
    {kToilet, "sum(coalesce(f.satisfaction, '') != '')", &AreaFigures::satisfaction_answered},
    {kToilet, "sum(f.satisfaction IN ('satisfied', 'basic'))", &AreaFigures::satisfied},
    {kToilet, "sum(coalesce(f.subsidy_yuan, '') != '')", &AreaFigures::subsidy_answered},
    {kHousing, "count(*)", &AreaFigures::housing_records},
    {kHousing, "sum(f.no_house = 'yes')", &AreaFigures::no_house},
    {kHousing, "sum(f.secured = '1')", &AreaFigures::secured},
    {kHousing, "sum(f.new_danger = '1')", &AreaFigures::new_danger},
    {kHousing, "sum(f.seismic_focus = '1')", &AreaFigures::seismic_focus},
    {kHousing, "sum(f.seismic_focus = '1' AND f.dm_final = 'full')", &AreaFigures::seismic_full},
    {kHousing, "sum(f.seismic_focus = '1' AND f.dm_final = 'none')", &AreaFigures::seismic_none},
    {kHousing, "sum(f.structure IN ('earth_wood', 'brick_earth', 'cave_earth'))", &AreaFigures::high_risk_structure},
    {kHousing, "sum(f.age_over_30 = '1')", &AreaFigures::over_30_years},
    {kHousing, "sum(f.site_safety = 'dangerous')", &AreaFigures::site_dangerous},
    {kHousing, "sum(f.grade_calc != '' AND f.grade_final != '' AND f.grade_final != f.grade_calc)",
     &AreaFigures::grade_overridden},
    {kGermplasm, "count(*)", &AreaFigures::germplasm_records},
    {kGermplasm, "sum(round(CAST(f.n_at_risk AS REAL)))", &AreaFigures::at_risk},
    {kGermplasm, "sum(f.landrace_wild)", &AreaFigures::landrace_wild},
    {kGermplasm, "sum(f.deposited)", &AreaFigures::deposited},
    {kGermplasm, "sum(f.samples_complete * " TIANYE_NUMBER("f.gps_acc") " <= 10))", &AreaFigures::samples_complete},
    {kGermplasm, "count(DISTINCT r.township_code)", &AreaFigures::townships_visited},
    {kAny, "sum(r.status = 'approved')", &AreaFigures::approved},
    {kAny, "sum(f.gps_in_area = '0')", &AreaFigures::gps_outside},
    {kAny, "sum(" TIANYE_NUMBER("f.gps_acc") " > 50))", &AreaFigures::gps_inaccurate},
    {kAny, "sum(r.form_id IN ('toilet', 'housing') AND f.minutes < 5)", &AreaFigures::short_surveys},
    {kAny, "sum(r.checked_version = r.version AND r.form_problems > 0)", &AreaFigures::form_problems},
};

struct SumSpec {
  const char* form;
  const char* sql;
  double AreaFigures::*member;
};
const SumSpec kSums[] = {
    {kToilet, "total(CAST(f.subsidy_yuan AS REAL))", &AreaFigures::subsidy_yuan},
    {kToilet, "total(CAST(f.hh_paid_yuan AS REAL))", &AreaFigures::paid_yuan},
};

// Distributions: the space-separated values of one fact (a select_multiple
// or a list per sample gives several), counted per value, of the records
// that meet `only` too.
struct TallySpec {
  const char* form;
  const char* fact;
  std::map<std::string, int64_t> AreaFigures::*member;
  const char* only = nullptr;
};
const TallySpec kTallies[] = {
    {kToilet, "f.toilet_type", &AreaFigures::sanitary_types, "f.is_sanitary = '1'"},
    {kHousing, "f.grade_final", &AreaFigures::grades},
    {kHousing, "f.category", &AreaFigures::danger_by_category, "f.grade_final IN ('C', 'D')"},
    {kHousing, "f.structure", &AreaFigures::danger_by_structure, "f.grade_final IN ('C', 'D')"},
    {kHousing, "f.measure_status", &AreaFigures::measures},
    {kHousing, "f.site_hazards", &AreaFigures::hazards, "f.site_safety = 'dangerous'"},
    {kGermplasm, "f.samples", &AreaFigures::samples},
    {kGermplasm, "f.traits", &AreaFigures::traits},
};

// Whether a spec for `form` (kAny: every form) belongs in the query of the
// records of form `part`.
bool InPart(const char* form, const std::string& part) { return form == kAny || part == form; }

void AddInto(AreaFigures& to, const AreaFigures& from) {
  for (const CountSpec& c : kCounts) to.*c.member += from.*c.member;
  for (const SumSpec& c : kSums) to.*c.member += from.*c.member;
  for (const TallySpec& t : kTallies) {
    for (const auto& [value, n] : from.*t.member) (to.*t.member)[value] += n;
  }
}

// What one record adds to the figures that are not per area: who made it
// and when, its survey length, sync lag and the days to finish the work, the
// household it names. Views into the query's text, kept by the caller.
struct RecordLine {
  std::string_view form, author, hh_key, round, record_id;
  int64_t day = 0;  // China time, days since 1970
  std::optional<int64_t> minutes, sync_minutes, done_days;
  bool gps_outside = false, overridden = false;
};

// One line per record, fields separated by char(31): author, day, minutes,
// minutes to the server, days to done, flags (1: GPS outside the area, 2:
// grade overridden), household key, round, record id. Whole numbers only:
// turning a REAL into text costs more than the rest of the line.
const char kRecordLineSql[] =
    "group_concat(r.author || char(31) || ((r.created_ms + 28800000) / 86400000) || char(31) || "
    "coalesce(CAST(f.minutes AS INTEGER), '') || char(31) || coalesce((r.created_ms - f.end_ms) / 60000, '') || "
    "char(31) || coalesce(CAST(f.done_days AS INTEGER), '') || char(31) || ((coalesce(f.gps_in_area, '') = '0') + "
    "2 * (coalesce(f.grade_calc, '') != '' AND coalesce(f.grade_final, '') != '' AND f.grade_final != f.grade_calc)) "
    "|| char(31) || coalesce(f.hh_key, '') || char(31) || coalesce(f.round, '') || char(31) || r.record_id, char(10))";

std::optional<int64_t> WholeNumber(std::string_view text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

std::optional<RecordLine> ParseRecordLine(std::string_view form, std::string_view line) {
  std::string_view parts[9];
  size_t n = 0;
  for (size_t from = 0;; ++n) {
    size_t sep = line.find('\x1f', from);
    if (n == 9) return std::nullopt;  // an author or key with char(31) in it: left out
    parts[n] = line.substr(from, sep == std::string_view::npos ? std::string_view::npos : sep - from);
    if (sep == std::string_view::npos) break;
    from = sep + 1;
  }
  if (n != 8) return std::nullopt;
  RecordLine r{form, parts[0], parts[6], parts[7], parts[8]};
  r.day = WholeNumber(parts[1]).value_or(0);
  r.minutes = WholeNumber(parts[2]);
  r.sync_minutes = WholeNumber(parts[3]);
  r.done_days = WholeNumber(parts[4]);
  const int64_t flags = WholeNumber(parts[5]).value_or(0);
  r.gps_outside = flags & 1;
  r.overridden = flags & 2;
  return r;
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
  // pass over the records in scope gives the per-area figures and a line per
  // record for the per-inspector, per-month and median figures.
  const std::string from = " FROM server_records r LEFT JOIN server_facts f ON f.record_id = r.record_id WHERE " + base;
  std::map<std::string, AreaFigures> by_area;
  std::deque<std::string> texts;  // what `lines` point into
  std::vector<RecordLine> lines;
  {
    // Grouped by the area columns in the order of server_records_by_area,
    // so SQLite reads the records in that index's order and keeps one group
    // at a time instead of sorting every record.
    const char* group = level == AreaLevel::kCounty     ? "r.county_code"
                        : level == AreaLevel::kTownship ? "r.county_code, r.township_code"
                                                        : "r.county_code, r.township_code, r.village_code";
    std::vector<std::string> forms;
    {
      TIANYE_ASSIGN_OR_RETURN(Stmt s, conn.Prepare("SELECT DISTINCT form_id FROM server_records"));
      while (true) {
        TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        forms.push_back(s.Text(0));
      }
    }
    for (const std::string& part : forms) {
      std::string select = "SELECT " + key + ", " + kRecordLineSql;
      for (const CountSpec& c : kCounts) {
        if (InPart(c.form, part)) select += std::string(", ") + c.sql;
      }
      for (const SumSpec& c : kSums) {
        if (InPart(c.form, part)) select += std::string(", ") + c.sql;
      }
      for (const TallySpec& t : kTallies) {
        if (!InPart(t.form, part)) continue;
        select += ", group_concat(nullif(" + std::string(t.fact) + ", ''), ' ')";
        if (t.only) select += std::string(" FILTER (WHERE ") + t.only + ")";
      }
      TIANYE_ASSIGN_OR_RETURN(Stmt s, prepare(select + from + " AND r.form_id = ?3 GROUP BY " + group));
      s.Bind(3, part);

      while (true) {
        TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        AreaFigures& f = by_area[s.Text(0)];
        if (!s.IsNull(1)) {
          const std::string_view form = texts.emplace_back(part);
          const std::string_view made = texts.emplace_back(s.Text(1));
          for (size_t at = 0; at <= made.size();) {
            size_t end = std::min(made.find('\n', at), made.size());
            if (std::optional<RecordLine> r = ParseRecordLine(form, made.substr(at, end - at))) lines.push_back(*r);
            at = end + 1;
          }
        }
        int col = 2;
        for (const CountSpec& c : kCounts) {
          if (InPart(c.form, part)) f.*c.member += s.Int(col++);
        }
        for (const SumSpec& c : kSums) {
          if (InPart(c.form, part)) f.*c.member += s.Double(col++);
        }
        for (const TallySpec& t : kTallies) {
          if (!InPart(t.form, part)) continue;
          std::istringstream values(s.IsNull(col) ? "" : s.Text(col));
          ++col;
          for (std::string v; values >> v;) ++(f.*t.member)[v];
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
  // (-day, author) -> records made: the newest day first, then by name
  std::map<std::pair<int64_t, std::string_view>, int64_t> per_day;
  std::map<std::pair<int64_t, std::string_view>, int64_t> per_day_form;
  std::map<std::string_view, InspectorFigures> inspectors;
  std::map<std::string_view, std::vector<double>> minutes, sync_hours;  // form -> values
  std::vector<double> done_days;
  // Households recorded more than once (housing: in the same round). A
  // household number left empty makes a key ending in '-': not counted.
  std::map<std::tuple<std::string_view, std::string_view, std::string_view>, std::vector<std::string_view>> households;
  for (const RecordLine& r : lines) {
    if (!r.hh_key.empty() && r.hh_key.back() != '-') households[{r.form, r.hh_key, r.round}].push_back(r.record_id);
    ++per_day[{-r.day, r.author}];
    ++per_day_form[{r.day, r.form}];
    InspectorFigures& i = inspectors[r.author];
    ++i.records;
    i.short_surveys += (r.form == "toilet" || r.form == "housing") && r.minutes && *r.minutes < 5;
    i.gps_outside += r.gps_outside;
    i.housing_records += r.form == "housing";
    i.grade_overridden += r.overridden;
    if (r.minutes) minutes[r.form].push_back(static_cast<double>(*r.minutes));
    if (r.sync_minutes) sync_hours[r.form].push_back(static_cast<double>(*r.sync_minutes) / 60);
    if (r.done_days && r.form == "housing") done_days.push_back(static_cast<double>(*r.done_days));
  }
  for (const auto& [day_author, n] : per_day) {
    if (d.per_inspector.size() == 200) break;
    d.per_inspector.push_back({std::string(day_author.second), DayText(-day_author.first), n});
  }
  for (const auto& [day_form, n] : per_day_form) {
    d.per_month[DayText(day_form.first).substr(0, 7)][std::string(day_form.second)] += n;
  }
  for (auto& [author, i] : inspectors) {
    i.author = author;
    d.inspectors.push_back(std::move(i));
  }
  for (auto& [k, ids] : households) {
    if (ids.size() < 2) continue;
    if (d.duplicates.size() == 200) break;
    std::sort(ids.begin(), ids.end());
    d.duplicates.push_back({std::string(std::get<0>(k)), std::string(std::get<1>(k)), std::string(std::get<2>(k)),
                            std::vector<std::string>(ids.begin(), ids.end())});
  }
  for (auto& [form, v] : minutes) d.median_minutes[std::string(form)] = Median(std::move(v));
  for (auto& [form, v] : sync_hours) d.median_sync_hours[std::string(form)] = Median(std::move(v));
  if (!done_days.empty()) d.median_days_to_done = Median(std::move(done_days));
  return d;
}

}  // namespace tianye
