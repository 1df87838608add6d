#include "tianye/dashboard.h"

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
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
// an area (f: server_facts, which holds the record's own columns too); kAny:
// of every form. One query per form computes only that form's figures (and
// the common ones), reading only that form's range of server_facts.
//
// The SQL is the same for both stores but for NUM(column): an answer that
// holds a number, as a number, NULL when unanswered (SQLite keeps the text
// answered, PostgreSQL the number: see core/facts.h). Portable().
const char kToilet[] = "toilet";
const char kHousing[] = "housing";
const char kGermplasm[] = "germplasm";
const char* const kAny = nullptr;
// The records that meet a condition.
#define TIANYE_COUNT(condition) "count(*) FILTER (WHERE " condition ")"

struct CountSpec {
  const char* form;
  const char* sql;
  int64_t AreaFigures::*member;
};
const CountSpec kCounts[] = {
    {kToilet, "count(*)", &AreaFigures::toilet_records},
    {kToilet, TIANYE_COUNT("f.in_scope = '1'"), &AreaFigures::in_scope},
    {kToilet, TIANYE_COUNT("f.is_sanitary = '1'"), &AreaFigures::sanitary},
    {kToilet, TIANYE_COUNT("f.is_harmless = '1'"), &AreaFigures::harmless},
    {kToilet, TIANYE_COUNT("f.renovated = 'yes'"), &AreaFigures::renovated},
    {kToilet, TIANYE_COUNT("f.renovated = 'yes' AND f.in_use = 'normal'"), &AreaFigures::in_use_normal},
    {kToilet, TIANYE_COUNT("f.problem_found = '1'"), &AreaFigures::problem_households},
    {kToilet, TIANYE_COUNT("f.problem_found = '1' AND f.problem_open = '0'"), &AreaFigures::problem_cleared},
    {kToilet, "sum(f.problems)", &AreaFigures::problems},
    {kToilet, "sum(f.problems_fixed)", &AreaFigures::problems_fixed},
    {kToilet, "sum(f.fixed_on_time)", &AreaFigures::fixed_on_time},
    {kToilet, "sum(round(NUM(f.n_overdue)))", &AreaFigures::overdue},
    {kToilet, TIANYE_COUNT("f.froze = 'yes'"), &AreaFigures::frozen},
    {kToilet, TIANYE_COUNT("f.has_toilet = 'yes'"), &AreaFigures::with_toilet},
    {kToilet,
     TIANYE_COUNT("f.has_toilet = 'yes' AND f.emptying_mode IN ('village', 'paid_service', 'not_needed') AND "
                  "coalesce(f.manure_fate, '') NOT IN ('dumped', 'field_raw')"),
     &AreaFigures::manure_managed},
    {kToilet, TIANYE_COUNT("f.renovated = 'yes' AND f.old_latrine IN ('demolished', 'none')"),
     &AreaFigures::old_latrine_cleared},
    {kToilet, TIANYE_COUNT("f.satisfaction != ''"), &AreaFigures::satisfaction_answered},
    {kToilet, TIANYE_COUNT("f.satisfaction IN ('satisfied', 'basic')"), &AreaFigures::satisfied},
    {kToilet, TIANYE_COUNT("NUM(f.subsidy_yuan) IS NOT NULL"), &AreaFigures::subsidy_answered},
    {kHousing, "count(*)", &AreaFigures::housing_records},
    {kHousing, TIANYE_COUNT("f.no_house = 'yes'"), &AreaFigures::no_house},
    {kHousing, TIANYE_COUNT("f.secured = '1'"), &AreaFigures::secured},
    {kHousing, TIANYE_COUNT("f.new_danger = '1'"), &AreaFigures::new_danger},
    {kHousing, TIANYE_COUNT("f.seismic_focus = '1'"), &AreaFigures::seismic_focus},
    {kHousing, TIANYE_COUNT("f.seismic_focus = '1' AND f.dm_final = 'full'"), &AreaFigures::seismic_full},
    {kHousing, TIANYE_COUNT("f.seismic_focus = '1' AND f.dm_final = 'none'"), &AreaFigures::seismic_none},
    {kHousing, TIANYE_COUNT("f.structure IN ('earth_wood', 'brick_earth', 'cave_earth')"),
     &AreaFigures::high_risk_structure},
    {kHousing, TIANYE_COUNT("f.age_over_30 = '1'"), &AreaFigures::over_30_years},
    {kHousing, TIANYE_COUNT("f.site_safety = 'dangerous'"), &AreaFigures::site_dangerous},
    {kHousing, TIANYE_COUNT("f.grade_calc != '' AND f.grade_final != '' AND f.grade_final != f.grade_calc"),
     &AreaFigures::grade_overridden},
    {kGermplasm, "count(*)", &AreaFigures::germplasm_records},
    {kGermplasm, "sum(round(NUM(f.n_at_risk)))", &AreaFigures::at_risk},
    {kGermplasm, "sum(f.landrace_wild)", &AreaFigures::landrace_wild},
    {kGermplasm, "sum(f.deposited)", &AreaFigures::deposited},
    {kGermplasm, "sum(f.samples_complete) FILTER (WHERE NUM(f.gps_acc) <= 10)", &AreaFigures::samples_complete},
    {kGermplasm, "count(DISTINCT f.township_code)", &AreaFigures::townships_visited},
    {kAny, TIANYE_COUNT("f.status = 'approved'"), &AreaFigures::approved},
    {kAny, TIANYE_COUNT("f.gps_in_area = '0'"), &AreaFigures::gps_outside},
    {kAny, TIANYE_COUNT("NUM(f.gps_acc) > 50"), &AreaFigures::gps_inaccurate},
    {kAny, TIANYE_COUNT("f.form_id IN ('toilet', 'housing') AND f.minutes < 5"), &AreaFigures::short_surveys},
    {kAny, TIANYE_COUNT("f.form_problems > 0"), &AreaFigures::form_problems},
    {kAny, TIANYE_COUNT("f.photos_missing > 0"), &AreaFigures::photos_missing},
};

