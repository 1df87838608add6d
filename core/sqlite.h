// The SQLite (SQLCipher) backend of sql.h: RAII over sqlite3 and
// sqlite3_stmt. Private to the core.
#ifndef TIANYE_CORE_SQLITE_H_
#define TIANYE_CORE_SQLITE_H_

#include <sqlite3.h>

#include <memory>
#include <string_view>

#include "sql.h"
#include "tianye/status.h"

namespace tianye::internal {

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbHandle = std::unique_ptr<sqlite3, SqliteCloser>;

struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using StmtHandle = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// Turns an SQLite result code into a Status: "<context>: <sqlite message>".
// SQLITE_CONSTRAINT_PRIMARYKEY/UNIQUE -> kAlreadyExists, other constraints ->
// kInvalidArgument, CORRUPT/NOTADB -> kCorruption, IOERR/FULL/CANTOPEN ->
// kIOError, BUSY/LOCKED -> kConflict, anything else -> kInternal.
Status SqliteStatus(sqlite3* db, int rc, std::string_view context);

class SqliteConnection final : public Connection {
 public:
  explicit SqliteConnection(DbHandle db) : db_(std::move(db)) {}
  SqliteConnection(SqliteConnection&&) = default;
  SqliteConnection& operator=(SqliteConnection&&) = default;
  ~SqliteConnection() override { ClearCache(); }

  Dialect dialect() const override { return Dialect::kSqlite; }
  sqlite3* get() const { return db_.get(); }
  Status Exec(const char* sql) override;
  int64_t Changes() const override { return sqlite3_changes64(db_.get()); }

 protected:
  Result<std::unique_ptr<StmtBackend>> PrepareNew(std::string_view sql) override;

 private:
  DbHandle db_;
};

// The SQLite handle under `conn`; kFailedPrecondition on another backend
// (for what only SQLite does: SQL functions written in C++, rekeying).
Result<sqlite3*> SqliteHandle(Connection& conn, std::string_view what);

}  // namespace tianye::internal

#endif  // TIANYE_CORE_SQLITE_H_
