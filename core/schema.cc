#include "schema.h"

#include <iterator>
#include <string>

namespace tianye::internal {
namespace {

struct Migration {
  int version;
  const char* sql;
};

// Append only. Each step's SQL runs inside one transaction with the
// user_version bump.
constexpr Migration kMigrations[] = {
    {1, R"sql(
      PRAGMA application_id = 1414086990;
      CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE records (
        id            TEXT PRIMARY KEY,
        form_id       TEXT NOT NULL CHECK (form_id <> ''),
        form_version  TEXT NOT NULL,
        county_code   TEXT NOT NULL DEFAULT '',
        township_code TEXT NOT NULL DEFAULT '',
        village_code  TEXT NOT NULL DEFAULT '',
        author        TEXT NOT NULL DEFAULT '',
        status        TEXT NOT NULL CHECK (status IN
                        ('draft','finalized','synced','approved','returned','rejected')),
        data          TEXT NOT NULL CHECK (json_valid(data) AND json_type(data) = 'object'),
        created_ms    INTEGER NOT NULL,
        updated_ms    INTEGER NOT NULL
      );
      CREATE INDEX records_by_form_status ON records (form_id, status);
    )sql"},
    {2, R"sql(
      CREATE TABLE attachments (
        id         INTEGER PRIMARY KEY,
        sha256     TEXT UNIQUE CHECK (sha256 IS NULL OR length(sha256) = 64),
        size       INTEGER NOT NULL,
        mime       TEXT NOT NULL,
        chunk_size INTEGER NOT NULL CHECK (chunk_size > 0),
        created_ms INTEGER NOT NULL
      );
      CREATE TABLE attachment_chunks (
        attachment_id INTEGER NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
        idx           INTEGER NOT NULL,
        data          BLOB NOT NULL,
        UNIQUE (attachment_id, idx)
      );
      CREATE TABLE record_attachments (
        record_id TEXT NOT NULL REFERENCES records (id) ON DELETE CASCADE,
        field     TEXT NOT NULL,
        sha256    TEXT NOT NULL REFERENCES attachments (sha256),
        PRIMARY KEY (record_id, field, sha256)
      ) WITHOUT ROWID;
      CREATE INDEX record_attachments_by_sha ON record_attachments (sha256);
    )sql"},
    {3, R"sql(
      ALTER TABLE records ADD COLUMN deleted_ms INTEGER;
      CREATE INDEX records_by_updated ON records (updated_ms);
    )sql"},
    {4, R"sql(
      CREATE TABLE forms (
        form_id      TEXT NOT NULL,
        version      TEXT NOT NULL,
        title        TEXT NOT NULL DEFAULT '{}',
        definition   TEXT NOT NULL CHECK (json_valid(definition)),
        files        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(files)),
        installed_ms INTEGER NOT NULL,
        PRIMARY KEY (form_id, version)
      ) WITHOUT ROWID;
      ALTER TABLE records ADD COLUMN resume_path TEXT NOT NULL DEFAULT '';
      ALTER TABLE records ADD COLUMN review_comment TEXT NOT NULL DEFAULT '';
    )sql"},
};

static_assert(kApplicationId == 1414086990, "the SQL above spells the id in decimal");

}  // namespace

int LatestSchemaVersion() { return std::end(kMigrations)[-1].version; }

Status Migrate(Connection& conn, int target) {
  TIANYE_ASSIGN_OR_RETURN(int64_t current, conn.QueryInt("PRAGMA user_version"));
  if (current > LatestSchemaVersion()) {
    return Status::FailedPrecondition(
        "this store was written by a newer version of Tianye (schema " + std::to_string(current) +
        ", this build knows up to " + std::to_string(LatestSchemaVersion()) +
        "); install the newer Tianye to open it");
  }
  for (const Migration& m : kMigrations) {
    if (m.version <= current || m.version > target) continue;
    TIANYE_RETURN_IF_ERROR(conn.Exec("BEGIN IMMEDIATE"));
    std::string bump = "PRAGMA user_version = " + std::to_string(m.version);
    Status s = conn.Exec(m.sql);
    if (s.ok()) s = conn.Exec(bump.c_str());
    if (s.ok()) s = conn.Exec("COMMIT");
    if (!s.ok()) {
      (void)conn.Exec("ROLLBACK");
      return s.WithContext("schema migration to version " + std::to_string(m.version));
    }
  }
  return Status::Ok();
}

}  // namespace tianye::internal
