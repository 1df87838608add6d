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
  };
  return steps;
}

// Any fixed number: the advisory lock every Tianye server takes while it
// upgrades the tables, so two starting together do it once.
constexpr const char* kMigrationLock = "SELECT pg_advisory_lock(735201)";
constexpr const char* kMigrationUnlock = "SELECT pg_advisory_unlock(735201)";

Status Upgrade(PgConnection& conn, int* version) {
  TIANYE_RETURN_IF_ERROR(conn.Exec("CREATE TABLE IF NOT EXISTS tianye_schema (version BIGINT NOT NULL)"));
  TIANYE_ASSIGN_OR_RETURN(int64_t at, conn.QueryInt("SELECT coalesce(max(version), 0) FROM tianye_schema"));
  const int latest = Steps().back().version;
  if (at > latest) {
    return Status::FailedPrecondition("the database's tables are at version " + std::to_string(at) +
                                      ", written by a newer Tianye (this one knows up to " + std::to_string(latest) +
                                      ")");
  }
  for (const Step& step : Steps()) {
    if (step.version <= at) continue;
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

Result<std::unique_ptr<Store>> Store::OpenPostgres(const std::string& conninfo, const Clock* clock) {
  TIANYE_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> conn, PgConnection::Connect(conninfo));
  TIANYE_RETURN_IF_ERROR(conn->Exec(kMigrationLock));
  int version = 0;
  Status upgraded = Upgrade(*conn, &version);
  Status unlocked = conn->Exec(kMigrationUnlock);
  TIANYE_RETURN_IF_ERROR(upgraded);
  TIANYE_RETURN_IF_ERROR(unlocked);
  auto impl = std::make_unique<Store::Impl>();
  impl->path = internal::DescribeConnection(conninfo);
  impl->clock = clock != nullptr ? clock : SystemClock();
  impl->conn = std::move(conn);
  impl->schema_version = version;
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

}  // namespace tianye