struct SumSpec {
  const char* form;
  const char* sql;
  double AreaFigures::*member;
};
const SumSpec kSums[] = {
    {kToilet, "coalesce(sum(NUM(f.subsidy_yuan)), 0)", &AreaFigures::subsidy_yuan},
    {kToilet, "coalesce(sum(NUM(f.hh_paid_yuan)), 0)", &AreaFigures::paid_yuan},
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

// `sql` for the store: NUM(column) spelled out (see kCounts).
std::string Portable(std::string sql, internal::Dialect dialect) {
  for (size_t at = sql.find("NUM("); at != std::string::npos; at = sql.find("NUM(", at)) {
    const size_t close = sql.find(')', at);
    const std::string column = sql.substr(at + 4, close - at - 4);
    const std::string number =
        dialect == internal::Dialect::kSqlite ? "CAST(nullif(" + column + ", '') AS REAL)" : column;
    sql.replace(at, close + 1 - at, number);
    at += number.size();
  }
  return sql;
}

// The aggregate joining a column's non-empty values with spaces.
std::string JoinSql(const std::string& column, internal::Dialect dialect) {
  return std::string(dialect == internal::Dialect::kSqlite ? "group_concat" : "string_agg") + "(nullif(" + column +
         ", ''), ' ')";
}

void AddInto(AreaFigures& to, const AreaFigures& from) {
  for (const CountSpec& c : kCounts) to.*c.member += from.*c.member;
  for (const SumSpec& c : kSums) to.*c.member += from.*c.member;
  for (const TallySpec& t : kTallies) {
    for (const auto& [value, n] : from.*t.member) (to.*t.member)[value] += n;
  }
}

// The figures that are not per area (per inspector, day and month, the
// medians, households recorded twice), gathered record by record while the
// per-area query runs: it calls tianye_dashboard_record() once per record,
// which hands the record's values to the Records of this computation
// (cheaper than building a line of text per record and parsing it again).
class Records {
 public:
  void SetForm(const std::string& form) { form_ = form; }
  // The China day (days since 1970-01-01 in UTC+8) this year began on.
  void SetYearStart(int64_t day) { year_start_ = day; }

  void Add(std::string_view area, std::string author, int64_t day, std::optional<int64_t> minutes,
           std::optional<int64_t> sync_minutes, std::optional<int64_t> done_days, int64_t flags, std::string_view hh_key,
           std::string_view round, std::string_view record_id) {
    // A household number left empty makes a key ending in '-': not counted.
    const bool household = !hh_key.empty() && hh_key.back() != '-';
    if (household && (flags & 4) != 0 && form_ == "toilet") {  // B3: the toilet question answered
      if (areas_.empty() || area != areas_.back()) areas_.emplace_back(area);
      const uint64_t h = std::hash<std::string_view>()(hh_key);
      inspected_.emplace_back(static_cast<uint32_t>(areas_.size() - 1), h);
    }
    ++per_day_[{-day, author}];
    ++per_day_form_[{day, form_}];
    InspectorFigures& i = inspectors_[std::move(author)];
    ++i.records;
    const bool surveyed = form_ == "toilet" || form_ == "housing";
    i.short_surveys += surveyed && minutes && *minutes < 5;
    i.gps_outside += (flags & 1) != 0;
    i.housing_records += form_ == "housing";
    i.grade_overridden += (flags & 2) != 0;
    if (minutes) minutes_[form_].push_back(static_cast<double>(*minutes));
    if (sync_minutes) sync_hours_[form_].push_back(static_cast<double>(*sync_minutes) / 60);
    if (done_days && form_ == "housing") done_days_.push_back(static_cast<double>(*done_days));
    if (household && form_ == "housing" && day >= year_start_) {  // C1
      assessed_.push_back(std::hash<std::string_view>()(hh_key));
    }
    if (household) {
      // "form\x1fhh_key\x1fround" then the record id, in one arena: no
      // allocation per record (this runs 100,000 times).
      Visit v;
      v.key_at = static_cast<uint32_t>(arena_.size());
      arena_.append(form_).append(1, '\x1f').append(hh_key).append(1, '\x1f').append(round);
      v.key_size = static_cast<uint32_t>(arena_.size() - v.key_at);
      arena_.append(record_id);
      v.id_size = static_cast<uint32_t>(record_id.size());
      v.hash = std::hash<std::string_view>()(Key(v));
      visits_.push_back(v);
    }
  }

  // Households inspected (B3) per area, and in the whole scope (a household
  // in two areas counts once there). Told apart by a 64-bit hash of the
  // key: two households would need the same hash to count as one.
  std::map<std::string, int64_t> Inspected(int64_t* all) {
    std::sort(inspected_.begin(), inspected_.end());
    inspected_.erase(std::unique(inspected_.begin(), inspected_.end()), inspected_.end());
    std::map<std::string, int64_t> per_area;
    std::vector<uint64_t> keys;
    for (const auto& [area, h] : inspected_) {
      ++per_area[areas_[area]];
      keys.push_back(h);
    }
    std::sort(keys.begin(), keys.end());
    *all = std::unique(keys.begin(), keys.end()) - keys.begin();
    return per_area;
  }

  // Whether a housing record of this year names household `hh_key` (C1),
  // told by a 64-bit hash of the key as in Inspected().
  bool AssessedThisYear(std::string_view hh_key) {
    if (!assessed_sorted_) {
      std::sort(assessed_.begin(), assessed_.end());
      assessed_sorted_ = true;
    }
    return std::binary_search(assessed_.begin(), assessed_.end(), std::hash<std::string_view>()(hh_key));
  }

  void Into(Dashboard& d) {
    for (const auto& [day_author, n] : per_day_) {
      if (d.per_inspector.size() == 200) break;
      d.per_inspector.push_back({day_author.second, DayText(-day_author.first), n});
    }
    for (const auto& [day_form, n] : per_day_form_) d.per_month[DayText(day_form.first).substr(0, 7)][day_form.second] += n;
    for (auto& [author, i] : inspectors_) {
      i.author = author;
      d.inspectors.push_back(std::move(i));
    }
    // Housing keys carry their round, so a household visited again in a
    // later round is not a duplicate. Visits sorted by key (by hash first:
    // cheap, and equal keys end up next to each other).
    std::sort(visits_.begin(), visits_.end(), [&](const Visit& x, const Visit& y) {
      if (x.hash != y.hash) return x.hash < y.hash;
      if (Key(x) != Key(y)) return Key(x) < Key(y);
      return Id(x) < Id(y);
    });
    std::vector<DuplicateHousehold> found;
    for (size_t from = 0; from < visits_.size();) {
      size_t to = from + 1;
      while (to < visits_.size() && Key(visits_[to]) == Key(visits_[from])) ++to;
      if (to - from > 1) {
        const std::string_view k = Key(visits_[from]);
        const size_t a = k.find('\x1f'), b = k.rfind('\x1f');  // form, key, round: the key has no char(31)
        DuplicateHousehold dup{std::string(k.substr(0, a)), std::string(k.substr(a + 1, b - a - 1)),
                               std::string(k.substr(b + 1)), {}};
        for (size_t i = from; i < to; ++i) dup.record_ids.emplace_back(Id(visits_[i]));
        found.push_back(std::move(dup));
      }
      from = to;
    }
    std::sort(found.begin(), found.end(), [](const DuplicateHousehold& x, const DuplicateHousehold& y) {
      return std::tie(x.form_id, x.hh_key, x.round) < std::tie(y.form_id, y.hh_key, y.round);
    });
    if (found.size() > 200) found.resize(200);
    d.duplicates = std::move(found);
    for (auto& [form, v] : minutes_) d.median_minutes[form] = Median(std::move(v));
    for (auto& [form, v] : sync_hours_) d.median_sync_hours[form] = Median(std::move(v));
    if (!done_days_.empty()) d.median_days_to_done = Median(std::move(done_days_));
  }

 private:
  std::string form_;
  std::map<std::pair<int64_t, std::string>, int64_t> per_day_;  // (-day, author): newest day first
  std::map<std::pair<int64_t, std::string>, int64_t> per_day_form_;
  std::map<std::string, InspectorFigures> inspectors_;
  std::map<std::string, std::vector<double>> minutes_, sync_hours_;  // form -> values
  std::vector<double> done_days_;
  // A record naming a household: where its key and id lie in arena_.
  struct Visit {
    uint64_t hash = 0;  // of the key
    uint32_t key_at = 0, key_size = 0, id_size = 0;
  };
  std::string_view Key(const Visit& v) const { return std::string_view(arena_).substr(v.key_at, v.key_size); }
  std::string_view Id(const Visit& v) const {
    return std::string_view(arena_).substr(v.key_at + v.key_size, v.id_size);
  }
  std::string arena_;
  std::vector<Visit> visits_;
  std::vector<std::string> areas_;                        // in the order the records came
  std::vector<std::pair<uint32_t, uint64_t>> inspected_;  // (index in areas_, hash of hh_key)
  int64_t year_start_ = 0;
  std::vector<uint64_t> assessed_;  // hashes of the hh_key of this year's housing records
  bool assessed_sorted_ = false;
};

std::optional<int64_t> OptionalInt(sqlite3_value* v) {
  if (sqlite3_value_type(v) == SQLITE_NULL) return std::nullopt;
  return sqlite3_value_int64(v);
}
std::string_view TextOf(sqlite3_value* v) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_value_text(v));
  return p ? std::string_view(p, static_cast<size_t>(sqlite3_value_bytes(v))) : std::string_view();
}

