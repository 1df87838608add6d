#include "facts.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

#include "store_impl.h"
#include "sync_internal.h"
#include "tianye/store.h"

namespace tianye::internal {
namespace {

constexpr char kStaleKey[] = "server.facts_stale";

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// ---- Dates, as SQLite's date.c reads them ----

struct DateTime {
  int y = 2000, mo = 1, d = 1, h = 0, mi = 0;
  double s = 0;
  int tz = 0;  // minutes east of UTC
  bool ymd = false, hms = false, jd_valid = false, raw = false;
  int64_t jd = 0;  // milliseconds since the Julian day 0
};

// `n` digits at `at` making a number in [min, max], followed by `next`
// (0: by anything).
bool Digits(std::string_view s, size_t at, int n, int min, int max, char next, int* out) {
  if (at + static_cast<size_t>(n) > s.size()) return false;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    if (!IsDigit(s[at + i])) return false;
    v = v * 10 + (s[at + i] - '0');
  }
  if (v < min || v > max) return false;
  if (next != 0 && (at + n >= s.size() || s[at + n] != next)) return false;
  *out = v;
  return true;
}

// "(+|-)HH:MM" or "Z", spaces around it, then the end; true on an error.
bool BadTimezone(std::string_view s, size_t at, DateTime* t) {
  while (at < s.size() && IsSpace(s[at])) ++at;
  t->tz = 0;
  if (at == s.size()) return false;
  const char c = s[at];
  if (c == 'Z' || c == 'z') {
    ++at;
  } else if (c == '+' || c == '-') {
    int hours = 0, minutes = 0;
    if (!Digits(s, at + 1, 2, 0, 14, ':', &hours) || !Digits(s, at + 4, 2, 0, 59, 0, &minutes)) return true;
    at += 6;
    t->tz = (c == '-' ? -1 : 1) * (minutes + hours * 60);
  } else {
    return true;
  }
  while (at < s.size() && IsSpace(s[at])) ++at;
  return at != s.size();
}

// "HH:MM[:SS[.FFF]]" and a time zone; true on an error.
bool BadTime(std::string_view s, size_t at, DateTime* t) {
  int h = 0, m = 0, sec = 0;
  if (!Digits(s, at, 2, 0, 24, ':', &h) || !Digits(s, at + 3, 2, 0, 59, 0, &m)) return true;
  at += 5;
  double ms = 0.0;
  if (at < s.size() && s[at] == ':') {
    if (!Digits(s, at + 1, 2, 0, 59, 0, &sec)) return true;
    at += 3;
    if (at + 1 < s.size() && s[at] == '.' && IsDigit(s[at + 1])) {
      double scale = 1.0;
      for (++at; at < s.size() && IsDigit(s[at]); ++at) {
        ms = ms * 10.0 + (s[at] - '0');
        scale *= 10.0;
      }
      ms /= scale;
      if (ms > 0.999) ms = 0.999;
    }
  }
  t->jd_valid = false;
  t->raw = false;
  t->hms = true;
  t->h = h;
  t->mi = m;
  t->s = sec + ms;
  return BadTimezone(s, at, t);
}

void ComputeJd(DateTime* t, bool* error) {
  if (t->jd_valid) return;
  int y = t->ymd ? t->y : 2000, m = t->ymd ? t->mo : 1;
  const int d = t->ymd ? t->d : 1;
  if (y < -4713 || y > 9999 || t->raw) {
    *error = true;
    return;
  }
  if (m <= 2) {
    --y;
    m += 12;
  }
  const int a = (y + 4800) / 100;
  const int b = 38 - a + (a / 4);
  const int x1 = 36525 * (y + 4716) / 100;
  const int x2 = 306001 * (m + 1) / 10000;
  t->jd = static_cast<int64_t>((x1 + x2 + d + b - 1524.5) * 86400000);
  t->jd_valid = true;
  if (t->hms) {
    t->jd += t->h * 3600000 + t->mi * 60000 + static_cast<int64_t>(t->s * 1000 + 0.5);
    if (t->tz != 0) {
      t->jd -= t->tz * 60000;
      t->ymd = t->hms = false;
      t->tz = 0;
    }
  }
}

// "[-]YYYY-MM-DD", then spaces or 'T's and a time, or the end; true on an error.
bool BadDate(std::string_view s, DateTime* t, bool* error) {
  size_t at = 0;
  const bool negative = !s.empty() && s[0] == '-';
  at += negative;
  int y = 0, m = 0, d = 0;
  if (!Digits(s, at, 4, 0, 9999, '-', &y) || !Digits(s, at + 5, 2, 1, 12, '-', &m) ||
      !Digits(s, at + 8, 2, 1, 31, 0, &d)) {
    return true;
  }
  at += 10;
  while (at < s.size() && (IsSpace(s[at]) || s[at] == 'T')) ++at;
  if (BadTime(s, at, t)) {
    if (at != s.size()) return true;
    t->hms = false;
  }
  t->jd_valid = false;
  t->ymd = true;
  t->y = negative ? -y : y;
  t->mo = m;
  t->d = d;
  if (t->tz != 0) ComputeJd(t, error);
  return false;
}

// SQLite's number grammar: [+-]digits[.digits][E[+-]digits] or
// [+-].digits[...], spaces around. The value of its longest valid start;
// *whole: the text is all of it.
double ReadNumber(std::string_view s, bool* whole) {
  size_t at = 0;
  while (at < s.size() && IsSpace(s[at])) ++at;
  bool negative = false;
  if (at < s.size() && (s[at] == '-' || s[at] == '+')) negative = s[at++] == '-';
  const size_t digits_from = at;
  int digits = 0;
  while (at < s.size() && IsDigit(s[at])) ++at, ++digits;
  if (at < s.size() && s[at] == '.') {
    for (++at; at < s.size() && IsDigit(s[at]);) ++at, ++digits;
  }
  size_t number_end = at;  // without an exponent that has no digits
  bool exponent_ok = true;
  if (at < s.size() && (s[at] == 'e' || s[at] == 'E')) {
    size_t e = at + 1;
    if (e < s.size() && (s[e] == '-' || s[e] == '+')) ++e;
    exponent_ok = e < s.size() && IsDigit(s[e]);
    while (e < s.size() && IsDigit(s[e])) ++e;
    at = e;
    if (exponent_ok) number_end = e;
  }
  size_t end = at;
  while (end < s.size() && IsSpace(s[end])) ++end;
  *whole = digits > 0 && exponent_ok && end == s.size();
  if (digits == 0) return negative ? -0.0 : 0.0;
  double value = 0;
  const char* first = s.data() + digits_from;
  const char* last = s.data() + number_end;
  if (std::from_chars(first, last, value).ec == std::errc::result_out_of_range) {
    // Too large is infinite and too small is zero, as in SQLite: told by
    // where the first significant digit stands, moved by the exponent.
    const std::string_view n(first, static_cast<size_t>(last - first));
    const size_t e = std::min(n.find_first_of("eE"), n.size()), point = std::min(n.find('.'), e);
    const size_t lead = n.substr(0, e).find_first_of("123456789");
    int64_t magnitude = lead < point ? static_cast<int64_t>(point - lead) : -static_cast<int64_t>(lead - point);
    int64_t exponent = 0;  // capped, as SQLite caps it
    for (size_t i = e + 1; i < n.size(); ++i) {
      if (IsDigit(n[i])) exponent = std::min<int64_t>(exponent * 10 + (n[i] - '0'), 100000);
    }
    magnitude += e + 1 < n.size() && n[e + 1] == '-' ? -exponent : exponent;
    value = lead != std::string_view::npos && magnitude > 0 ? HUGE_VAL : 0.0;
  }
  return negative ? -value : value;
}

// SQLite's round(x) (no digits): halves away from zero.
double SqliteRound(double r) {
  if (r < -4503599627370496.0 || r > 4503599627370496.0) return r;
  return static_cast<double>(static_cast<int64_t>(r + (r < 0 ? -0.5 : 0.5)));
}

// ---- The facts row ----

// How a column is kept. kNumber: an answer holding a number (SQLite keeps
// its text, CAST when read; PostgreSQL the number, NULL when unanswered).
enum class Kind { kText, kNumber, kInt, kReal };

struct Column {
  const char* name;
  Kind kind;
  const char* field;  // the answer it holds as it is; nullptr: computed
};

// In the order of schema.h's TIANYE_FACTS9_COLUMNS after rid and record_id.
constexpr Column kColumns[] = {
    {"in_scope", Kind::kText, "in_scope"},
    {"is_sanitary", Kind::kText, "is_sanitary"},
    {"is_harmless", Kind::kText, "is_harmless"},
    {"problem_found", Kind::kText, "problem_found"},
    {"n_overdue", Kind::kNumber, "n_overdue"},
    {"problems", Kind::kInt, nullptr},
    {"problems_fixed", Kind::kInt, nullptr},
    {"grade_final", Kind::kText, "grade_final"},
    {"secured", Kind::kText, "secured"},
    {"category", Kind::kText, "category"},
    {"temp_housing", Kind::kText, "temp_housing"},
    {"samples", Kind::kText, nullptr},
    {"n_at_risk", Kind::kNumber, "n_at_risk"},
    {"gps_in_area", Kind::kText, "gps_in_area"},
    {"minutes", Kind::kInt, nullptr},
    {"renovated", Kind::kText, "renovated"},
    {"in_use", Kind::kText, "in_use"},
    {"problem_open", Kind::kText, "problem_open"},
    {"fixed_on_time", Kind::kInt, nullptr},
    {"froze", Kind::kText, "froze_last_winter"},
    {"has_toilet", Kind::kText, "has_toilet"},
    {"emptying_mode", Kind::kText, "emptying_mode"},
    {"manure_fate", Kind::kText, "manure_fate"},
    {"old_latrine", Kind::kText, "old_latrine"},
    {"satisfaction", Kind::kText, "satisfaction"},
    {"subsidy_yuan", Kind::kNumber, "subsidy_yuan"},
    {"hh_paid_yuan", Kind::kNumber, "hh_paid_yuan"},
    {"toilet_type", Kind::kText, "toilet_type"},
    {"no_house", Kind::kText, "no_house"},
    {"new_danger", Kind::kText, "new_danger"},
    {"measure_status", Kind::kText, "measure_status"},
    {"done_days", Kind::kReal, nullptr},
    {"seismic_focus", Kind::kText, "seismic_focus"},
    {"dm_final", Kind::kText, "dm_final"},
    {"structure", Kind::kText, "structure"},
    {"age_over_30", Kind::kText, "age_over_30"},
    {"site_safety", Kind::kText, "site_safety"},
    {"site_hazards", Kind::kText, "site_hazards"},
    {"grade_calc", Kind::kText, "grade_calc"},
    {"landrace_wild", Kind::kInt, nullptr},
    {"deposited", Kind::kInt, nullptr},
    {"samples_complete", Kind::kInt, nullptr},
    {"traits", Kind::kText, nullptr},
    {"gps_acc", Kind::kNumber, "gps_acc"},
    {"hh_key", Kind::kText, "hh_key"},
    {"round", Kind::kText, "monitor_round"},
    {"end_ms", Kind::kInt, nullptr},
};
constexpr size_t kColumnCount = std::size(kColumns);

size_t ColumnIndex(std::string_view name) {
  for (size_t i = 0; i < kColumnCount; ++i) {
    if (name == kColumns[i].name) return i;
  }
  return kColumnCount;  // never: every name below is in kColumns
}

// One value of a row: NULL, text (kText and kNumber), or a number.
struct Value {
  bool null = true;
  std::string text;
  int64_t whole = 0;
  double real = 0;
};

class Answers {
 public:
  explicit Answers(const std::vector<FactField>& fields) : fields_(fields) {}

