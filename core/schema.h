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

// The newest schema version this build knows.
int LatestSchemaVersion();

// Brings the database from its current user_version up to `target`
// (<= LatestSchemaVersion()). Each step commits on its own, so a crash
// leaves the store at some complete version. Errors: kFailedPrecondition
// when the store is newer than this build.
Status Migrate(Connection& conn, int target);

}  // namespace tianye::internal

#endif  // TIANYE_CORE_SCHEMA_H_
