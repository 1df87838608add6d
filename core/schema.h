// The store's schema as an ordered list of migrations. Private to the core.
//
// Version N of the schema is what you get by applying migrations 1..N to an
// empty database. A store records its version in PRAGMA user_version; opening
// it applies the missing steps, each in its own transaction. Steps are never
// edited once released: a change is a new step at the end.
#ifndef TIANYE_CORE_SCHEMA_H_
#define TIANYE_CORE_SCHEMA_H_

#include "sqlite.h"
#include "tianye/status.h"

namespace tianye::internal {

// PRAGMA application_id of every Tianye store: "TIAN" in ASCII.
inline constexpr int kApplicationId = 0x5449414E;

// The refresh of server_facts as migration 6 made it (16 columns). Released
// SQL: only migration 6 uses it, and it must stay as it is.
#define TIANYE_REFRESH_FACTS_V6_SQL                                                                 \
  "INSERT OR REPLACE INTO server_facts SELECT record_id, "                                         \
  "max(CASE WHEN field = 'in_scope' THEN value END), "                                            \
  "max(CASE WHEN field = 'is_sanitary' THEN value END), "                                         \
  "max(CASE WHEN field = 'is_harmless' THEN value END), "                                         \
  "max(CASE WHEN field = 'problem_found' THEN value END), "                                       \
  "max(CASE WHEN field = 'n_overdue' THEN value END), "                                           \
  "sum(field LIKE 'problems[%]/prob\\_status' ESCAPE '\\' AND value IS NOT NULL), "              \
  "sum(field LIKE 'problems[%]/prob\\_status' ESCAPE '\\' AND value = 'fixed'), "                \
  "max(CASE WHEN field = 'grade_final' THEN value END), "                                         \
  "max(CASE WHEN field = 'secured' THEN value END), "                                             \
  "max(CASE WHEN field = 'category' THEN value END), "                                            \
  "max(CASE WHEN field = 'temp_housing' THEN value END), "                                        \
  "coalesce(group_concat(CASE WHEN field LIKE 'sample[%]/res\\_cat' ESCAPE '\\' THEN value END, ' '), ''), " \
  "max(CASE WHEN field = 'n_at_risk' THEN value END), "                                           \
  "max(CASE WHEN field = 'gps_in_area' THEN value END), "                                         \
  "round((julianday(max(CASE WHEN field = 'end' THEN value END)) - "                              \
  "julianday(max(CASE WHEN field = 'start' THEN value END))) * 1440.0) "                           \
  "FROM server_fields"

// Refreshes server_facts (the dashboard's figures of each record, one row
// per record) from the records' current fields, as migrations 9 and 13 did
// (since then the ledger computes the same rows in C++, core/facts.h, and
// facts_test holds the two to each other). Append " WHERE record_id = ?
// GROUP BY record_id" for one record, or " GROUP BY record_id" for all (each
// with a row in server_records). TIANYE_REFRESH_FACTS9_SQL fills the table
// as migration 9 made it (released SQL: it must stay as it is);
// TIANYE_REFRESH_FACTS_SQL the table of migration 13, every column of the
// newest schema (a later step that changes the table needs a new one).
//
// A repeat's rows are told apart by their instance prefix ("sample[k]/",
// what precedes the first "]/" and that mark); a condition on two answers of
// one instance reads the sibling through a correlated lookup, inside a CASE
// so that it runs only for that repeat's rows.
#define TIANYE_FACTS_ONE(column) "max(CASE WHEN field = '" column "' THEN value END)"
#define TIANYE_FACTS_REPEAT(repeat, field) "field LIKE '" repeat "[%]/" field "' ESCAPE '\\'"
#define TIANYE_FACTS_SIBLING(field)                                                                 \
  "(SELECT o.value FROM server_fields o WHERE o.record_id = server_fields.record_id AND o.field = " \
  "substr(server_fields.field, 1, instr(server_fields.field, ']/') + 1) || '" field "')"
#define TIANYE_FACTS9_COLUMNS \
  "rid, record_id, in_scope, is_sanitary, is_harmless, problem_found, " \
  "n_overdue, problems, problems_fixed, grade_final, secured, category, temp_housing, samples, "      \
  "n_at_risk, gps_in_area, minutes, renovated, in_use, problem_open, fixed_on_time, froze, "          \
  "has_toilet, emptying_mode, manure_fate, old_latrine, satisfaction, subsidy_yuan, hh_paid_yuan, "   \
  "toilet_type, no_house, new_danger, measure_status, done_days, seismic_focus, dm_final, structure, " \
  "age_over_30, site_safety, site_hazards, grade_calc, landrace_wild, deposited, samples_complete, "   \
  "traits, gps_acc, hh_key, round, end_ms"
#define TIANYE_FACTS9_VALUES \
  "(SELECT rowid FROM server_records WHERE server_records.record_id = server_fields.record_id), record_id, " \
  TIANYE_FACTS_ONE("in_scope") ", " TIANYE_FACTS_ONE("is_sanitary") ", "                              \
  TIANYE_FACTS_ONE("is_harmless") ", " TIANYE_FACTS_ONE("problem_found") ", "                         \
  TIANYE_FACTS_ONE("n_overdue") ", "                                                                  \
  "sum(" TIANYE_FACTS_REPEAT("problems", "prob\\_status") " AND value IS NOT NULL), "                \
  "sum(" TIANYE_FACTS_REPEAT("problems", "prob\\_status") " AND value = 'fixed'), "                  \
  TIANYE_FACTS_ONE("grade_final") ", " TIANYE_FACTS_ONE("secured") ", " TIANYE_FACTS_ONE("category") \
  ", " TIANYE_FACTS_ONE("temp_housing") ", "                                                          \
  "coalesce(group_concat(CASE WHEN " TIANYE_FACTS_REPEAT("sample", "res\\_cat") " THEN value END, ' '), ''), " \
  TIANYE_FACTS_ONE("n_at_risk") ", " TIANYE_FACTS_ONE("gps_in_area") ", "                             \
  "round((julianday(" TIANYE_FACTS_ONE("end") ") - julianday(" TIANYE_FACTS_ONE("start") ")) * 1440.0), " \
  TIANYE_FACTS_ONE("renovated") ", " TIANYE_FACTS_ONE("in_use") ", " TIANYE_FACTS_ONE("problem_open") \
  ", "                                                                                                \
  /* B7: problems fixed by their deadline */                                                          \
  "coalesce(sum(CASE WHEN " TIANYE_FACTS_REPEAT("problems", "fixed\\_date") " THEN value <= "       \
  TIANYE_FACTS_SIBLING("deadline") " AND " TIANYE_FACTS_SIBLING("prob_status") " = 'fixed' END), 0), " \
  TIANYE_FACTS_ONE("froze_last_winter") ", " TIANYE_FACTS_ONE("has_toilet") ", "                      \
  TIANYE_FACTS_ONE("emptying_mode") ", " TIANYE_FACTS_ONE("manure_fate") ", "                         \
  TIANYE_FACTS_ONE("old_latrine") ", " TIANYE_FACTS_ONE("satisfaction") ", "                          \
  TIANYE_FACTS_ONE("subsidy_yuan") ", " TIANYE_FACTS_ONE("hh_paid_yuan") ", "                         \
  TIANYE_FACTS_ONE("toilet_type") ", " TIANYE_FACTS_ONE("no_house") ", "                              \
  TIANYE_FACTS_ONE("new_danger") ", " TIANYE_FACTS_ONE("measure_status") ", "                         \
  "julianday(" TIANYE_FACTS_ONE("done_date") ") - julianday(" TIANYE_FACTS_ONE("survey_date") "), "    \
  TIANYE_FACTS_ONE("seismic_focus") ", " TIANYE_FACTS_ONE("dm_final") ", "                            \
  TIANYE_FACTS_ONE("structure") ", " TIANYE_FACTS_ONE("age_over_30") ", "                             \
  TIANYE_FACTS_ONE("site_safety") ", " TIANYE_FACTS_ONE("site_hazards") ", "                          \
  TIANYE_FACTS_ONE("grade_calc") ", "                                                                 \
  /* A2: crop samples that are landraces or wild; A4: samples handed to a bank */                     \
  "coalesce(sum(" TIANYE_FACTS_REPEAT("sample", "germplasm\\_type") " AND value IN ('landrace', 'wild')), 0), " \
  "coalesce(sum(" TIANYE_FACTS_REPEAT("sample", "deposit\\_to") " AND value NOT IN ('', 'not_yet')), 0), "  \
  /* A5: samples with both photos and a Latin name (livestock has none to give) */                    \
  "coalesce(sum(CASE WHEN " TIANYE_FACTS_REPEAT("sample", "photo\\_main") " AND value != '' THEN "    \
  "coalesce(" TIANYE_FACTS_SIBLING("photo_2") ", '') != '' AND ("                                      \
  TIANYE_FACTS_SIBLING("res_cat") " = 'livestock' OR coalesce(" TIANYE_FACTS_SIBLING("latin_name") ", " \
  TIANYE_FACTS_SIBLING("aq_latin") ", " TIANYE_FACTS_SIBLING("fungi_latin") ", '') != '') END), 0), "   \
  "coalesce(group_concat(CASE WHEN " TIANYE_FACTS_REPEAT("sample", "main\\_traits") " THEN value END, ' '), ''), " \
  TIANYE_FACTS_ONE("gps_acc") ", " TIANYE_FACTS_ONE("hh_key") ", " TIANYE_FACTS_ONE("monitor_round") ", " \
  "CAST(round((julianday(" TIANYE_FACTS_ONE("end") ") - 2440587.5) * 86400000.0) AS INTEGER) "
#define TIANYE_REFRESH_FACTS9_SQL \
  "INSERT OR REPLACE INTO server_facts (" TIANYE_FACTS9_COLUMNS ") SELECT " TIANYE_FACTS9_VALUES "FROM server_fields"

// The refresh of server_facts since migration 13: the same figures, with
// the record's own columns the dashboard filters and groups by beside them,
// so that it reads server_facts alone, in its key's order (form, area).
#define TIANYE_FACTS_RECORD(column) \
  "(SELECT " column " FROM server_records WHERE server_records.record_id = server_fields.record_id)"
#define TIANYE_REFRESH_FACTS_SQL                                                                              \
  "INSERT OR REPLACE INTO server_facts (" TIANYE_FACTS9_COLUMNS ", form_id, county_code, township_code, "     \
  "village_code, deleted, status, author, created_ms) SELECT " TIANYE_FACTS9_VALUES ", "                      \
  TIANYE_FACTS_RECORD("form_id") ", " TIANYE_FACTS_RECORD("county_code") ", " TIANYE_FACTS_RECORD("township_code") \
  ", " TIANYE_FACTS_RECORD("village_code") ", " TIANYE_FACTS_RECORD("deleted") ", " TIANYE_FACTS_RECORD("status") \
  ", " TIANYE_FACTS_RECORD("author") ", " TIANYE_FACTS_RECORD("created_ms") " FROM server_fields"

// The newest schema version this build knows.
int LatestSchemaVersion();

// Brings the database from its current user_version up to `target`
// (<= LatestSchemaVersion()). Each step commits on its own, so a crash
// leaves the store at some complete version. Errors: kFailedPrecondition
// when the store is newer than this build.
Status Migrate(Connection& conn, int target);

// The free disk Migrate(conn, target) may need, as a multiple of the store's
// size (its file and log), for a store at schema `current`: 0 when no step
// due rewrites large tables (or the store has no server records for them to
// hold).
Result<double> UpgradeDiskFactor(Connection& conn, int64_t current, int target);


// Rewrites the server_samples rows (the germplasm samples' figures: one row
// per `sample` repeat instance still present; migration 12, and since then
// core/facts.h in C++) of the germplasm records the
// WHERE clause that follows selects from server_records r, e.g. "WHERE
// r.record_id = ?"; end it with TIANYE_SAMPLES_GROUP.
#define TIANYE_SAMPLE_FIELD(name) \
  "max(CASE WHEN substr(f.field, instr(f.field, ']')) = ']/" name "' THEN f.value END)"
#define TIANYE_REFRESH_SAMPLES_SQL                                                                       \
  "INSERT INTO server_samples (rid, sample, res_cat, local_name, n_male, n_female, n_families, "        \
  "pop_trend, area_mu, n_total) SELECT r.rowid, substr(f.field, 8, instr(f.field, ']') - 8), "        \
  TIANYE_SAMPLE_FIELD("res_cat") ", " TIANYE_SAMPLE_FIELD("local_name") ", "                          \
  TIANYE_SAMPLE_FIELD("n_male") ", " TIANYE_SAMPLE_FIELD("n_female") ", "                             \
  TIANYE_SAMPLE_FIELD("n_families") ", " TIANYE_SAMPLE_FIELD("pop_trend") ", "                        \
  TIANYE_SAMPLE_FIELD("area_mu") ", " TIANYE_SAMPLE_FIELD("n_total") " "                              \
  "FROM server_records r JOIN server_fields f ON f.record_id = r.record_id "                          \
  "AND f.field > 'sample[' AND f.field < 'sample\\' AND r.form_id = 'germplasm' "
#define TIANYE_SAMPLES_GROUP                                                                             \
  " GROUP BY r.rowid, substr(f.field, 8, instr(f.field, ']') - 8) "                                    \
  "HAVING coalesce(max(CASE WHEN substr(f.field, instr(f.field, ']')) = ']' THEN f.value END), '') != ''"

}  // namespace tianye::internal

#endif  // TIANYE_CORE_SCHEMA_H_