  const std::optional<std::string>* Find(std::string_view name) const {
    auto it = std::lower_bound(fields_.begin(), fields_.end(), name,
                               [](const FactField& f, std::string_view n) { return f.name < n; });
    return it != fields_.end() && it->name == name ? it->value : nullptr;
  }
  // The answer, nullopt when unanswered or cleared.
  std::optional<std::string> Get(std::string_view name) const {
    const std::optional<std::string>* v = Find(name);
    return v ? *v : std::nullopt;
  }
  // The answer to `sibling` in the repeat instance of `field` (what precedes
  // the first "]/" and that mark).
  std::optional<std::string> Sibling(std::string_view field, std::string_view sibling) const {
    const size_t mark = field.find("]/");
    if (mark == std::string_view::npos) return std::nullopt;
    return Get(std::string(field.substr(0, mark + 2)).append(sibling));
  }
  std::optional<int64_t> Julian(std::string_view name) const {
    const std::optional<std::string>* v = Find(name);
    return v && *v ? JulianDayMs(**v) : std::nullopt;
  }
  const std::vector<FactField>& all() const { return fields_; }

 private:
  const std::vector<FactField>& fields_;
};

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return Lower(x) == Lower(y); });
}

// SQL's `field LIKE 'repeat[%]/name'` (ASCII case ignored, as LIKE does).
bool InRepeat(std::string_view field, std::string_view repeat, std::string_view name) {
  const size_t head = repeat.size() + 1, tail = name.size() + 2;
  if (field.size() < head + tail) return false;
  return EqualsIgnoringCase(field.substr(0, repeat.size()), repeat) && field[repeat.size()] == '[' &&
         field.substr(field.size() - tail, 2) == "]/" && EqualsIgnoringCase(field.substr(field.size() - name.size()), name);
}