// tianye_dashboard_record(area, author, day, minutes, sync_minutes,
// done_days, flags, hh_key, round, record_id): hands one record to the
// Records in the function's user data; returns 0.
void RecordFunction(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  if (argc == 10) {
    static_cast<Records*>(sqlite3_user_data(ctx))
        ->Add(TextOf(argv[0]), std::string(TextOf(argv[1])), sqlite3_value_int64(argv[2]), OptionalInt(argv[3]),
              OptionalInt(argv[4]), OptionalInt(argv[5]), sqlite3_value_int64(argv[6]), TextOf(argv[7]),
              TextOf(argv[8]), TextOf(argv[9]));
  }
  sqlite3_result_int(ctx, 0);
}

// What Records::Add takes of each record, as SQL over server_facts f with
// `key` the area (or inspector, or month) it counts in: days are China days
// (UTC+8); flags 1 for GPS outside the area, 2 for an overridden grade, 4
// for a toilet question answered. Whole numbers are read off reals as
// SQLite's CAST does (toward zero).
std::string RecordArgsSql(const std::string& key) {
  return key + ", f.author, (f.created_ms + 28800000) / 86400000, f.minutes, (f.created_ms - f.end_ms) / 60000, "
               "f.done_days, CASE WHEN f.gps_in_area = '0' THEN 1 ELSE 0 END + "
               "CASE WHEN f.grade_calc != '' AND f.grade_final != '' AND f.grade_final != f.grade_calc THEN 2 ELSE 0 END + "
               "CASE WHEN f.has_toilet != '' THEN 4 ELSE 0 END, f.hh_key, f.round, f.record_id";
}

