// The server's store in PostgreSQL: its tables, their upgrades, and opening.
#include <string>
#include <vector>

#include "postgres.h"
#include "store_impl.h"
#include "tianye/store.h"

namespace tianye {
namespace {

using internal::PgConnection;

// Each step runs once, in its own transaction, in this order; released
// steps never change.
struct Step {
  int version;
  const char* sql;
};
const std::vector<Step>& Steps() {
  static const std::vector<Step> steps = {
      {1, R"sql(
        CREATE TABLE settings (
          key   TEXT PRIMARY KEY,
          value TEXT NOT NULL
        );
        CREATE TABLE users (
          username        TEXT PRIMARY KEY,
          display_name    TEXT NOT NULL DEFAULT '',
          password_hash   TEXT NOT NULL,
          role            TEXT NOT NULL CHECK (role IN ('inspector','surveyor','supervisor','admin')),
          scope           TEXT NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(scope::jsonb) = 'array'),
          disabled        BIGINT NOT NULL DEFAULT 0,
          failed_logins   BIGINT NOT NULL DEFAULT 0,
          locked_until_ms BIGINT NOT NULL DEFAULT 0,
          created_ms      BIGINT NOT NULL
        );
        CREATE TABLE tokens (
          token_hash  TEXT PRIMARY KEY,
          username    TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
          device_id   TEXT NOT NULL,
          created_ms  BIGINT NOT NULL,
          expires_ms  BIGINT NOT NULL
        );
        CREATE INDEX tokens_by_user ON tokens (username);
        CREATE INDEX tokens_by_expiry ON tokens (expires_ms);
      )sql"},
      // The sync ledger (core/schema.cc has the SQLite tables and what each
      // column means). Text keys sort by bytes (COLLATE "C"), as in SQLite,
      // whatever the database's locale.
      {2, R"sql(
        CREATE TABLE forms (
          form_id      TEXT COLLATE "C" NOT NULL,
          version      TEXT COLLATE "C" NOT NULL,
          title        TEXT NOT NULL DEFAULT '{}',
          definition   TEXT NOT NULL,
          files        TEXT NOT NULL DEFAULT '{}',
          installed_ms BIGINT NOT NULL,
          PRIMARY KEY (form_id, version)
        );
        CREATE TABLE conflicts (
          id          TEXT COLLATE "C" PRIMARY KEY,
          record_id   TEXT COLLATE "C" NOT NULL,
          field       TEXT COLLATE "C" NOT NULL,
          state       TEXT NOT NULL CHECK (state IN ('open','resolved')),
          base_value  TEXT,
          candidates  TEXT NOT NULL,
          resolution  TEXT NOT NULL DEFAULT '{}',
          version     BIGINT NOT NULL,
          created_ms  BIGINT NOT NULL
        );
        CREATE INDEX conflicts_by_record ON conflicts (record_id, field, state);
        CREATE INDEX conflicts_by_version ON conflicts (version);
        CREATE TABLE server_fields (
          record_id   TEXT COLLATE "C" NOT NULL,
          field       TEXT COLLATE "C" NOT NULL,
          value       TEXT,
          version     BIGINT NOT NULL,
          device_id   TEXT NOT NULL,
          author      TEXT NOT NULL,
          hlc         BIGINT NOT NULL,
          clock_ahead BIGINT NOT NULL DEFAULT 0,
          received_ms BIGINT NOT NULL,
          pushed_by   TEXT NOT NULL DEFAULT '',
          PRIMARY KEY (record_id, field)
        );
        CREATE INDEX server_fields_by_version ON server_fields (version);
        CREATE TABLE server_history (
          version     BIGINT PRIMARY KEY,
          record_id   TEXT COLLATE "C" NOT NULL,
          field       TEXT COLLATE "C" NOT NULL,
          value       TEXT,
          device_id   TEXT NOT NULL,
          author      TEXT NOT NULL,
          hlc         BIGINT NOT NULL,
          received_ms BIGINT NOT NULL,
          push_seq    BIGINT,
          kind        TEXT NOT NULL
        );
        CREATE INDEX server_history_by_field ON server_history (record_id, field, version);
        CREATE TABLE server_records (
          rid             BIGSERIAL UNIQUE,  -- SQLite's rowid (server_records.rid since its schema 16)
          record_id       TEXT COLLATE "C" PRIMARY KEY,
          form_id         TEXT COLLATE "C" NOT NULL,
          form_version    TEXT NOT NULL,
          county_code     TEXT COLLATE "C" NOT NULL DEFAULT '',
          township_code   TEXT COLLATE "C" NOT NULL DEFAULT '',
          village_code    TEXT COLLATE "C" NOT NULL DEFAULT '',
          status          TEXT NOT NULL DEFAULT '',
          author          TEXT NOT NULL DEFAULT '',
          deleted         BIGINT NOT NULL DEFAULT 0,
          open_conflicts  BIGINT NOT NULL DEFAULT 0,
          version         BIGINT NOT NULL,
          created_ms      BIGINT NOT NULL,
          updated_ms      BIGINT NOT NULL,
          checked_version BIGINT NOT NULL DEFAULT 0,
          form_problems   BIGINT NOT NULL DEFAULT 0,
          photos_missing  BIGINT NOT NULL DEFAULT 0
        );
        CREATE INDEX server_records_by_area ON server_records (county_code, township_code, village_code);
        CREATE INDEX server_records_by_updated ON server_records (updated_ms, record_id);
        CREATE INDEX server_records_unchecked ON server_records (version) WHERE checked_version < version;
        CREATE INDEX server_records_by_version ON server_records (version, county_code, township_code, village_code,
          author, record_id);
        CREATE TABLE server_devices (
          device_id       TEXT PRIMARY KEY,
          username        TEXT NOT NULL,
          last_push_seq   BIGINT NOT NULL DEFAULT 0,
          last_seen_ms    BIGINT NOT NULL,
          clock_offset_ms BIGINT NOT NULL DEFAULT 0
        );
        CREATE TABLE server_op_results (
          device_id   TEXT NOT NULL,
          push_seq    BIGINT NOT NULL,
          outcome     TEXT NOT NULL,
          version     BIGINT NOT NULL,
          conflict_id TEXT NOT NULL DEFAULT '',
          PRIMARY KEY (device_id, push_seq)
        );
        CREATE TABLE server_file_refs (
          record_id TEXT COLLATE "C" NOT NULL,
          field     TEXT COLLATE "C" NOT NULL,
          sha256    TEXT NOT NULL,
          PRIMARY KEY (record_id, field)
        );
      )sql"},
      // The review queue's search index (core/search.h: the words of a
      // record's answers, one space apart) and photos, kept in chunks as
      // on SQLite: uploads in progress, then the verified files.
      {3, R"sql(
        CREATE TABLE server_search (
          rid  BIGINT PRIMARY KEY,  -- server_records.rid
          body TEXT COLLATE "C" NOT NULL
        );
        INSERT INTO settings (key, value) SELECT 'server.search_stale', '1'
          WHERE EXISTS (SELECT 1 FROM server_records) ON CONFLICT DO NOTHING;
        CREATE TABLE attachments (
          id         BIGSERIAL PRIMARY KEY,
          sha256     TEXT UNIQUE CHECK (sha256 IS NULL OR length(sha256) = 64),
          size       BIGINT NOT NULL,
          mime       TEXT NOT NULL,
          chunk_size BIGINT NOT NULL CHECK (chunk_size > 0),
          created_ms BIGINT NOT NULL
        );
        CREATE TABLE attachment_chunks (
          attachment_id BIGINT NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
          idx           BIGINT NOT NULL,
          data          BYTEA NOT NULL,
          UNIQUE (attachment_id, idx)
        );
        CREATE TABLE uploads (
          sha256     TEXT PRIMARY KEY CHECK (length(sha256) = 64),
          size       BIGINT NOT NULL,
          mime       TEXT NOT NULL,
          created_ms BIGINT NOT NULL
        );
        CREATE TABLE upload_chunks (
          sha256 TEXT NOT NULL REFERENCES uploads (sha256) ON DELETE CASCADE,
          idx    BIGINT NOT NULL,
          data   BYTEA NOT NULL,
          PRIMARY KEY (sha256, idx)
        );
      )sql"},
      // The dashboard's figures: a row per record (server_facts), per
      // germplasm sample (server_samples), and the low-income list
      // (server_priority_households), as in SQLite (core/schema.cc and
      // core/facts.h). Answers that hold a number are numbers here (NULL
      // when unanswered); SQLite keeps their text. Records already stored
      // get their rows when a server starts (server.facts_stale).
      {4, R"sql(
        CREATE TABLE server_facts (
          form_id        TEXT COLLATE "C" NOT NULL,
          county_code    TEXT COLLATE "C" NOT NULL,
          township_code  TEXT COLLATE "C" NOT NULL,
          village_code   TEXT COLLATE "C" NOT NULL,
          rid            BIGINT NOT NULL UNIQUE,  -- server_records.rid
          record_id      TEXT COLLATE "C" NOT NULL UNIQUE,
          deleted        BIGINT NOT NULL,
          status         TEXT NOT NULL,
          author         TEXT NOT NULL,
          created_ms     BIGINT NOT NULL,
          in_scope       TEXT,
          is_sanitary    TEXT,
          is_harmless    TEXT,
          problem_found  TEXT,
          n_overdue      NUMERIC,
          problems       BIGINT NOT NULL DEFAULT 0,
          problems_fixed BIGINT NOT NULL DEFAULT 0,
          grade_final    TEXT,
          secured        TEXT,
          category       TEXT,
          temp_housing   TEXT,
          samples        TEXT NOT NULL DEFAULT '',
          n_at_risk      NUMERIC,
          gps_in_area    TEXT,
          minutes        BIGINT,
          renovated      TEXT,
          in_use         TEXT,
          problem_open   TEXT,
          fixed_on_time  BIGINT NOT NULL DEFAULT 0,
          froze          TEXT,
          has_toilet     TEXT,
          emptying_mode  TEXT,
          manure_fate    TEXT,
          old_latrine    TEXT,
          satisfaction   TEXT,
          subsidy_yuan   NUMERIC,
          hh_paid_yuan   NUMERIC,
          toilet_type    TEXT,
          no_house       TEXT,
          new_danger     TEXT,
          measure_status TEXT,
          done_days      DOUBLE PRECISION,
          seismic_focus  TEXT,
          dm_final       TEXT,
          structure      TEXT,
          age_over_30    TEXT,
          site_safety    TEXT,
          site_hazards   TEXT,
          grade_calc     TEXT,
          landrace_wild  BIGINT NOT NULL DEFAULT 0,
          deposited      BIGINT NOT NULL DEFAULT 0,
          samples_complete BIGINT NOT NULL DEFAULT 0,
          traits         TEXT NOT NULL DEFAULT '',
          gps_acc        NUMERIC,
          hh_key         TEXT COLLATE "C",
          round          TEXT,
          end_ms         BIGINT,
          form_problems  BIGINT NOT NULL DEFAULT 0,
          photos_missing BIGINT NOT NULL DEFAULT 0,
          PRIMARY KEY (form_id, county_code, township_code, village_code, rid)
        );
        CREATE TABLE server_samples (
          rid        BIGINT NOT NULL,  -- server_records.rid
          sample     TEXT COLLATE "C" NOT NULL,
          res_cat    TEXT,
          local_name TEXT,
          n_male     NUMERIC,
          n_female   NUMERIC,
          n_families NUMERIC,
          pop_trend  TEXT,
          area_mu    NUMERIC,
          n_total    NUMERIC,
          PRIMARY KEY (rid, sample)
        );
        CREATE TABLE server_priority_households (
          hh_key        TEXT COLLATE "C" PRIMARY KEY,
          county_code   TEXT COLLATE "C" NOT NULL,
          township_code TEXT COLLATE "C" NOT NULL,
          village_code  TEXT COLLATE "C" NOT NULL,
          category      TEXT NOT NULL,
          imported_ms   BIGINT NOT NULL
        );
        CREATE INDEX server_priority_households_by_county ON server_priority_households (county_code);
        CREATE INDEX server_priority_households_by_village ON server_priority_households (village_code, hh_key);
        INSERT INTO settings (key, value) SELECT 'server.facts_stale', '1'
          WHERE EXISTS (SELECT 1 FROM server_records) ON CONFLICT DO NOTHING;
      )sql"},
      // As SQLite's schema 15: nothing reads server_fields by version, and
      // the index cost every edit a second index write.
      {5, R"sql(
        DROP INDEX server_fields_by_version;
      )sql"},
      // As SQLite's schema 16: the rows every edit writes name the device
      // by a number from server_device_ids and the record by
      // server_records.rid, and pushed_by becomes the own_op flag.
      {6, R"sql(
        CREATE TABLE server_device_ids (
          dev       BIGSERIAL PRIMARY KEY,
          device_id TEXT COLLATE "C" NOT NULL UNIQUE
        );
        INSERT INTO server_device_ids (device_id)
          SELECT device_id FROM server_fields UNION SELECT device_id FROM server_history
          UNION SELECT device_id FROM server_op_results UNION SELECT device_id FROM server_devices
          ORDER BY 1;
        ALTER TABLE server_fields ADD COLUMN rid BIGINT, ADD COLUMN dev BIGINT,
          ADD COLUMN own_op BIGINT NOT NULL DEFAULT 0;
        UPDATE server_fields f SET rid = r.rid, dev = d.dev,
          own_op = CASE WHEN f.pushed_by <> '' AND f.pushed_by = f.device_id THEN 1 ELSE 0 END
          FROM server_records r, server_device_ids d WHERE r.record_id = f.record_id AND d.device_id = f.device_id;
        ALTER TABLE server_fields ALTER COLUMN rid SET NOT NULL, ALTER COLUMN dev SET NOT NULL,
          DROP COLUMN record_id, DROP COLUMN device_id, DROP COLUMN pushed_by;
        ALTER TABLE server_fields ADD PRIMARY KEY (rid, field);
        ALTER TABLE server_history ADD COLUMN rid BIGINT, ADD COLUMN dev BIGINT;
        UPDATE server_history h SET rid = r.rid, dev = d.dev
          FROM server_records r, server_device_ids d WHERE r.record_id = h.record_id AND d.device_id = h.device_id;
        ALTER TABLE server_history ALTER COLUMN rid SET NOT NULL, ALTER COLUMN dev SET NOT NULL,
          DROP COLUMN record_id, DROP COLUMN device_id;
        CREATE INDEX server_history_by_field ON server_history (rid, field, version);
        ALTER TABLE server_op_results ADD COLUMN dev BIGINT;
        UPDATE server_op_results o SET dev = d.dev FROM server_device_ids d WHERE d.device_id = o.device_id;
        ALTER TABLE server_op_results ALTER COLUMN dev SET NOT NULL, DROP COLUMN device_id;
        ALTER TABLE server_op_results ADD PRIMARY KEY (dev, push_seq);
      )sql"},
  };
  return steps;
}

// Runs the steps after the database's version up to `target`.
Status Upgrade(PgConnection& conn, int target, int* version) {
  TIANYE_RETURN_IF_ERROR(conn.Exec("CREATE TABLE IF NOT EXISTS tianye_schema (version BIGINT NOT NULL)"));
  TIANYE_ASSIGN_OR_RETURN(int64_t at, conn.QueryInt("SELECT coalesce(max(version), 0) FROM tianye_schema"));
  const int latest = Steps().back().version;
  if (at > latest) {
    return Status::FailedPrecondition("the database's tables are at version " + std::to_string(at) +
                                      ", written by a newer Tianye (this one knows up to " + std::to_string(latest) +
                                      ")");
  }
  for (const Step& step : Steps()) {
    if (step.version <= at || step.version > target) continue;
    TIANYE_RETURN_IF_ERROR(conn.Exec("BEGIN"));
    Status s = conn.Exec(step.sql);
    if (s.ok()) {
      const std::string mark = "INSERT INTO tianye_schema (version) VALUES (" + std::to_string(step.version) + ")";
      s = conn.Exec(mark.c_str());
    }
    if (s.ok()) s = conn.Exec("COMMIT");
    if (!s.ok()) {
      (void)conn.Exec("ROLLBACK");
      return s.WithContext("upgrading the database's tables to version " + std::to_string(step.version));
    }
    at = step.version;
  }
  *version = static_cast<int>(at);
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Store>> internal::StoreAccess::OpenPostgres(const std::string& conninfo, const Clock* clock,
                                                                   int target) {
  TIANYE_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> conn, PgConnection::Connect(conninfo));
  const std::string lock = std::to_string(internal::kPgMigrationLock);
  TIANYE_RETURN_IF_ERROR(conn->Exec(("SELECT pg_advisory_lock(" + lock + ")").c_str()));
  int version = 0;
  Status upgraded = Upgrade(*conn, target, &version);
  Status unlocked = conn->Exec(("SELECT pg_advisory_unlock(" + lock + ")").c_str());
  TIANYE_RETURN_IF_ERROR(upgraded);
  TIANYE_RETURN_IF_ERROR(unlocked);
  auto impl = std::make_unique<Store::Impl>();
  impl->path = internal::DescribeConnection(conninfo);
  impl->clock = clock != nullptr ? clock : SystemClock();
  impl->conn = std::move(conn);
  impl->schema_version = version;
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Result<std::unique_ptr<Store>> Store::OpenPostgres(const std::string& conninfo, const Clock* clock) {
  return internal::StoreAccess::OpenPostgres(conninfo, clock, Steps().back().version);
}

Result<std::unique_ptr<Store>> internal::OpenPostgresAtVersionForTesting(const std::string& conninfo, int version) {
  return internal::StoreAccess::OpenPostgres(conninfo, nullptr, version);
}

}  // namespace tianye
