// The dashboard's per-record figures computed in C++ (core/facts.h) against
// the SQL that computed them before (core/schema.h, still what migrations
// 9, 12 and 13 run), on random records in a real SQLCipher server store;
// and the SQLite readings they copy (julianday(), CAST AS REAL) against
// SQLite itself on random text.
#include "facts.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "schema.h"
#include "sqlite.h"
#include "store_impl.h"
#include "store_testing.h"
#include "sync_internal.h"
#include "sync_testing.h"

namespace tianye {
namespace {

using internal::Connection;
using internal::Stmt;

// Every column of the rows `sql` (one parameter: ?1 = `param`) selects, as
// "type:value" with reals in hex (exact), row by row.
std::vector<std::string> Rows(Connection& conn, const std::string& sql, const std::string& param) {
  auto db = internal::SqliteHandle(conn, "the test");
  EXPECT_TRUE(db.has_value());
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(*db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(*db);
  sqlite3_bind_text(s, 1, param.c_str(), -1, SQLITE_TRANSIENT);
  std::vector<std::string> out;
  while (sqlite3_step(s) == SQLITE_ROW) {
    std::string row;
    for (int i = 0; i < sqlite3_column_count(s); ++i) {
      row += std::string(sqlite3_column_name(s, i)) + "=";
      char real[64];
      switch (sqlite3_column_type(s, i)) {
        case SQLITE_NULL: row += "null"; break;
        case SQLITE_INTEGER: row += "int:" + std::to_string(sqlite3_column_int64(s, i)); break;
        case SQLITE_FLOAT:
          std::snprintf(real, sizeof real, "real:%a", sqlite3_column_double(s, i));
          row += real;
          break;
        default: row += "text:" + std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, i))); break;
      }
      row += " ";
    }
    out.push_back(row);
  }
  sqlite3_finalize(s);
  return out;
}

// What SQLite's `expression` (of ?1) gives for `text`: "null" or the value.
std::string SqliteValue(Connection& conn, const std::string& expression, const std::string& text) {
  std::vector<std::string> rows = Rows(conn, "SELECT " + expression + " AS v", text);
  return rows.empty() ? "" : rows[0];
}

std::string Real(double v) {
  char out[64];
  std::snprintf(out, sizeof out, "v=real:%a ", v);
  return out;
}

// Text shaped like the dates, times and numbers people type, and bits of them.
std::string RandomMoment(std::mt19937& rng) {
  auto pick = [&](std::initializer_list<const char*> list) {
    return std::string(list.begin()[std::uniform_int_distribution<size_t>(0, list.size() - 1)(rng)]);
  };
  auto two = [&](int max) {
    char out[8];
    std::snprintf(out, sizeof out, "%02d", std::uniform_int_distribution<int>(0, max)(rng));
    return std::string(out);
  };
  std::string s;
  switch (std::uniform_int_distribution<int>(0, 5)(rng)) {
    case 0:  // a date and maybe a time and a zone
      s = pick({"2026", "1999", "0000", "9999", "-4713", "2024", "1970"}) + "-" + two(13) + "-" + two(32);
      if (rng() % 3) {
        s += pick({"T", " ", "TT", "  ", "T "}) + two(25) + ":" + two(60);
        if (rng() % 2) s += ":" + two(60) + pick({"", ".5", ".123", ".9999", ".", ".000001"});
        s += pick({"", "Z", "z", "+08:00", "-05:30", " +08:00", "+15:00", "+8:00", "+08", " ", "x"});
      }
      break;
    case 1:  // a time alone
      s = two(25) + ":" + two(60) + pick({"", ":30", ":59.999", "+08:00", "Z"});
      break;
    case 2:  // a number
      s = pick({"", " ", "-", "+"}) + std::to_string(rng() % 3000000) + pick({"", ".5", ".", "e2", "e", "E-3", " ", "x"});
      break;
    case 3:
      s = pick({"", " ", "abc", "12abc", ".5", ".", "e5", "1e400", "-1e400", "1e-400", "0x10", "  7  ",
                "2026-09-01\x01", "中文", "0.1", "1.7976931348623157e308", "4.9e-324", "2460000.5", "5373484.5",
                "-0.0", "00012", "9223372036854775808", "1e99999999999999999999",
                "-0.001e-99999999999999999999", "0e999999"});
      break;
    case 4:  // a real date-time with a character dropped or changed
      s = "2026-09-01T10:05:30.250+08:00";
      s[std::uniform_int_distribution<size_t>(0, s.size() - 1)(rng)] = pick({"0", "9", "-", ":", " ", "T", "+"})[0];
      break;
    default:
      s = "2026-09-01T10:05:30+08:00";
      s.erase(std::uniform_int_distribution<size_t>(0, s.size() - 1)(rng), 1);
      break;
  }
  return s;
}

