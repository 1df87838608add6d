#include "sqlite.h"

#include <string>

namespace tianye::internal {

Status SqliteStatus(sqlite3* db, int rc, std::string_view context) {
  std::string msg(context);
  msg += ": ";
  msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
        return Status::AlreadyExists(std::move(msg));
      }
      return Status::InvalidArgument(std::move(msg));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(std::move(msg));
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
      return Status::IOError(std::move(msg));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Conflict(std::move(msg));
    case SQLITE_TOOBIG:
      return Status::ResourceExhausted(std::move(msg));
    default:
      return Status::Internal(std::move(msg));
  }
}

namespace {

class SqliteStmt final : public StmtBackend {
 public:
  SqliteStmt(StmtHandle stmt, sqlite3* db) : stmt_(std::move(stmt)), db_(db) {}

  Status BindInt(int index, int64_t value) override {
    return Check(sqlite3_bind_int64(stmt_.get(), index, value), "bind integer");
  }
  Status BindDouble(int index, double value) override {
    return Check(sqlite3_bind_double(stmt_.get(), index, value), "bind real");
  }
  Status BindText(int index, std::string_view text) override {
    return Check(sqlite3_bind_text64(stmt_.get(), index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
                 "bind text");
  }
  Status BindBlob(int index, std::string_view bytes) override {
    // A zero-length blob must still be a blob, not NULL: pass a non-null pointer.
    static const char kEmpty = 0;
    return Check(sqlite3_bind_blob64(stmt_.get(), index, bytes.empty() ? &kEmpty : bytes.data(), bytes.size(),
                                     SQLITE_TRANSIENT),
                 "bind blob");
  }
  Status BindNull(int index) override { return Check(sqlite3_bind_null(stmt_.get(), index), "bind null"); }

  Result<bool> Step() override {
    int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    Status s = SqliteStatus(db_, rc, sqlite3_sql(stmt_.get()));
    sqlite3_reset(stmt_.get());
    return s;
  }

  bool IsNull(int col) const override { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }
  int64_t Int(int col) const override { return sqlite3_column_int64(stmt_.get(), col); }
  double Double(int col) const override { return sqlite3_column_double(stmt_.get(), col); }
  std::string_view Text(int col) const override {
    const auto* p = sqlite3_column_text(stmt_.get(), col);
    int n = sqlite3_column_bytes(stmt_.get(), col);
    return p == nullptr ? std::string_view() : std::string_view(reinterpret_cast<const char*>(p), n);
  }
  std::string_view Blob(int col) const override {
    const void* p = sqlite3_column_blob(stmt_.get(), col);
    int n = sqlite3_column_bytes(stmt_.get(), col);
    return p == nullptr ? std::string_view() : std::string_view(static_cast<const char*>(p), n);
  }
  void Reset() override {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
  }

 private:
  Status Check(int rc, const char* what) const { return rc == SQLITE_OK ? Status::Ok() : SqliteStatus(db_, rc, what); }
  StmtHandle stmt_;
  sqlite3* db_;
};

}  // namespace

Result<std::unique_ptr<StmtBackend>> SqliteConnection::PrepareNew(std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &raw,
                              nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(db_.get(), rc, "prepare");
  return std::unique_ptr<StmtBackend>(new SqliteStmt(StmtHandle(raw), db_.get()));
}

Status SqliteConnection::Exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string context = std::string("exec '") + sql + "'";
  sqlite3_free(err);
  return SqliteStatus(db_.get(), rc, context);
}

Result<sqlite3*> SqliteHandle(Connection& conn, std::string_view what) {
  if (conn.dialect() != Dialect::kSqlite) {
    return Status::FailedPrecondition(std::string(what) + " needs the embedded SQLite store");
  }
  return static_cast<SqliteConnection&>(conn).get();
}

}  // namespace tianye::internal