// The China day (days since 1970-01-01 in UTC+8) this year began on.
int64_t ChinaYearStartDay(int64_t now_ms) {
  using namespace std::chrono;
  const year_month_day today{floor<days>(sys_time<milliseconds>(milliseconds(now_ms + 8 * 3600 * 1000)))};
  return sys_days(today.year() / January / 1).time_since_epoch().count();
}

// C1: the households on the imported low-income list in `who`'s scope (and
// `within`), counted per area of `level` into `by_area` and in total, and
// whether `records` hold a housing record of this year naming each; the
// first 200 without one go to `d->unassessed`.
Status PriorityCoverage(Connection& conn, const Principal& who, AreaLevel level, const std::string& within,
                        Records& records, std::map<std::string, AreaFigures>* by_area, Dashboard* d) {
  // The list knows no inspector or month: by those, C1 is in the total only.
  const bool per_area = level == AreaLevel::kCounty || level == AreaLevel::kTownship || level == AreaLevel::kVillage;
  const std::string prefix = within.empty() ? "" : internal::ScopePrefix(within);
  // Records name areas as the forms' lists do (140622) or in 12 digits
  // (140622000000): a listed household counts in the area with records that
  // has its code, whichever way that is written.
  std::map<std::string, std::string> code_of;
  for (const auto& [code, figures] : *by_area) code_of.emplace(internal::ScopePrefix(code), code);
  // Read off the index by village, in its order, which is the order of
  // hh_key too (a village code starts it).
  TIANYE_ASSIGN_OR_RETURN(Stmt s, conn.Prepare("SELECT village_code, hh_key, category FROM server_priority_households "
                                               "ORDER BY village_code, hh_key"));
  std::string village;
  bool counted = false;            // whether `village` is in scope
  AreaFigures* figures = nullptr;  // its area's, when per area
  while (true) {
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    if (std::string_view v = s.TextView(0); v != village) {
      village = v;
      const AreaCodes area{village.substr(0, 6), village.substr(0, 9), village};
      counted = InScope(who.scope, area) && area.village.compare(0, prefix.size(), prefix) == 0;
      figures = nullptr;
      if (counted && per_area) {
        const std::string& code = level == AreaLevel::kCounty     ? area.county
                                  : level == AreaLevel::kTownship ? area.township
                                                                  : area.village;
        auto known = code_of.find(internal::ScopePrefix(code));
        figures = &(*by_area)[known != code_of.end() ? known->second : code];
      }
    }
    if (!counted) continue;
    const std::string_view hh_key = s.TextView(1);
    const bool assessed = records.AssessedThisYear(hh_key);
    if (figures != nullptr) {
      ++figures->priority_listed;
      figures->priority_assessed += assessed;
    }
    ++d->total.priority_listed;
    d->total.priority_assessed += assessed;
    if (!assessed && d->unassessed.size() < 200) d->unassessed.push_back({std::string(hh_key), village, s.Text(2)});
  }
  return Status::Ok();
}