std::vector<Value> FactsRow(const Answers& a) {
  std::vector<Value> row(kColumnCount);
  auto set_int = [&](const char* name, int64_t v) {
    Value& out = row[ColumnIndex(name)];
    out.null = false;
    out.whole = v;
  };
  auto set_text = [&](const char* name, std::string v) {
    Value& out = row[ColumnIndex(name)];
    out.null = false;
    out.text = std::move(v);
  };
  for (size_t i = 0; i < kColumnCount; ++i) {
    if (kColumns[i].field == nullptr) continue;
    if (std::optional<std::string> v = a.Get(kColumns[i].field)) {
      row[i].null = false;
      row[i].text = std::move(*v);
    }
  }
  int64_t problems = 0, fixed = 0, on_time = 0, landrace_wild = 0, deposited = 0, complete = 0;
  std::string samples, traits;
  auto append = [](std::string& list, const std::string& v, bool* any) {
    if (*any) list += ' ';
    list += v;
    *any = true;
  };
  bool any_sample = false, any_trait = false;
  for (const FactField& f : a.all()) {
    const std::optional<std::string>& v = *f.value;
    if (InRepeat(f.name, "problems", "prob_status")) {
      problems += v.has_value();
      fixed += v == "fixed";
    } else if (InRepeat(f.name, "problems", "fixed_date")) {
      // B7: fixed by the deadline.
      const std::optional<std::string> deadline = a.Sibling(f.name, "deadline");
      on_time += v && deadline && *v <= *deadline && a.Sibling(f.name, "prob_status") == "fixed";
    } else if (InRepeat(f.name, "sample", "res_cat")) {
      if (v) append(samples, *v, &any_sample);
    } else if (InRepeat(f.name, "sample", "main_traits")) {
      if (v) append(traits, *v, &any_trait);
    } else if (InRepeat(f.name, "sample", "germplasm_type")) {
      landrace_wild += v == "landrace" || v == "wild";  // A2
    } else if (InRepeat(f.name, "sample", "deposit_to")) {
      deposited += v && *v != "" && *v != "not_yet";  // A4
    } else if (InRepeat(f.name, "sample", "photo_main") && v && *v != "") {
      // A5: both photos and a Latin name (livestock has none to give).
      std::optional<std::string> latin = a.Sibling(f.name, "latin_name");
      if (!latin) latin = a.Sibling(f.name, "aq_latin");
      if (!latin) latin = a.Sibling(f.name, "fungi_latin");
      complete += a.Sibling(f.name, "photo_2").value_or("") != "" &&
                  (a.Sibling(f.name, "res_cat") == "livestock" || latin.value_or("") != "");
    }
  }
  set_int("problems", problems);
  set_int("problems_fixed", fixed);
  set_int("fixed_on_time", on_time);
  set_int("landrace_wild", landrace_wild);
  set_int("deposited", deposited);
  set_int("samples_complete", complete);
  set_text("samples", samples);
  set_text("traits", traits);
  // Julian days as SQLite's julianday() gives them (milliseconds / 86400000.0).
  const std::optional<int64_t> start = a.Julian("start"), end = a.Julian("end");
  if (start && end) set_int("minutes", static_cast<int64_t>(SqliteRound((*end / 86400000.0 - *start / 86400000.0) * 1440.0)));
  if (end) set_int("end_ms", static_cast<int64_t>(SqliteRound((*end / 86400000.0 - 2440587.5) * 86400000.0)));
  const std::optional<int64_t> survey = a.Julian("survey_date"), done = a.Julian("done_date");
  if (survey && done) {
    Value& out = row[ColumnIndex("done_days")];
    out.null = false;
    out.real = *done / 86400000.0 - *survey / 86400000.0;
  }
  return row;
}