// Holds what this code gives for 20,000 random texts (`ours`, as Rows()
// writes a value) to what SQLite's `expression` of ?1 gives.
void ExpectSqlitesReading(const std::string& expression, const std::function<std::string(const std::string&)>& ours) {
  testing::SyncWorld world(0);
  Connection& conn = internal::StoreAccess::Conn(world.server());
  const unsigned seed = std::random_device()();
  std::mt19937 rng(seed);
  for (int i = 0; i < 20000; ++i) {
    const std::string text = RandomMoment(rng);
    EXPECT_EQ(ours(text), SqliteValue(conn, expression, text)) << "'" << text << "' (seed " << seed << ")";
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(FactsTest, DatesReadAsSqlitesJuliandayReadsThem) {
  ExpectSqlitesReading("julianday(?1)", [](const std::string& text) {
    const std::optional<int64_t> ms = internal::JulianDayMs(text);
    return ms ? Real(*ms / 86400000.0) : std::string("v=null ");
  });
  // Where julianday() reads the present moment, an answer reads nothing.
  for (const char* now : {"now", "NOW", "subsec", "subsecond"}) EXPECT_EQ(internal::JulianDayMs(now), std::nullopt);
}

TEST(FactsTest, NumbersInTextReadAsSqlitesCastReadsThem) {
  ExpectSqlitesReading("CAST(?1 AS REAL)", [](const std::string& text) { return Real(internal::SqliteReal(text)); });
}

// Random records of the three forms' figures: answers, cleared answers,
// repeats (some instances odd: another case, nested, unclosed), and values
// that are dates, numbers, words and garbage.
class RandomRecords {
 public:
  explicit RandomRecords(unsigned seed) : rng_(seed) {}

  std::map<std::string, std::optional<std::string>> Next() {
    std::map<std::string, std::optional<std::string>> fields;
    static const char* const kPlain[] = {
        "in_scope", "is_sanitary", "is_harmless", "problem_found", "n_overdue", "renovated", "in_use",
        "problem_open", "froze_last_winter", "has_toilet", "emptying_mode", "manure_fate", "old_latrine",
        "satisfaction", "subsidy_yuan", "hh_paid_yuan", "toilet_type", "grade_final", "secured", "category",
        "temp_housing", "no_house", "new_danger", "measure_status", "done_date", "survey_date", "seismic_focus",
        "dm_final", "structure", "age_over_30", "site_safety", "site_hazards", "grade_calc", "monitor_round",
        "n_at_risk", "gps_in_area", "gps_acc", "hh_key", "start", "end", "head_name", "In_Scope"};
    static const char* const kProblem[] = {"prob_status", "fixed_date", "deadline", "PROB_STATUS", "Fixed_Date"};
    static const char* const kSample[] = {"res_cat",    "germplasm_type", "deposit_to", "photo_main", "photo_2",
                                          "latin_name", "aq_latin",       "fungi_latin", "main_traits", "local_name",
                                          "n_male",     "n_female",       "n_families",  "pop_trend",  "area_mu",
                                          "n_total",    "RES_CAT"};
    static const char* const kInstance[] = {"a", "b", "c1", "", "x]/y", "中"};
    // Whole repeat instances and times, as the forms write them...
    auto maybe = [&](const char* const* list, size_t n) -> std::optional<std::string> {
      if (rng_() % 5 == 0) return std::nullopt;
      return std::string(list[std::uniform_int_distribution<size_t>(0, n - 1)(rng_)]);
    };
    static const char* const kDates[] = {"2026-09-01", "2026-09-15", "2026-09-30", "2026-10-01", "", "soon"};
    static const char* const kTimes[] = {"2026-09-01T10:00:00+08:00", "2026-09-01T10:07:30.500+08:00",
                                         "2026-09-01 02:03", "2026-09-02T00:00:00Z", "10:30", "bad"};
    static const char* const kStatus[] = {"fixed", "pending", ""};
    static const char* const kCategory[] = {"crop", "livestock", "aquatic", ""};
    static const char* const kType[] = {"landrace", "wild", "bred", ""};
    static const char* const kDeposit[] = {"bank", "not_yet", ""};
    static const char* const kPhoto[] = {"3f2a.jpg", ""};
    static const char* const kLatin[] = {"Fagopyrum esculentum", ""};
    static const char* const kNumber[] = {"3", "12.5", "", "x", "1e2"};
    for (const char* field : {"start", "end", "survey_date", "done_date"}) {
      fields[field] = maybe(field[0] == 's' && field[1] == 't' ? kTimes : field[0] == 'e' ? kTimes : kDates, 6);
    }
    for (int k = rng_() % 4; k > 0; --k) {
      const std::string p = "problems[p" + std::to_string(k) + "]/";
      fields[p + "prob_status"] = maybe(kStatus, 3);
      fields[p + "fixed_date"] = maybe(kDates, 6);
      fields[p + "deadline"] = maybe(kDates, 6);
    }
    for (int k = rng_() % 4; k > 0; --k) {
      const std::string id = "sample[s" + std::to_string(k) + "]";
      fields[id] = rng_() % 4 ? std::optional<std::string>("1") : maybe(kStatus, 3);
      fields[id + "/res_cat"] = maybe(kCategory, 4);
      fields[id + "/germplasm_type"] = maybe(kType, 4);
      fields[id + "/deposit_to"] = maybe(kDeposit, 3);
      fields[id + "/photo_main"] = maybe(kPhoto, 2);
      fields[id + "/photo_2"] = maybe(kPhoto, 2);
      fields[id + (rng_() % 2 ? "/latin_name" : "/aq_latin")] = maybe(kLatin, 2);
      fields[id + "/main_traits"] = maybe(kStatus, 3);
      fields[id + "/local_name"] = std::string(k % 2 ? "红山荞麦" : "边鸡");
      for (const char* n : {"/n_male", "/n_female", "/n_families", "/area_mu", "/n_total"}) fields[id + n] = maybe(kNumber, 5);
    }
    // ...then anything, over them or beside them.
    const int n = std::uniform_int_distribution<int>(1, 40)(rng_);
    for (int i = 0; i < n; ++i) {
      std::string name;
      switch (rng_() % 4) {
        case 0:
        case 1: name = Pick(kPlain); break;
        case 2: name = std::string(rng_() % 8 ? "problems[" : "Problems[") + Pick(kInstance) + "]/" + Pick(kProblem); break;
        default:
          if (rng_() % 5 == 0) {
            name = std::string("sample[") + Pick(kInstance) + (rng_() % 6 ? "]" : "");  // the instance itself
          } else {
            name = std::string("sample[") + Pick(kInstance) + "]/" + Pick(kSample);
          }
      }
      fields[name] = Value();
    }
    return fields;
  }

 private:
  template <size_t N>
  const char* Pick(const char* const (&list)[N]) {
    return list[std::uniform_int_distribution<size_t>(0, N - 1)(rng_)];
  }
  std::optional<std::string> Value() {
    static const char* const kWords[] = {"",          "0",       "1",        "yes",       "no",     "fixed",
                                         "pending",   "landrace", "wild",    "not_yet",   "bank",   "livestock",
                                         "crop",      "C",        "D",       "normal",    "village", "dumped",
                                         "demolished", "satisfied", "stays", "dibao",     "12",     "3.5",
                                         "-2",        "1e3",      "abc",     "12abc",     " 7 ",    "红山荞麦",
                                         "2026-09-01", "2026-09-30", "2026-08-15"};
    switch (rng_() % 6) {
      case 0: return std::nullopt;
      case 1: return RandomMoment(rng_);
      default: return std::string(Pick(kWords));
    }
  }
  std::mt19937 rng_;
};

TEST(FactsTest, TheFiguresOfARecordAreWhatTheSqlComputed) {
  // The released SQL reads a record's answers by its id, as server_fields
  // held them up to schema 15: it runs on a store at 15, this code on a
  // current one. The figures' own tables are the same in both, and each
  // record gets the same row number in each.
  testing::TempDir dir;
  StoreOptions options;
  options.path = dir.File("released.db");
  auto released = internal::OpenAtSchemaForTesting(options, testing::kPassphrase, 15);
  ASSERT_TRUE(released.has_value()) << released.error().ToString();
  Connection& conn = internal::StoreAccess::Conn(**released);
  options.path = dir.File("current.db");
  auto current = Store::Open(options, testing::kPassphrase);
  ASSERT_TRUE(current.has_value()) << current.error().ToString();
  Connection& ours = internal::StoreAccess::Conn(**current);
  const unsigned seed = std::random_device()();
  RandomRecords records(seed);
  // How often each computed figure came out non-trivial: the records must
  // exercise them all for the comparison to mean something.
  std::map<std::string, int> seen;
  for (int r = 0; r < 600; ++r) {
    const std::string id = "rec" + std::to_string(r);
    const char* form = r % 3 == 0 ? "toilet" : r % 3 == 1 ? "housing" : "germplasm";
    const std::string record = "INSERT INTO server_records (record_id, form_id, form_version, county_code, "
                               "township_code, village_code, status, author, version, created_ms, updated_ms) "
                               "VALUES ('" + id + "', '" + form + "', '1', '140622000000', '140622100000', "
                               "'140622100201', 'finalized', 'li', 1, " + std::to_string(1790000000000 + r) + ", 0)";
    ASSERT_TRUE(conn.Exec(record.c_str()).ok());
    ASSERT_TRUE(ours.Exec(record.c_str()).ok());
    const std::map<std::string, std::optional<std::string>> answers = records.Next();
    for (const auto& [field, value] : answers) {
      auto s = conn.Prepare("INSERT INTO server_fields (record_id, field, value, version, device_id, author, hlc, "
                            "received_ms) VALUES (?, ?, ?, 1, 'dev', 'li', 1, 0)");
      ASSERT_TRUE(s.has_value());
      s->Bind(1, id).Bind(2, field);
      internal::BindOptional(*s, 3, value);
      ASSERT_TRUE(s->Run().ok());
    }
    std::vector<internal::FactField> fields;
    for (const auto& [field, value] : answers) fields.push_back({field, &value});

    // The SQL's rows, then this code's.
    auto refresh = conn.Prepare(TIANYE_REFRESH_FACTS_SQL " WHERE record_id = ? GROUP BY record_id");
    ASSERT_TRUE(refresh.has_value());
    ASSERT_TRUE(refresh->Bind(1, id).Run().ok());
    auto samples = conn.Prepare(TIANYE_REFRESH_SAMPLES_SQL "WHERE r.record_id = ?" TIANYE_SAMPLES_GROUP);
    ASSERT_TRUE(samples.has_value());
    ASSERT_TRUE(samples->Bind(1, id).Run().ok());
    const std::string facts_sql = "SELECT * FROM server_facts WHERE record_id = ?1";
    const std::string samples_sql =
        "SELECT * FROM server_samples WHERE rid = (SELECT rowid FROM server_records WHERE record_id = ?1) ORDER BY sample";
    const std::vector<std::string> want_facts = Rows(conn, facts_sql, id), want_samples = Rows(conn, samples_sql, id);
    ASSERT_TRUE(internal::WriteFacts(ours, id, fields).ok());
    ASSERT_TRUE(internal::WriteSamples(ours, id, fields).ok());
    std::string answered;
    for (const auto& [field, value] : answers) answered += "\n  " + field + " = " + (value ? "'" + *value + "'" : "NULL");
    ASSERT_EQ(want_facts.size(), 1u);
    for (const char* figure : {" problems=int:", " problems_fixed=int:", " fixed_on_time=int:", " landrace_wild=int:",
                               " deposited=int:", " samples_complete=int:"}) {
      seen[figure] += want_facts[0].find(std::string(figure) + "0 ") == std::string::npos;
    }
    for (const char* figure : {" minutes=int", " done_days=real", " end_ms=int", " samples=text:c", " traits=text:"}) {
      seen[figure] += want_facts[0].find(figure) != std::string::npos;
    }
    seen["sample rows"] += !want_samples.empty();
    EXPECT_EQ(Rows(ours, facts_sql, id), want_facts) << "answers:" << answered << "\n(seed " << seed << ")";
    EXPECT_EQ(Rows(ours, samples_sql, id), want_samples) << "answers:" << answered << "\n(seed " << seed << ")";
    if (HasFailure()) return;
  }
  for (const auto& [figure, records_with_it] : seen) EXPECT_GE(records_with_it, 5) << figure << " " << records_with_it << " (seed " << seed << ")";
  EXPECT_EQ(seen.size(), 12u);
}

}  // namespace
}  // namespace tianye
