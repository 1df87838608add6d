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

// Refreshes server_facts (the dashboard's figures of each record, one row
// per record) from the records' current fields. Append " WHERE record_id = ?
// GROUP BY record_id" for one record, or " GROUP BY record_id" for all. A
// macro so that the migration that makes the table can use it as it is.
#define TIANYE_REFRESH_FACTS_SQL                                                                    \
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

// The newest schema version this build knows.
int LatestSchemaVersion();

// Brings the database from its current user_version up to `target`
// (<= LatestSchemaVersion()). Each step commits on its own, so a crash
// leaves the store at some complete version. Errors: kFailedPrecondition
// when the store is newer than this build.
Status Migrate(Connection& conn, int target);

}  // namespace tianye::internal

#endif  // TIANYE_CORE_SCHEMA_H_
