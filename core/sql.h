// Prepared statements and connections, whatever the database: the core's
// SQL runs through these on SQLite (sqlite.h) and on PostgreSQL
// (postgres.h). Private to the core.
//
// Thread safety: a Connection and its statements belong to one thread.
#ifndef TIANYE_CORE_SQL_H_
#define TIANYE_CORE_SQL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "tianye/status.h"

namespace tianye::internal {

// One prepared statement of a backend. Parameters count from 1, columns
// from 0, as in SQLite.
class StmtBackend {
 public:
  virtual ~StmtBackend() = default;
  virtual Status BindInt(int index, int64_t value) = 0;
  virtual Status BindDouble(int index, double value) = 0;
  virtual Status BindText(int index, std::string_view text) = 0;
  virtual Status BindBlob(int index, std::string_view bytes) = 0;
  virtual Status BindNull(int index) = 0;
  // Runs the statement on the first call; true while a row is ready.
  virtual Result<bool> Step() = 0;
  virtual bool IsNull(int col) const = 0;
  virtual int64_t Int(int col) const = 0;
  virtual double Double(int col) const = 0;
  // Both valid until the next Step() or Reset().
  virtual std::string_view Text(int col) const = 0;
  virtual std::string_view Blob(int col) const = 0;
  // Ready to bind and run again, parameters cleared.
  virtual void Reset() = 0;
  // Steps to the end, ignoring any rows.
  Status RunToEnd();
  // Runs a statement whose rows and count of changed rows nobody reads; a
  // backend may send it with the connection's next statement instead of
  // waiting for it now (PostgreSQL: one round trip for several). An error
  // then comes from that next statement (or the commit), never lost.
  virtual Status RunDeferred() { return RunToEnd(); }
};

// A prepared statement borrowed from a Connection (or owned, when the cached
// one is already in use). Reset and unbound when it goes out of scope.
// Bind errors are remembered and reported by the next Step()/Run().
class Stmt {
 public:
  Stmt(StmtBackend* stmt, bool* busy_flag, std::unique_ptr<StmtBackend> owned);
  Stmt(Stmt&& other) noexcept;
  Stmt& operator=(Stmt&&) = delete;
  ~Stmt();

  Stmt& Bind(int index, int64_t value) { return Note(stmt_->BindInt(index, value)); }
  Stmt& Bind(int index, std::string_view text) { return Note(stmt_->BindText(index, text)); }
  Stmt& Bind(int index, const char* text) { return Bind(index, std::string_view(text)); }
  Stmt& BindDouble(int index, double value) { return Note(stmt_->BindDouble(index, value)); }
  Stmt& Bind(int index, const std::optional<int64_t>& value) { return value ? Bind(index, *value) : BindNull(index); }
  Stmt& BindBlob(int index, std::string_view bytes) { return Note(stmt_->BindBlob(index, bytes)); }
  Stmt& BindNull(int index) { return Note(stmt_->BindNull(index)); }

  // Advances one row. true: a row is ready to read; false: done.
  Result<bool> Step();
  // Steps to the end, ignoring any rows.
  Status Run();
  // Run(), perhaps deferred to the connection's next statement (see
  // StmtBackend::RunDeferred): for writes inside a transaction whose rows
  // and Changes() nobody reads. An error may come from the next statement
  // or the commit instead; the transaction then keeps nothing.
  Status RunDeferred() { return error_.ok() ? stmt_->RunDeferred() : error_; }

  bool IsNull(int col) const { return stmt_->IsNull(col); }
  int64_t Int(int col) const { return stmt_->Int(col); }
  double Double(int col) const { return stmt_->Double(col); }
  std::string Text(int col) const { return std::string(stmt_->Text(col)); }
  // Text(), without a copy: valid until the next Step() or the Stmt's destruction.
  std::string_view TextView(int col) const { return stmt_->Text(col); }
  std::optional<int64_t> OptionalInt(int col) const;
  // Valid until the next Step() or the Stmt's destruction.
  std::string_view Blob(int col) const { return stmt_->Blob(col); }

 private:
  Stmt& Note(Status s);
  StmtBackend* stmt_;
  bool* busy_flag_;
  std::unique_ptr<StmtBackend> owned_;
  Status error_;
};

enum class Dialect { kSqlite, kPostgres };

// A connection with a cache of prepared statements.
class Connection {
 public:
  virtual ~Connection() = default;

  virtual Dialect dialect() const = 0;

  // Returns the cached statement for `sql`, preparing it on first use.
  // Parameters are written '?' for either backend.
  Result<Stmt> Prepare(std::string_view sql);

  // Runs one or more statements that return no rows we care about.
  virtual Status Exec(const char* sql) = 0;

  // Runs a query expected to return exactly one row and one column.
  Result<std::string> QueryText(const char* sql);
  Result<int64_t> QueryInt(const char* sql);

  // Rows inserted, changed or deleted by the last statement run.
  virtual int64_t Changes() const = 0;

  // Finalizes all cached statements (needed before close or rekey).
  void ClearCache() { cache_.clear(); }

 protected:
  Connection() = default;
  Connection(Connection&&) = default;
  Connection& operator=(Connection&&) = default;
  virtual Result<std::unique_ptr<StmtBackend>> PrepareNew(std::string_view sql) = 0;

 private:
  struct Cached {
    std::unique_ptr<StmtBackend> stmt;
    bool busy = false;
  };
  std::unordered_map<std::string, Cached> cache_;
};

}  // namespace tianye::internal

#endif  // TIANYE_CORE_SQL_H_
