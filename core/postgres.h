// The PostgreSQL backend of sql.h, over libpq. Private to the core.
//
// Statements are written with '?' parameters, as for SQLite; they are
// prepared on the server at their first run, with the types the first
// bindings had (integers as bigint, blobs as bytea, text left for the
// server to infer). Results come whole, as text.
//
// Writes run with RunDeferred() inside a transaction are sent in libpq's
// pipeline mode and their results read with the connection's next
// statement, which joins the same pipeline: a merge's several writes and its
// next read cost one round trip to the database instead of one each.
#ifndef TIANYE_CORE_POSTGRES_H_
#define TIANYE_CORE_POSTGRES_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sql.h"
#include "tianye/status.h"

struct pg_conn;
struct pg_result;

namespace tianye::internal {

class PgConnection final : public Connection {
 public:
  // Errors: kIOError when the server cannot be reached (the message names
  // host and port, never the password), kUnauthenticated when it refuses
  // the login.
  static Result<std::unique_ptr<PgConnection>> Connect(const std::string& conninfo);
  ~PgConnection() override;

  Dialect dialect() const override { return Dialect::kPostgres; }
  Status Exec(const char* sql) override;
  int64_t Changes() const override { return changes_; }

  pg_conn* get() const { return conn_; }
  // A name for the next server-side prepared statement.
  std::string NextName() { return "tianye_" + std::to_string(++prepared_); }
  void set_changes(int64_t n) { changes_ = n; }

  // Before each statement. A connection the database dropped (a restart, a
  // failover) is made again, and `generation()` moves on: statements
  // prepared on the old one are gone. If it dropped inside a transaction,
  // that transaction's work is gone too: every statement fails with
  // kIOError until the transaction ends (COMMIT fails, ROLLBACK succeeds),
  // so nothing half of it is ever committed. `sql` is the statement to run.
  Status Ready(std::string_view sql);
  // After each statement: notes whether a transaction is open.
  void Ran();
  int64_t generation() const { return generation_; }

  // Pipeline mode. Send() queues prepared statement `name` (whose text is
  // `sql`, for messages) with its parameters, without waiting for its
  // result; Flush() reads the results of everything queued and returns the
  // first error among them (a statement after a failed one does not run).
  // `last`, when given, receives the last queued statement's own result.
  Status Send(const std::string& name, const std::string& sql, int count, const char* const* values,
              const int* lengths, const int* formats);
  Status Flush(pg_result** last = nullptr);
  bool sending() const { return !queued_.empty(); }
  bool in_transaction() const { return in_transaction_; }

 protected:
  Result<std::unique_ptr<StmtBackend>> PrepareNew(std::string_view sql) override;

 private:
  explicit PgConnection(pg_conn* conn) : conn_(conn) {}
  pg_conn* conn_;
  int64_t prepared_ = 0;
  int64_t changes_ = 0;
  int64_t generation_ = 0;
  bool in_transaction_ = false;  // as of the last statement
  bool lost_transaction_ = false;
  std::vector<std::string> queued_;  // the text of each statement sent and not read yet
};

// The advisory locks every Tianye server on a database takes (any fixed
// numbers, the same in every version): while it upgrades the tables, so two
// starting together do it once; and for each write transaction, so that
// writers take turns as on SQLite's one file.
inline constexpr int kPgMigrationLock = 735201;
inline constexpr int kPgWriterLock = 735202;

// `sql` with its '?' parameters numbered as PostgreSQL wants ($1, $2, ...;
// SQLite's "?3" is $3), leaving quoted text, quoted names and comments
// alone; `*count` gets how many there are.
std::string NumberParameters(std::string_view sql, int* count);

// What a connection string says of where it goes, without its password
// (for messages and logs): "host=... port=... dbname=... user=...".
std::string DescribeConnection(const std::string& conninfo);

}  // namespace tianye::internal

#endif  // TIANYE_CORE_POSTGRES_H_
