#include "schema.h"

#include <algorithm>
#include <iterator>
#include <string>

namespace tianye::internal {
namespace {

struct Migration {
  int version;
  const char* sql;
  // A step that rewrites the server's tables holds their old and new rows,
  // and its log, until it commits: the free disk it needs at most, as a
  // multiple of the store's size. 0: next to nothing.
  double disk_factor = 0;
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
    {5, R"sql(
      -- Sync, device side. One outbox row per changed field, written in the
      -- same transaction as the edit; push_seq is set when the row is first
      -- placed in a batch and never changes after that.
      CREATE TABLE outbox (
        op_seq       INTEGER PRIMARY KEY,
        push_seq     INTEGER UNIQUE,
        txn_id       INTEGER NOT NULL,
        record_id    TEXT NOT NULL,
        field        TEXT NOT NULL,
        value        TEXT,
        base_version INTEGER NOT NULL,
        hlc          INTEGER NOT NULL,
        form_id      TEXT NOT NULL,
        form_version TEXT NOT NULL,
        created_ms   INTEGER NOT NULL
      );
      CREATE INDEX outbox_by_field ON outbox (record_id, field);
      -- The server version of each field as this device last saw it, and
      -- the server's value at that version when known (a pulled value that
      -- waited behind a local edit still in flight).
      CREATE TABLE field_meta (
        record_id TEXT NOT NULL,
        field     TEXT NOT NULL,
        version   INTEGER NOT NULL,
        known     INTEGER NOT NULL DEFAULT 0,
        value     TEXT,
        PRIMARY KEY (record_id, field)
      ) WITHOUT ROWID;
      -- Conflicts, kept identically on the server and (mirrored) on devices.
      CREATE TABLE conflicts (
        id          TEXT PRIMARY KEY,
        record_id   TEXT NOT NULL,
        field       TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('open','resolved')),
        base_value  TEXT,
        candidates  TEXT NOT NULL CHECK (json_valid(candidates)),
        resolution  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(resolution)),
        version     INTEGER NOT NULL,
        created_ms  INTEGER NOT NULL
      );
      CREATE INDEX conflicts_by_record ON conflicts (record_id, field, state);
      CREATE INDEX conflicts_by_version ON conflicts (version);

