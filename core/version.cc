#include "tianye/version.h"

#include "schema.h"
#include "sqlite.h"

#ifndef TIANYE_VERSION
#error "TIANYE_VERSION must be defined by the build"
#endif

namespace tianye {

Result<VersionInfo> GetVersionInfo() {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(":memory:", &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  internal::SqliteConnection conn{internal::DbHandle(raw)};
  if (rc != SQLITE_OK) return internal::SqliteStatus(raw, rc, "open in-memory database");
  VersionInfo info;
  info.tianye = TIANYE_VERSION;
  info.sqlite = sqlite3_libversion();
  info.schema = internal::LatestSchemaVersion();
  Result<std::string> cipher = conn.QueryText("PRAGMA cipher_version");
  if (!cipher || cipher->empty()) {
    return Status::FailedPrecondition("the linked SQLite has no SQLCipher encryption");
  }
  info.sqlcipher = *cipher;
  return info;
}

std::string VersionLine(const std::string& program) {
  Result<VersionInfo> v = GetVersionInfo();
  if (!v) return program + " " TIANYE_VERSION " (" + v.error().ToString() + ")";
  return program + " " + v->tianye + " (SQLCipher " + v->sqlcipher + ", SQLite " + v->sqlite +
         ", store schema " + std::to_string(v->schema) + ")";
}

}  // namespace tianye