// A value into parameter `index` of a statement for `kind` on `dialect`.
void BindValue(Stmt& s, int index, const Value& v, Kind kind, Dialect dialect) {
  if (v.null) {
    s.BindNull(index);
  } else if (kind == Kind::kInt) {
    s.Bind(index, v.whole);
  } else if (kind == Kind::kReal) {
    s.BindDouble(index, v.real);
  } else if (kind == Kind::kNumber && dialect == Dialect::kPostgres) {
    const double n = SqliteReal(v.text);
    if (v.text.empty() || !std::isfinite(n)) {
      s.BindNull(index);
    } else {
      s.BindDouble(index, n);
    }
  } else {
    s.Bind(index, v.text);
  }
}

// Parameter `index` as the INSERT ... SELECT of `dialect` writes it
// (PostgreSQL types each: a parameter in a SELECT list would be text).
std::string Param(int index, Kind kind, Dialect dialect) {
  const std::string p = "?" + std::to_string(index);
  if (dialect == Dialect::kSqlite) return p;
  const char* type = kind == Kind::kText ? "TEXT" : kind == Kind::kNumber ? "NUMERIC" : kind == Kind::kInt ? "BIGINT" : "DOUBLE PRECISION";
  return "CAST(" + p + " AS " + type + ")";
}

