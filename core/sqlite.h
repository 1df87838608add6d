// RAII over sqlite3 / sqlite3_stmt and a statement cache. Private to the core.
//
// Thread safety: a Connection and its statements belong to one thread.
#ifndef TIANYE_CORE_SQLITE_H_
#define TIANYE_CORE_SQLITE_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

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

// A prepared statement borrowed from a Connection (or owned, when the cached
// one is already in use). Reset and unbound when it goes out of scope.
// Bind errors are remembered and reported by the next Step()/Run().
class Stmt {
 public:
  Stmt(sqlite3_stmt* stmt, sqlite3* db, bool* busy_flag, StmtHandle owned);
  Stmt(Stmt&& other) noexcept;
  Stmt& operator=(Stmt&&) = delete;
  ~Stmt();

  Stmt& Bind(int index, int64_t value);
  Stmt& Bind(int index, std::string_view text);
  Stmt& Bind(int index, const char* text) { return Bind(index, std::string_view(text)); }
  Stmt& Bind(int index, const std::optional<int64_t>& value);
  Stmt& BindBlob(int index, std::string_view bytes);
  Stmt& BindNull(int index);

  // Advances one row. true: a row is ready to read; false: done.
  Result<bool> Step();
  // Steps to the end, ignoring any rows.
  Status Run();

  bool IsNull(int col) const;
  int64_t Int(int col) const;
  double Double(int col) const;
  std::string Text(int col) const;
  std::optional<int64_t> OptionalInt(int col) const;
  // Valid until the next Step() or the Stmt's destruction.
  std::string_view Blob(int col) const;

 private:
  void Note(int rc, const char* what);
  sqlite3_stmt* stmt_;
  sqlite3* db_;
  bool* busy_flag_;
  StmtHandle owned_;
  Status error_;
};

class Connection {
 public:
  explicit Connection(DbHandle db) : db_(std::move(db)) {}
  Connection(Connection&&) = default;
  Connection& operator=(Connection&&) = default;
  ~Connection();

  sqlite3* get() const { return db_.get(); }

  // Returns the cached statement for `sql`, preparing it on first use.
  Result<Stmt> Prepare(std::string_view sql);

  // Runs one or more statements that return no rows we care about.
  Status Exec(const char* sql);

  // Runs a query expected to return exactly one row and one column.
  Result<std::string> QueryText(const char* sql);
  Result<int64_t> QueryInt(const char* sql);

  // Finalizes all cached statements (needed before close or rekey).
  void ClearCache() { cache_.clear(); }

 private:
  struct Cached {
    StmtHandle stmt;
    bool busy = false;
  };
  DbHandle db_;
  std::unordered_map<std::string, Cached> cache_;
};

}  // namespace tianye::internal

#endif  // TIANYE_CORE_SQLITE_H_
