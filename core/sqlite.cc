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

Stmt::Stmt(sqlite3_stmt* stmt, sqlite3* db, bool* busy_flag, StmtHandle owned)
    : stmt_(stmt), db_(db), busy_flag_(busy_flag), owned_(std::move(owned)) {
  if (busy_flag_ != nullptr) *busy_flag_ = true;
}

Stmt::Stmt(Stmt&& other) noexcept
    : stmt_(other.stmt_),
      db_(other.db_),
      busy_flag_(other.busy_flag_),
      owned_(std::move(other.owned_)),
      error_(std::move(other.error_)) {
  other.stmt_ = nullptr;
  other.busy_flag_ = nullptr;
}

Stmt::~Stmt() {
  if (stmt_ == nullptr) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  if (busy_flag_ != nullptr) *busy_flag_ = false;
}

void Stmt::Note(int rc, const char* what) {
  if (rc != SQLITE_OK && error_.ok()) error_ = SqliteStatus(db_, rc, what);
}

Stmt& Stmt::Bind(int index, int64_t value) {
  Note(sqlite3_bind_int64(stmt_, index, value), "bind integer");
  return *this;
}

Stmt& Stmt::Bind(int index, std::string_view text) {
  Note(sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
       "bind text");
  return *this;
}

Stmt& Stmt::Bind(int index, const std::optional<int64_t>& value) {
  return value ? Bind(index, *value) : BindNull(index);
}

Stmt& Stmt::BindBlob(int index, std::string_view bytes) {
  // A zero-length blob must still be a blob, not NULL: pass a non-null pointer.
  static const char kEmpty = 0;
  Note(sqlite3_bind_blob64(stmt_, index, bytes.empty() ? &kEmpty : bytes.data(), bytes.size(),
                           SQLITE_TRANSIENT),
       "bind blob");
  return *this;
}

Stmt& Stmt::BindNull(int index) {
  Note(sqlite3_bind_null(stmt_, index), "bind null");
  return *this;
}

Result<bool> Stmt::Step() {
  if (!error_.ok()) return error_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status s = SqliteStatus(db_, rc, sqlite3_sql(stmt_));
  sqlite3_reset(stmt_);
  return s;
}

Status Stmt::Run() {
  while (true) {
    Result<bool> row = Step();
    if (!row) return row.error();
    if (!*row) return Status::Ok();
  }
}

bool Stmt::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

int64_t Stmt::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

double Stmt::Double(int col) const { return sqlite3_column_double(stmt_, col); }

std::string Stmt::Text(int col) const {
  const auto* p = sqlite3_column_text(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), n);
}

std::optional<int64_t> Stmt::OptionalInt(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int(col);
}

std::string_view Stmt::Blob(int col) const {
  const void* p = sqlite3_column_blob(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  return p == nullptr ? std::string_view() : std::string_view(static_cast<const char*>(p), n);
}

Connection::~Connection() { cache_.clear(); }

Result<Stmt> Connection::Prepare(std::string_view sql) {
  auto it = cache_.find(std::string(sql));
  if (it != cache_.end() && !it->second.busy) {
    return Stmt(it->second.stmt.get(), db_.get(), &it->second.busy, nullptr);
  }
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(db_.get(), rc, "prepare");
  StmtHandle handle(raw);
  if (it != cache_.end()) {
    // The cached statement is in use further up the stack (a nested query):
    // hand out a private one that is finalized when done.
    return Stmt(raw, db_.get(), nullptr, std::move(handle));
  }
  auto [pos, inserted] = cache_.emplace(std::string(sql), Cached{std::move(handle), false});
  return Stmt(raw, db_.get(), &pos->second.busy, nullptr);
}

Status Connection::Exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string context = std::string("exec '") + sql + "'";
  sqlite3_free(err);
  return SqliteStatus(db_.get(), rc, context);
}

Result<std::string> Connection::QueryText(const char* sql) {
  TIANYE_ASSIGN_OR_RETURN(Stmt stmt, Prepare(sql));
  TIANYE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Status::Internal(std::string("no row from: ") + sql);
  return stmt.Text(0);
}

Result<int64_t> Connection::QueryInt(const char* sql) {
  TIANYE_ASSIGN_OR_RETURN(Stmt stmt, Prepare(sql));
  TIANYE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Status::Internal(std::string("no row from: ") + sql);
  return stmt.Int(0);
}

}  // namespace tianye::internal