std::string InsertFactsSql(Dialect dialect) {
  std::string names, values;
  for (size_t i = 0; i < kColumnCount; ++i) {
    names += std::string(kColumns[i].name) + ", ";
    values += Param(static_cast<int>(i) + 2, kColumns[i].kind, dialect) + ", ";
  }
  // The form check's counts only while they are of the record as it stands.
  const std::string checked = "CASE WHEN checked_version >= version THEN form_problems ELSE 0 END, "
                              "CASE WHEN checked_version >= version THEN photos_missing ELSE 0 END";
  return "INSERT INTO server_facts (" + names +
         "rid, record_id, form_id, county_code, township_code, village_code, deleted, status, author, created_ms, "
         "form_problems, photos_missing) SELECT " + values +
         "rid, record_id, form_id, county_code, township_code, village_code, deleted, status, author, created_ms, " +
         checked + " FROM server_records WHERE record_id = ?1";
}

// The columns of a server_samples row after rid and sample.
constexpr Column kSampleColumns[] = {
    {"res_cat", Kind::kText, "res_cat"},       {"local_name", Kind::kText, "local_name"},
    {"n_male", Kind::kNumber, "n_male"},       {"n_female", Kind::kNumber, "n_female"},
    {"n_families", Kind::kNumber, "n_families"}, {"pop_trend", Kind::kText, "pop_trend"},
    {"area_mu", Kind::kNumber, "area_mu"},     {"n_total", Kind::kNumber, "n_total"},
};

std::string InsertSampleSql(Dialect dialect) {
  std::string names, values;
  for (size_t i = 0; i < std::size(kSampleColumns); ++i) {
    names += std::string(", ") + kSampleColumns[i].name;
    values += ", " + Param(static_cast<int>(i) + 3, kSampleColumns[i].kind, dialect);
  }
  return "INSERT INTO server_samples (rid, sample" + names + ") SELECT rid, " +
         Param(2, Kind::kText, dialect) + values +
         " FROM server_records WHERE record_id = ?1 AND form_id = 'germplasm'";
}

}  // namespace

std::optional<int64_t> JulianDayMs(std::string_view text) {
  text = text.substr(0, text.find('\0'));  // SQLite reads the text as a C string
  DateTime t;
  bool error = false;
  if (!BadDate(text, &t, &error)) {
  } else if (t = DateTime{}; !BadTime(text, 0, &t)) {
  } else {
    bool whole = false;
    const double r = ReadNumber(text, &whole);
    if (!whole) return std::nullopt;  // also 'now' and the like: see facts.h
    t = DateTime{};
    t.s = r;
    t.raw = true;
    if (r >= 0.0 && r < 5373484.5) {
      t.jd = static_cast<int64_t>(r * 86400000.0 + 0.5);
      t.jd_valid = true;
    }
  }
  ComputeJd(&t, &error);
  if (error || t.jd < 0 || t.jd > 464269060799999) return std::nullopt;
  return t.jd;
}

double SqliteReal(std::string_view text) {
  bool whole = false;
  return ReadNumber(text, &whole);
}

std::vector<std::string> DescribeFacts(const std::vector<FactField>& fields) {
  std::vector<std::string> out;
  const std::vector<Value> row = FactsRow(Answers(fields));
  for (size_t i = 0; i < kColumnCount; ++i) {
    const Value& v = row[i];
    out.push_back(v.null                                ? "null"
                  : kColumns[i].kind == Kind::kInt      ? std::to_string(v.whole)
                  : kColumns[i].kind == Kind::kReal     ? std::to_string(v.real)
                                                        : v.text);
  }
  return out;
}