// A6 and A7 from the samples (server_samples) of the germplasm records that
// `prepare`'s ?1 and ?2 with `base` select: summed by SQL per category,
// local name and day, so that C++ sees a row per group, not per sample.
template <typename Prepare>
Status SampleSeries(Prepare& prepare, internal::Dialect dialect, const std::string& base, Dashboard* d) {
  // The plan's tracked resources, found by the distinctive part of the local
  // name a surveyor types (`[PLAN]` in forms.md §6.3).
  struct Tracked {
    const char* resource;
    const char* part;
  };
  static constexpr Tracked kTracked[] = {
      {"平鲁红山荞麦", "红山荞麦"}, {"应县紫皮大蒜", "紫皮大蒜"}, {"怀仁绿豆", "绿豆"}, {"右玉边鸡", "边鸡"}};
  // SQLite: samples first, then each one's record (CROSS JOIN keeps that order).
  const bool sqlite = dialect == internal::Dialect::kSqlite;
  TIANYE_ASSIGN_OR_RETURN(
      Stmt s, prepare(Portable("SELECT s.res_cat, s.local_name, (r.created_ms + 28800000) / 86400000 AS day, count(*), "
                               "coalesce(sum(NUM(s.n_male)), 0), coalesce(sum(NUM(s.n_female)), 0), "
                               "coalesce(sum(NUM(s.n_families)), 0), " + JoinSql("s.pop_trend", dialect) +
                               ", coalesce(sum(NUM(s.area_mu)), 0), coalesce(sum(NUM(s.n_total)), 0) "
                               "FROM server_samples s " + (sqlite ? "CROSS JOIN server_records r ON r.rid = s.rid "
                                                                  : "JOIN server_records r ON r.rid = s.rid ") +
                               "WHERE s.res_cat IN ('crop', 'livestock') AND s.local_name != '' "
                               "AND r.form_id = 'germplasm' AND " + base + " GROUP BY 1, 2, 3", dialect)));
  std::map<std::string, BreedFigures> breeds;
  std::map<std::pair<std::string, std::string>, TrackedFigures> tracked;
  while (true) {
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    const std::string category = s.Text(0), name = s.Text(1);
    const int64_t samples = s.Int(3);
    if (category == "livestock") {
      BreedFigures& b = breeds[name];
      b.samples += samples;
      b.males += s.Double(4);
      b.females += s.Double(5);
      b.families += s.Double(6);
      std::istringstream trends(s.IsNull(7) ? "" : s.Text(7));
      for (std::string t; trends >> t;) ++b.trends[t];
    }
    for (const Tracked& t : kTracked) {
      if (name.find(t.part) == std::string::npos) continue;
      TrackedFigures& f = tracked[{t.resource, DayText(s.Int(2)).substr(0, 4)}];
      f.samples += samples;
      if (category == "crop") f.area_mu += s.Double(8);
      if (category == "livestock") f.stock += s.Double(9);
    }
  }
  for (auto& [name, b] : breeds) {
    b.name = name;
    b.ne = b.males + b.females > 0 ? std::round(40 * b.males * b.females / (b.males + b.females)) / 10 : 0;
    d->breeds.push_back(std::move(b));
  }
  for (auto& [key, f] : tracked) {
    f.resource = key.first;
    f.year = key.second;
    d->tracked.push_back(std::move(f));
  }
  return Status::Ok();
}