      -- Sync, server side. The current value and version of every field; the
      -- version is the server sequence of the change that set it.
      CREATE TABLE server_fields (
        record_id   TEXT NOT NULL,
        field       TEXT NOT NULL,
        value       TEXT,
        version     INTEGER NOT NULL,
        device_id   TEXT NOT NULL,
        author      TEXT NOT NULL,
        hlc         INTEGER NOT NULL,
        clock_ahead INTEGER NOT NULL DEFAULT 0,
        received_ms INTEGER NOT NULL,
        pushed_by   TEXT NOT NULL DEFAULT '',  -- the device whose own op set this value as is
        PRIMARY KEY (record_id, field)
      ) WITHOUT ROWID;
      CREATE INDEX server_fields_by_version ON server_fields (version);
      -- Every change ever accepted, superseded ones included (record history).
      CREATE TABLE server_history (
        version     INTEGER PRIMARY KEY,
        record_id   TEXT NOT NULL,
        field       TEXT NOT NULL,
        value       TEXT,
        device_id   TEXT NOT NULL,
        author      TEXT NOT NULL,
        hlc         INTEGER NOT NULL,
        received_ms INTEGER NOT NULL,
        push_seq    INTEGER,
        kind        TEXT NOT NULL
      );
      CREATE INDEX server_history_by_field ON server_history (record_id, field, version);
      -- One row per record: what scope checks, paging and review need.
      CREATE TABLE server_records (
        record_id     TEXT PRIMARY KEY,
        form_id       TEXT NOT NULL,
        form_version  TEXT NOT NULL,
        county_code   TEXT NOT NULL DEFAULT '',
        township_code TEXT NOT NULL DEFAULT '',
        village_code  TEXT NOT NULL DEFAULT '',
        status        TEXT NOT NULL DEFAULT '',
        author        TEXT NOT NULL DEFAULT '',
        deleted       INTEGER NOT NULL DEFAULT 0,
        open_conflicts INTEGER NOT NULL DEFAULT 0,
        version       INTEGER NOT NULL,
        created_ms    INTEGER NOT NULL,
        updated_ms    INTEGER NOT NULL
      );
      CREATE INDEX server_records_by_area ON server_records (county_code, township_code, village_code);
      CREATE TABLE server_devices (
        device_id      TEXT PRIMARY KEY,
        username       TEXT NOT NULL,
        last_push_seq  INTEGER NOT NULL DEFAULT 0,
        last_seen_ms   INTEGER NOT NULL,
        clock_offset_ms INTEGER NOT NULL DEFAULT 0
      ) WITHOUT ROWID;
      -- The stored answer for each pushed op, so a re-push gets the same one.
      CREATE TABLE server_op_results (
        device_id TEXT NOT NULL,
        push_seq  INTEGER NOT NULL,
        outcome   TEXT NOT NULL,
        version   INTEGER NOT NULL,
        conflict_id TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (device_id, push_seq)
      ) WITHOUT ROWID;
      -- Photo uploads in progress on the server (chunks verified one by one,
      -- the whole file before it joins the attachments).
      CREATE TABLE uploads (
        sha256     TEXT PRIMARY KEY CHECK (length(sha256) = 64),
        size       INTEGER NOT NULL,
        mime       TEXT NOT NULL,
        created_ms INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE upload_chunks (
        sha256 TEXT NOT NULL REFERENCES uploads (sha256) ON DELETE CASCADE,
        idx    INTEGER NOT NULL,
        data   BLOB NOT NULL,
        PRIMARY KEY (sha256, idx)
      ) WITHOUT ROWID;
      -- Device side: photos the server has confirmed.
      CREATE TABLE sync_uploaded (
        sha256 TEXT PRIMARY KEY
      ) WITHOUT ROWID;
      CREATE TABLE users (
        username      TEXT PRIMARY KEY,
        display_name  TEXT NOT NULL DEFAULT '',
        password_hash TEXT NOT NULL,
        role          TEXT NOT NULL CHECK (role IN ('inspector','surveyor','supervisor','admin')),
        scope         TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(scope)),
        disabled      INTEGER NOT NULL DEFAULT 0,
        failed_logins INTEGER NOT NULL DEFAULT 0,
        locked_until_ms INTEGER NOT NULL DEFAULT 0,
        created_ms    INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE tokens (
        token_hash  TEXT PRIMARY KEY,
        username    TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
        device_id   TEXT NOT NULL,
        created_ms  INTEGER NOT NULL,
        expires_ms  INTEGER NOT NULL
      ) WITHOUT ROWID;
    )sql"},
    {6, R"sql(
      -- Server side: the figures the dashboard reads, one row per record,
      -- kept current by the ledger whenever one of these fields changes (so
      -- the dashboard reads 100,000 short rows, not every answer).
      CREATE TABLE server_facts (
        record_id      TEXT PRIMARY KEY,
        in_scope       TEXT,
        is_sanitary    TEXT,
        is_harmless    TEXT,
        problem_found  TEXT,
        n_overdue      TEXT,
        problems       INTEGER NOT NULL DEFAULT 0,  -- problem rows with a status
        problems_fixed INTEGER NOT NULL DEFAULT 0,
        grade_final    TEXT,
        secured        TEXT,
        category       TEXT,
        temp_housing   TEXT,
        samples        TEXT NOT NULL DEFAULT '',    -- each sample's res_cat, space-separated
        n_at_risk      TEXT,
        gps_in_area    TEXT,
        minutes        INTEGER                      -- survey length: end - start, NULL when not times
      ) WITHOUT ROWID;
      -- Server side: which file (photo, signature) each field named when it
      -- was set, for "photos pending". A row is only believed while the
      -- field still holds that file (rows are not removed when it changes).
      CREATE TABLE server_file_refs (
        record_id TEXT NOT NULL,
        field     TEXT NOT NULL,
        sha256    TEXT NOT NULL,
        PRIMARY KEY (record_id, field)
      ) WITHOUT ROWID;
      -- The queue's default order (newest change first): a page is read
      -- off this index instead of sorting every record in scope.
      CREATE INDEX server_records_by_updated ON server_records (updated_ms, record_id);
      INSERT INTO server_file_refs SELECT record_id, field, substr(value, 1, 64) FROM server_fields
        WHERE length(value) >= 64 AND substr(value, 1, 64) NOT GLOB '*[^0-9a-f]*'
          AND (length(value) = 64 OR substr(value, 65, 1) = '.');
    )sql" TIANYE_REFRESH_FACTS_V6_SQL " GROUP BY record_id;"},
    {7, R"sql(
      -- Server side: the review queue's full-text index (core/search.h), one
      -- row per record whose rowid is the record's rowid in server_records:
      -- its answers and the labels of the choices they name.
      CREATE VIRTUAL TABLE server_search USING fts5(body, tokenize = 'unicode61 remove_diacritics 2');
      -- Records from before the index are indexed once, by the server at
      -- its next start (labels need the forms, which SQL cannot read).
      INSERT INTO settings (key, value) SELECT 'server.search_stale', '1' WHERE EXISTS (SELECT 1 FROM server_records);
    )sql"},
    {8, R"sql(
      -- Server side: the server's check of each record's answers against its
      -- form (include/tianye/form_check.h): how many problems they had at
      -- version `checked_version` (-1: form version not installed). A record
      -- whose version moved on waits for the next check; the partial index
      -- finds those without reading the rest. Existing records wait too.
      ALTER TABLE server_records ADD COLUMN checked_version INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE server_records ADD COLUMN form_problems INTEGER NOT NULL DEFAULT 0;
      CREATE INDEX server_records_unchecked ON server_records (version) WHERE checked_version < version;
    )sql"},
    {9, R"sql(
      -- Server side: server_facts again, with the facts for the rest of the
      -- dashboard's indicators (../shared/domain/forms.md §6), now keyed by
      -- the record's rowid in server_records: the dashboard joins each
      -- record to its facts, and an integer key is found several times
      -- faster than a 36-character id. Filled for every record below.
      DROP TABLE server_facts;
      CREATE TABLE server_facts (
        rid            INTEGER PRIMARY KEY,         -- server_records.rowid
        record_id      TEXT NOT NULL UNIQUE,
        in_scope       TEXT,
        is_sanitary    TEXT,
        is_harmless    TEXT,
        problem_found  TEXT,
        n_overdue      TEXT,
        problems       INTEGER NOT NULL DEFAULT 0,  -- problem rows with a status
        problems_fixed INTEGER NOT NULL DEFAULT 0,
        grade_final    TEXT,
        secured        TEXT,
        category       TEXT,
        temp_housing   TEXT,
        samples        TEXT NOT NULL DEFAULT '',    -- each sample's res_cat, space-separated
        n_at_risk      TEXT,
        gps_in_area    TEXT,
        minutes        INTEGER,                     -- survey length: end - start, NULL when not times
        -- Toilets: B4 in use, B6 households cleared, B7 on time, B8 frozen,
        -- B9 manure, B10 old latrine, B11 satisfaction, B12 money, B13 type.
        renovated      TEXT,
        in_use         TEXT,
        problem_open   TEXT,
        fixed_on_time  INTEGER NOT NULL DEFAULT 0,  -- problems fixed by their deadline
        froze          TEXT,                        -- froze_last_winter
        has_toilet     TEXT,
        emptying_mode  TEXT,
        manure_fate    TEXT,
        old_latrine    TEXT,
        satisfaction   TEXT,
        subsidy_yuan   TEXT,
        hh_paid_yuan   TEXT,
        toilet_type    TEXT,
        -- Housing: C3 no house, C6 new danger, C7 progress, C8 seismic
        -- measures, C9 structures and age, C10 site, C11 overridden grades.
        no_house       TEXT,
        new_danger     TEXT,
        measure_status TEXT,
        done_days      REAL,                        -- done_date - survey_date
        seismic_focus  TEXT,
        dm_final       TEXT,
        structure      TEXT,
        age_over_30    TEXT,
        site_safety    TEXT,
        site_hazards   TEXT,
        grade_calc     TEXT,
        -- Germplasm (per sample, summed per record): A2, A4, A5, A8.
        landrace_wild  INTEGER NOT NULL DEFAULT 0,
        deposited      INTEGER NOT NULL DEFAULT 0,
        samples_complete INTEGER NOT NULL DEFAULT 0,  -- photos and Latin name
        traits         TEXT NOT NULL DEFAULT '',      -- main_traits, space-separated
        -- Every form: GPS accuracy, duplicate households, sync lag.
        gps_acc        TEXT,
        hh_key         TEXT,
        round          TEXT,                        -- monitor_round
        end_ms         INTEGER,                     -- the form's end, ms since 1970
        -- Written by the server's form check (server_records.form_problems
        -- of the last check; 0 again whenever the facts are refreshed).
        form_problems  INTEGER NOT NULL DEFAULT 0
      );
      -- The dashboard reads one form's records at a time, in area order,
      -- from this index alone (it holds every column the dashboard reads;
      -- the rowid finds the facts). None of them changes with each push,
      -- so pushes do not rewrite it.
      CREATE INDEX server_records_by_form_area ON server_records (form_id, county_code, township_code, village_code,
        deleted, status, author, created_ms, record_id);
    )sql" TIANYE_REFRESH_FACTS9_SQL " GROUP BY record_id;"
     // The form check's counts so far, beside the facts.
     "INSERT INTO server_facts (rid, record_id, form_problems) SELECT rowid, record_id, form_problems "
     "FROM server_records WHERE checked_version = version AND form_problems != 0 "
     "ON CONFLICT (rid) DO UPDATE SET form_problems = excluded.form_problems;"},
    {10, R"sql(
      -- Server side: a pull reads the records changed since the device's
      -- cursor off this index, with what the scope check needs, instead of
      -- every field changed since then on the server.
      CREATE INDEX server_records_by_version ON server_records (version, county_code, township_code, village_code,
        author, record_id);
    )sql"},
    {11, R"sql(
      -- Server side: the civil-affairs list of low-income households
      -- (include/tianye/priority_list.h), the dashboard's C1 denominator.
      -- An import replaces the list of each county it names.
      CREATE TABLE server_priority_households (
        hh_key        TEXT PRIMARY KEY,   -- village code '-' household number, as the housing form's hh_key
        county_code   TEXT NOT NULL,      -- 6, 9 and 12 digits, as the forms' counties.csv, towns.csv
        township_code TEXT NOT NULL,      -- and villages.csv name them
        village_code  TEXT NOT NULL,
        category      TEXT NOT NULL,      -- lowinc_cat: dibao, tekun, dibao_edge, return_risk, hardship, other_exit
        imported_ms   INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX server_priority_households_by_county ON server_priority_households (county_code);
      -- The dashboard counts per village off this index (it holds hh_key too).
      CREATE INDEX server_priority_households_by_village ON server_priority_households (village_code);
    )sql"},
    {12, R"sql(
      -- Server side: the figures of each germplasm sample (a `sample` repeat
      -- instance) for the dashboard's A6 (livestock breeds' populations) and
      -- A7 (the plan's tracked resources' area and stock); kept current by
      -- the ledger like server_facts. rid: server_records.rowid.
      CREATE TABLE server_samples (
        rid        INTEGER NOT NULL,
        sample     TEXT NOT NULL,   -- the instance id
        res_cat    TEXT,
        local_name TEXT,
        n_male     TEXT,
        n_female   TEXT,
        n_families TEXT,
        pop_trend  TEXT,
        area_mu    TEXT,
        n_total    TEXT,
        PRIMARY KEY (rid, sample)
      ) WITHOUT ROWID;
    )sql" TIANYE_REFRESH_SAMPLES_SQL TIANYE_SAMPLES_GROUP ";"},
    {13, R"sql(
      -- Server side: server_facts carries the record's own columns the
      -- dashboard filters and groups by (form, area, status, author, time)
      -- and is kept in the dashboard's order, (form, county, township,
      -- village): one form's figures are one range of this table, read in
      -- order, with no lookup per record. Every record has a row now (the
      -- ledger refreshes it when the record's status, area or answers change).
      DROP TABLE server_facts;
      CREATE TABLE server_facts (
        form_id        TEXT NOT NULL,
        county_code    TEXT NOT NULL,
        township_code  TEXT NOT NULL,
        village_code   TEXT NOT NULL,
        rid            INTEGER NOT NULL UNIQUE,     -- server_records.rowid
        record_id      TEXT NOT NULL UNIQUE,
        deleted        INTEGER NOT NULL,
        status         TEXT NOT NULL,
        author         TEXT NOT NULL,
        created_ms     INTEGER NOT NULL,
        -- The figures, as migration 9 defined them.
        in_scope       TEXT,
        is_sanitary    TEXT,
        is_harmless    TEXT,
        problem_found  TEXT,
        n_overdue      TEXT,
        problems       INTEGER NOT NULL DEFAULT 0,
        problems_fixed INTEGER NOT NULL DEFAULT 0,
        grade_final    TEXT,
        secured        TEXT,
        category       TEXT,
        temp_housing   TEXT,
        samples        TEXT NOT NULL DEFAULT '',
        n_at_risk      TEXT,
        gps_in_area    TEXT,
        minutes        INTEGER,
        renovated      TEXT,
        in_use         TEXT,
        problem_open   TEXT,
        fixed_on_time  INTEGER NOT NULL DEFAULT 0,
        froze          TEXT,
        has_toilet     TEXT,
        emptying_mode  TEXT,
        manure_fate    TEXT,
        old_latrine    TEXT,
        satisfaction   TEXT,
        subsidy_yuan   TEXT,
        hh_paid_yuan   TEXT,
        toilet_type    TEXT,
        no_house       TEXT,
        new_danger     TEXT,
        measure_status TEXT,
        done_days      REAL,
        seismic_focus  TEXT,
        dm_final       TEXT,
        structure      TEXT,
        age_over_30    TEXT,
        site_safety    TEXT,
        site_hazards   TEXT,
        grade_calc     TEXT,
        landrace_wild  INTEGER NOT NULL DEFAULT 0,
        deposited      INTEGER NOT NULL DEFAULT 0,
        samples_complete INTEGER NOT NULL DEFAULT 0,
        traits         TEXT NOT NULL DEFAULT '',
        gps_acc        TEXT,
        hh_key         TEXT,
        round          TEXT,
        end_ms         INTEGER,
        form_problems  INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (form_id, county_code, township_code, village_code, rid)
      ) WITHOUT ROWID;
    )sql" TIANYE_REFRESH_FACTS_SQL " GROUP BY record_id;"
     "UPDATE server_facts SET form_problems = (SELECT form_problems FROM server_records r WHERE r.rowid = rid) "
     "WHERE rid IN (SELECT rowid FROM server_records WHERE checked_version = version AND form_problems != 0);"},
    {14, R"sql(
      -- Server side: of a record's form problems, the required photos it
      -- lacks (the dashboard's "photos missing where required"), kept by
      -- the form check beside form_problems. Records with problems are
      -- checked again to count them.
      ALTER TABLE server_records ADD COLUMN photos_missing INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE server_facts ADD COLUMN photos_missing INTEGER NOT NULL DEFAULT 0;
      UPDATE server_records SET checked_version = 0 WHERE form_problems > 0;
    )sql"},
    {15, R"sql(
      -- Server side: no query reads server_fields by version any more (a
      -- pull finds changed records on server_records_by_version, then reads
      -- each one's fields by its key), and the index cost every edit a
      -- delete and an insert: an edit of five fields wrote a sixth fewer
      -- pages without it.
      DROP INDEX server_fields_by_version;
    )sql"},
    {16, R"sql(
      -- Server side: the rows every edit writes (a field's current row, its
      -- history row and index entry, the op's answer) name the device and
      -- the record by small numbers instead of their 36-character ids: an
      -- edit of the bench's toilet records writes about 45% fewer pages,
      -- and a server store takes less than half the disk. Devices get a number
      -- from server_device_ids on first use ("server", a reviewer's change,
      -- gets one too); a record is named by its row number in
      -- server_records, which becomes a declared INTEGER PRIMARY KEY kept as
      -- it was (the facts, samples and search index already name records by
      -- it), so that nothing, VACUUM included, renumbers the records.
      CREATE TABLE server_device_ids (
        dev       INTEGER PRIMARY KEY,
        device_id TEXT NOT NULL UNIQUE
      );
      INSERT INTO server_device_ids (device_id)
        SELECT device_id FROM server_fields UNION SELECT device_id FROM server_history
        UNION SELECT device_id FROM server_op_results UNION SELECT device_id FROM server_devices
        ORDER BY 1;
      CREATE TABLE server_records_new (
        rid             INTEGER PRIMARY KEY,
        record_id       TEXT NOT NULL UNIQUE,
        form_id         TEXT NOT NULL,
        form_version    TEXT NOT NULL,
        county_code     TEXT NOT NULL DEFAULT '',
        township_code   TEXT NOT NULL DEFAULT '',
        village_code    TEXT NOT NULL DEFAULT '',
        status          TEXT NOT NULL DEFAULT '',
        author          TEXT NOT NULL DEFAULT '',
        deleted         INTEGER NOT NULL DEFAULT 0,
        open_conflicts  INTEGER NOT NULL DEFAULT 0,
        version         INTEGER NOT NULL,
        created_ms      INTEGER NOT NULL,
        updated_ms      INTEGER NOT NULL,
        checked_version INTEGER NOT NULL DEFAULT 0,
        form_problems   INTEGER NOT NULL DEFAULT 0,
        photos_missing  INTEGER NOT NULL DEFAULT 0
      );
      INSERT INTO server_records_new
        SELECT rowid, record_id, form_id, form_version, county_code, township_code, village_code, status, author,
               deleted, open_conflicts, version, created_ms, updated_ms, checked_version, form_problems,
               photos_missing
        FROM server_records;
      DROP TABLE server_records;
      ALTER TABLE server_records_new RENAME TO server_records;
      CREATE INDEX server_records_by_area ON server_records (county_code, township_code, village_code);
      CREATE INDEX server_records_by_updated ON server_records (updated_ms, record_id);
      CREATE INDEX server_records_unchecked ON server_records (version) WHERE checked_version < version;
      CREATE INDEX server_records_by_form_area ON server_records (form_id, county_code, township_code, village_code,
        deleted, status, author, created_ms, record_id);
      CREATE INDEX server_records_by_version ON server_records (version, county_code, township_code, village_code,
        author, record_id);
      -- pushed_by named the device whose own op set the value as is, and was
      -- either '' or the setting device: it becomes a flag.
      CREATE TABLE server_fields_new (
        rid         INTEGER NOT NULL,             -- server_records.rid
        field       TEXT NOT NULL,
        value       TEXT,
        version     INTEGER NOT NULL,
        dev         INTEGER NOT NULL,             -- server_device_ids.dev of the device that set it
        author      TEXT NOT NULL,
        hlc         INTEGER NOT NULL,
        clock_ahead INTEGER NOT NULL DEFAULT 0,
        received_ms INTEGER NOT NULL,
        own_op      INTEGER NOT NULL DEFAULT 0,   -- 1: that device's own op set this value as is
        PRIMARY KEY (rid, field)
      ) WITHOUT ROWID;
      INSERT INTO server_fields_new
        SELECT r.rid, f.field, f.value, f.version, d.dev, f.author, f.hlc, f.clock_ahead, f.received_ms,
               f.pushed_by <> '' AND f.pushed_by = f.device_id
        FROM server_fields f JOIN server_records r ON r.record_id = f.record_id
        JOIN server_device_ids d ON d.device_id = f.device_id;
      DROP TABLE server_fields;
      ALTER TABLE server_fields_new RENAME TO server_fields;
      CREATE TABLE server_history_new (
        version     INTEGER PRIMARY KEY,
        rid         INTEGER NOT NULL,             -- server_records.rid
        field       TEXT NOT NULL,
        value       TEXT,
        dev         INTEGER NOT NULL,             -- server_device_ids.dev
        author      TEXT NOT NULL,
        hlc         INTEGER NOT NULL,
        received_ms INTEGER NOT NULL,
        push_seq    INTEGER,
        kind        TEXT NOT NULL
      );
      INSERT INTO server_history_new
        SELECT h.version, r.rid, h.field, h.value, d.dev, h.author, h.hlc, h.received_ms, h.push_seq, h.kind
        FROM server_history h JOIN server_records r ON r.record_id = h.record_id
        JOIN server_device_ids d ON d.device_id = h.device_id;
      DROP TABLE server_history;
      ALTER TABLE server_history_new RENAME TO server_history;
      CREATE INDEX server_history_by_field ON server_history (rid, field, version);
      CREATE TABLE server_op_results_new (
        dev         INTEGER NOT NULL,             -- server_device_ids.dev
        push_seq    INTEGER NOT NULL,
        outcome     TEXT NOT NULL,
        version     INTEGER NOT NULL,
        conflict_id TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (dev, push_seq)
      ) WITHOUT ROWID;
      INSERT INTO server_op_results_new
        SELECT d.dev, o.push_seq, o.outcome, o.version, o.conflict_id
        FROM server_op_results o JOIN server_device_ids d ON d.device_id = o.device_id;
      DROP TABLE server_op_results;
      ALTER TABLE server_op_results_new RENAME TO server_op_results;
    )sql",
     // Measured 1.33 (store_bench --upgrade-records 100000: a 1.34 GB store
     // grew by 0.22 GB and its log reached 1.57 GB).
     1.4},
};

static_assert(kApplicationId == 1414086990, "the SQL above spells the id in decimal");

}  // namespace

int LatestSchemaVersion() { return std::end(kMigrations)[-1].version; }

Result<double> UpgradeDiskFactor(Connection& conn, int64_t current, int target) {
  double factor = 0;
  for (const Migration& m : kMigrations) {
    if (m.version > current && m.version <= target) factor = std::max(factor, m.disk_factor);
  }
  if (factor == 0) return 0.0;
  // A device's store has no server records: the rewrite writes next to nothing.
  TIANYE_ASSIGN_OR_RETURN(int64_t server, conn.QueryInt("SELECT count(*) FROM sqlite_schema WHERE name = "
                                                        "'server_records'"));
  if (server == 0) return 0.0;
  TIANYE_ASSIGN_OR_RETURN(int64_t records, conn.QueryInt("SELECT EXISTS (SELECT 1 FROM server_records)"));
  return records != 0 ? factor : 0.0;
}

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