Status WriteFacts(Connection& conn, const std::string& record_id, const std::vector<FactField>& fields) {
  const Dialect dialect = conn.dialect();
  const std::vector<Value> row = FactsRow(Answers(fields));
  TIANYE_ASSIGN_OR_RETURN(Stmt drop, conn.Prepare("DELETE FROM server_facts WHERE record_id = ?"));
  TIANYE_RETURN_IF_ERROR(drop.Bind(1, record_id).RunDeferred());
  static const std::string kSqlite = InsertFactsSql(Dialect::kSqlite), kPostgres = InsertFactsSql(Dialect::kPostgres);
  TIANYE_ASSIGN_OR_RETURN(Stmt put, conn.Prepare(dialect == Dialect::kSqlite ? kSqlite : kPostgres));
  put.Bind(1, record_id);
  for (size_t i = 0; i < kColumnCount; ++i) BindValue(put, static_cast<int>(i) + 2, row[i], kColumns[i].kind, dialect);
  return put.RunDeferred();
}

Status WriteSamples(Connection& conn, const std::string& record_id, const std::vector<FactField>& fields) {
  const Dialect dialect = conn.dialect();
  TIANYE_ASSIGN_OR_RETURN(Stmt drop, conn.Prepare("DELETE FROM server_samples WHERE rid = "
                                                  "(SELECT rid FROM server_records WHERE record_id = ?)"));
  TIANYE_RETURN_IF_ERROR(drop.Bind(1, record_id).RunDeferred());
  // A sample is a `sample` repeat instance whose own field ("sample[id]")
  // holds a value; its figures are "sample[id]/n_male" and the like.
  const Answers a(fields);
  static const std::string kSqlite = InsertSampleSql(Dialect::kSqlite), kPostgres = InsertSampleSql(Dialect::kPostgres);
  constexpr std::string_view kRepeat = "sample[";
  for (const FactField& f : fields) {
    if (!f.name.starts_with(kRepeat) || f.name.size() == kRepeat.size() || f.name.back() != ']' ||
        f.name.find(']') != f.name.size() - 1 || f.value->value_or("").empty()) {
      continue;
    }
    TIANYE_ASSIGN_OR_RETURN(Stmt put, conn.Prepare(dialect == Dialect::kSqlite ? kSqlite : kPostgres));
    put.Bind(1, record_id).Bind(2, f.name.substr(kRepeat.size(), f.name.size() - kRepeat.size() - 1));
    for (size_t i = 0; i < std::size(kSampleColumns); ++i) {
      Value v;
      if (std::optional<std::string> answer = a.Get(std::string(f.name) + "/" + kSampleColumns[i].field)) {
        v.null = false;
        v.text = std::move(*answer);
      }
      BindValue(put, static_cast<int>(i) + 3, v, kSampleColumns[i].kind, dialect);
    }
    TIANYE_RETURN_IF_ERROR(put.RunDeferred());
  }
  return Status::Ok();
}

Result<StoredAnswers> ReadAnswers(Connection& conn, const std::string& record_id) {
  StoredAnswers out;
  TIANYE_ASSIGN_OR_RETURN(Stmt s, conn.Prepare("SELECT f.field, f.value FROM server_fields f JOIN server_records r "
                                               "ON r.rid = f.rid WHERE r.record_id = ?"));
  s.Bind(1, record_id);
  while (true) {
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.rows.emplace_back(s.Text(0), OptionalText(s, 1));
  }
  std::sort(out.rows.begin(), out.rows.end());  // bytewise, whatever the database's collation
  out.fields.reserve(out.rows.size());
  for (const auto& [name, value] : out.rows) out.fields.push_back({name, &value});
  return out;
}

Result<int64_t> BuildFactsIfStale(Store& store) {
  Connection& conn = StoreAccess::Conn(store);
  return RefreshEveryRecordIfStale(store, kStaleKey, [&](const std::string& id) -> Status {
    TIANYE_ASSIGN_OR_RETURN(StoredAnswers answers, ReadAnswers(conn, id));
    TIANYE_RETURN_IF_ERROR(WriteFacts(conn, id, answers.fields));
    return WriteSamples(conn, id, answers.fields);
  });
}

}  // namespace tianye::internal