// The milliseconds since 1970 (UTC) the China month "YYYY-MM" begins and
// ends at (end exclusive); nullopt when `month` is not of that shape.
std::optional<std::pair<int64_t, int64_t>> MonthSpan(const std::string& month) {
  if (month.size() != 7 || month[4] != '-' || month.find_first_not_of("0123456789-") != std::string::npos ||
      month.find('-') != 4 || month.rfind('-') != 4) {
    return std::nullopt;
  }
  using namespace std::chrono;
  const year_month ym{year{std::stoi(month.substr(0, 4))}, std::chrono::month{static_cast<unsigned>(std::stoi(month.substr(5)))}};
  if (!ym.ok()) return std::nullopt;
  const int64_t china = 8 * 3600 * 1000;
  const auto start_ms = [&](year_month m) {
    return duration_cast<milliseconds>(sys_days(m / 1).time_since_epoch()).count() - china;
  };
  return std::pair{start_ms(ym), start_ms(ym + months{1})};
}

}  // namespace

Result<Dashboard> ComputeDashboard(Store& store, const Principal& who, AreaLevel level, const DashboardFilter& filter) {
  const std::string& within = filter.within;
  if (!within.empty() && (within.size() != 12 || within.find_first_not_of("0123456789") != std::string::npos)) {
    return Status::InvalidArgument("area is a 12-digit code");
  }
  std::pair<int64_t, int64_t> span{INT64_MIN, INT64_MAX};
  if (!filter.month.empty()) {
    auto m = MonthSpan(filter.month);
    if (!m) return Status::InvalidArgument("month is YYYY-MM");
    span = *m;
  }
  Connection& conn = internal::StoreAccess::Conn(store);
  const internal::Dialect dialect = conn.dialect();
  const bool sqlite = dialect == internal::Dialect::kSqlite;
  // The month a record reached the server in, China time.
  const std::string month_of = sqlite ? "strftime('%Y-%m', (f.created_ms + 28800000) / 1000, 'unixepoch')"
                                      : "to_char(to_timestamp((f.created_ms + 28800000) / 1000) AT TIME ZONE 'UTC', "
                                        "'YYYY-MM')";
  const std::string key = level == AreaLevel::kCounty      ? "f.county_code"
                          : level == AreaLevel::kTownship  ? "f.township_code"
                          : level == AreaLevel::kVillage   ? "f.village_code"
                          : level == AreaLevel::kInspector ? "f.author"
                                                           : month_of;
  // The records counted, as a condition on the table named `t`
  // (server_facts or server_records, which share these columns): ?1 the
  // user name, ?2 the code prefix of `within` (named even when unused, so
  // that binding it stays valid), ?3 the inspector ('' = any), ?4 and ?5
  // the span of the month. (?6: the form, where a query names one.)
  auto counted = [&](const std::string& t) {
    std::string sql = t + ".deleted = 0 AND " + t + ".status NOT IN ('draft', 'rejected') AND (" +
                      internal::ScopeSql(who, t, "?1") + ") AND CAST(?2 AS TEXT) IS NOT NULL AND (?3 = '' OR " + t +
                      ".author = ?3) AND " + t + ".created_ms >= ?4 AND " + t + ".created_ms < ?5";
    if (!within.empty()) {
      sql += " AND (" + t + ".village_code LIKE ?2 OR " + t + ".township_code LIKE ?2 OR " + t + ".county_code LIKE ?2)";
    }
    return sql;
  };
  const std::string prefix = within.empty() ? "%" : internal::ScopePrefix(within) + "%";
  auto prepare = [&](const std::string& sql) -> Result<Stmt> {
    TIANYE_ASSIGN_OR_RETURN(Stmt s, conn.Prepare(sql));
    s.Bind(1, who.username).Bind(2, prefix).Bind(3, filter.inspector).Bind(4, span.first).Bind(5, span.second);
    return s;
  };

  // Every figure comes from the one server_facts row per record the ledger
  // keeps current, never from the answers themselves; one pass over the
  // records of each form gives the per-area figures, and each record goes
  // to `records` for the per-inspector, per-month, median and household
  // figures (on SQLite in the same pass, through tianye_dashboard_record;
  // on PostgreSQL in a second one).
  const std::string from = " FROM server_facts f WHERE " + counted("f");
  std::map<std::string, AreaFigures> by_area;
  Records records;
  records.SetYearStart(ChinaYearStartDay(internal::StoreAccess::ClockOf(store).NowMillis()));
  if (sqlite) {
    // Registered for this computation: its user data is `records`. Replaced
    // by the next computation's; nothing else calls it.
    TIANYE_ASSIGN_OR_RETURN(sqlite3 * db, internal::SqliteHandle(conn, "the dashboard"));
    if (int rc = sqlite3_create_function_v2(db, "tianye_dashboard_record", 10, SQLITE_UTF8, &records,
                                            &RecordFunction, nullptr, nullptr, nullptr);
        rc != SQLITE_OK) {
      return internal::SqliteStatus(db, rc, "registering the dashboard's record function");
    }
  }
  {
    // Grouped by the area columns in the order of server_facts' key, so
    // the store reads the records of a form in that order and keeps one
    // group at a time instead of sorting every record. (By inspector or
    // month it sorts the records instead.)
    const std::string group = level == AreaLevel::kCounty     ? "f.county_code"
                              : level == AreaLevel::kTownship ? "f.county_code, f.township_code"
                              : level == AreaLevel::kVillage  ? "f.county_code, f.township_code, f.village_code"
                                                              : key;
    std::vector<std::string> forms;
    {
      // The forms that have records: a few seeks along server_facts' key
      // (SELECT DISTINCT would read all of it).
      TIANYE_ASSIGN_OR_RETURN(
          Stmt s, conn.Prepare("WITH RECURSIVE f(id) AS (SELECT min(form_id) FROM server_facts UNION ALL "
                               "SELECT (SELECT min(form_id) FROM server_facts WHERE form_id > f.id) FROM f "
                               "WHERE f.id IS NOT NULL) SELECT id FROM f WHERE id IS NOT NULL"));
      while (true) {
        TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        forms.push_back(s.Text(0));
      }
    }
    for (const std::string& part : forms) {
      std::string select = "SELECT " + key + ", " +
                           (sqlite ? "total(tianye_dashboard_record(" + RecordArgsSql(key) + "))" : std::string("0"));
      for (const CountSpec& c : kCounts) {
        if (InPart(c.form, part)) select += std::string(", ") + c.sql;
      }
      for (const SumSpec& c : kSums) {
        if (InPart(c.form, part)) select += std::string(", ") + c.sql;
      }
      for (const TallySpec& t : kTallies) {
        if (!InPart(t.form, part)) continue;
        select += ", " + JoinSql(t.fact, dialect);
        if (t.only) select += std::string(" FILTER (WHERE ") + t.only + ")";
      }
      records.SetForm(part);
      TIANYE_ASSIGN_OR_RETURN(Stmt s, prepare(Portable(select + from + " AND f.form_id = ?6 GROUP BY " + group, dialect)));
      s.Bind(6, part);
      while (true) {
        TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        AreaFigures& f = by_area[s.Text(0)];
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
      if (sqlite) continue;
      TIANYE_ASSIGN_OR_RETURN(Stmt each, prepare("SELECT " + RecordArgsSql(key) + from + " AND f.form_id = ?6"));
      each.Bind(6, part);
      while (true) {
        TIANYE_ASSIGN_OR_RETURN(bool row, each.Step());
        if (!row) break;
        records.Add(each.Text(0), each.Text(1), each.Int(2), each.OptionalInt(3), each.OptionalInt(4),
                    each.OptionalInt(5), each.Int(6), each.Text(7), each.Text(8), each.Text(9));
      }
    }
  }
  Dashboard d;
  TIANYE_RETURN_IF_ERROR(PriorityCoverage(conn, who, level, within, records, &by_area, &d));
  TIANYE_RETURN_IF_ERROR(SampleSeries(prepare, dialect, counted("r"), &d));
  const std::map<std::string, int64_t> inspected = records.Inspected(&d.total.toilet_households);
  for (auto& [area, f] : by_area) {
    f.area = area;
    if (auto it = inspected.find(area); it != inspected.end()) f.toilet_households = it->second;
    AddInto(d.total, f);
    d.areas.push_back(std::move(f));
  }
  {
    TIANYE_ASSIGN_OR_RETURN(
        // Only C and D houses of low-income households, from the housing
        // range of server_facts.
        Stmt s, prepare("SELECT f.record_id, f.village_code, f.grade_final, f.temp_housing, f.secured "
                        "FROM server_facts f WHERE f.form_id = 'housing' AND f.grade_final IN ('C', 'D') AND "
                        "f.category IS NOT NULL AND f.category NOT IN ('', 'none') AND " + counted("f") +
                        " ORDER BY f.village_code, f.record_id"));
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
  records.Into(d);
  return d;
}

}  // namespace tianye
