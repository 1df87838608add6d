// The SQL layer's contract on both backends: binding and reading each type,
// rows changed, typed errors, statements nested inside one another; and
// what the PostgreSQL side adds (parameter numbering, connection strings
// named without their password, an unreachable server).
#include <gtest/gtest.h>

#include <memory>
#include <ostream>
#include <string>

#include "pg_cluster.h"
#include "server_stores.h"
#include "postgres.h"
#include "store_impl.h"
#include "test_util.h"

namespace tianye::internal {
namespace {

enum class Backend { kSqlcipher, kPostgres };
void PrintTo(Backend b, std::ostream* os) { *os << (b == Backend::kSqlcipher ? "SQLCipher" : "PostgreSQL"); }

class SqlTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kSqlcipher) {
      StoreOptions o;
      o.path = dir_.File("s.db");
      auto s = Store::Open(o, "key");
      ASSERT_TRUE(s.has_value()) << s.error().ToString();
      store_ = std::move(*s);
    } else {
      std::string db = testing::FreshPostgresDatabase();
      ASSERT_NE(db, "");
      auto s = Store::OpenPostgres(db);
      ASSERT_TRUE(s.has_value()) << s.error().ToString();
      store_ = std::move(*s);
    }
    conn_ = &StoreAccess::Conn(*store_);
    const bool pg = GetParam() == Backend::kPostgres;
    ASSERT_TRUE(conn_->Exec(pg ? "CREATE TABLE t (k TEXT PRIMARY KEY, n BIGINT, b BYTEA, x TEXT)"
                               : "CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER, b BLOB, x TEXT)")
                    .ok());
  }

  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
  Connection* conn_ = nullptr;
};

TEST_P(SqlTest, EveryTypeGoesInAndComesBackAsItWas) {
  const std::string bytes("\0\x01\xff'\\x00\"?", 9);
  auto ins = conn_->Prepare("INSERT INTO t (k, n, b, x) VALUES (?, ?, ?, ?)");
  ASSERT_TRUE(ins.has_value()) << ins.error().ToString();
  ASSERT_TRUE(ins->Bind(1, "应县紫皮大蒜 'quoted' ?").Bind(2, int64_t{-9'007'199'254'740'993}).BindBlob(3, bytes).BindNull(4).Run().ok());
  EXPECT_EQ(conn_->Changes(), 1);
  auto empty = conn_->Prepare("INSERT INTO t (k, n, b, x) VALUES (?, ?, ?, ?)");
  ASSERT_TRUE(empty->Bind(1, "empty").Bind(2, std::optional<int64_t>()).BindBlob(3, "").Bind(4, "").Run().ok());

  auto q = conn_->Prepare("SELECT k, n, b, x FROM t WHERE k <> '?' ORDER BY k DESC");  // a '?' in quotes is text
  ASSERT_TRUE(q.has_value()) << q.error().ToString();
  ASSERT_TRUE(q->Step().value());
  EXPECT_EQ(q->Text(0), "应县紫皮大蒜 'quoted' ?");
  EXPECT_EQ(q->Int(1), -9'007'199'254'740'993);
  EXPECT_EQ(q->Blob(2), bytes);
  EXPECT_TRUE(q->IsNull(3));
  ASSERT_TRUE(q->Step().value());
  EXPECT_EQ(q->Text(0), "empty");
  EXPECT_TRUE(q->IsNull(1));
  EXPECT_FALSE(q->OptionalInt(1).has_value());
  EXPECT_EQ(q->Blob(2), "");
  EXPECT_FALSE(q->IsNull(2));  // an empty blob is not NULL
  EXPECT_FALSE(q->IsNull(3));
  EXPECT_FALSE(q->Step().value());
}

TEST_P(SqlTest, ChangesErrorsAndNestedStatements) {
  for (const char* k : {"a", "b", "c"}) {
    auto ins = conn_->Prepare("INSERT INTO t (k, n) VALUES (?, ?)");
    ASSERT_TRUE(ins->Bind(1, k).Bind(2, int64_t{1}).Run().ok());
  }
  auto dup = conn_->Prepare("INSERT INTO t (k, n) VALUES (?, ?)");
  EXPECT_EQ(dup->Bind(1, "a").Bind(2, int64_t{2}).Run().code(), StatusCode::kAlreadyExists);
  auto upd = conn_->Prepare("UPDATE t SET n = n + ? WHERE k <> ?");
  ASSERT_TRUE(upd->Bind(1, int64_t{10}).Bind(2, "a").Run().ok());
  EXPECT_EQ(conn_->Changes(), 2);
  auto ret = conn_->Prepare("UPDATE t SET n = n + 1 WHERE k = ? RETURNING n");
  ASSERT_TRUE(ret->Bind(1, "b").Step().value());
  EXPECT_EQ(ret->Int(0), 12);
  ASSERT_TRUE(ret->Run().ok());
  EXPECT_EQ(conn_->Changes(), 1);
  auto all = conn_->Prepare("SELECT k FROM t");
  ASSERT_TRUE(all->Run().ok());  // three rows read
  EXPECT_EQ(conn_->Changes(), 1);  // a query changes nothing
  // The same statement again while the first is being read: a second copy.
  auto outer = conn_->Prepare("SELECT k FROM t ORDER BY k");
  int rows = 0;
  while (outer->Step().value()) {
    auto inner = conn_->Prepare("SELECT k FROM t ORDER BY k");
    ASSERT_TRUE(inner.has_value());
    ASSERT_TRUE(inner->Step().value());
    EXPECT_EQ(inner->Text(0), "a");
    ++rows;
  }
  EXPECT_EQ(rows, 3);
  auto bad = conn_->Prepare("SELECT nope FROM t");
  Status s = bad ? bad->Step().error() : bad.error();
  EXPECT_EQ(s.code(), StatusCode::kInternal) << s.ToString();
  // A failed statement leaves the connection usable.
  EXPECT_EQ(*conn_->QueryInt("SELECT count(*) FROM t"), 3);
}

TEST_P(SqlTest, TransactionsCommitRollBackAndNest) {
  {
    auto tx = store_->Begin();
    ASSERT_TRUE(tx.has_value()) << tx.error().ToString();
    ASSERT_TRUE(conn_->Exec("INSERT INTO t (k) VALUES ('kept')").ok());
    {
      auto inner = store_->Begin();
      ASSERT_TRUE(inner.has_value()) << inner.error().ToString();
      ASSERT_TRUE(conn_->Exec("INSERT INTO t (k) VALUES ('undone')").ok());
    }  // rolled back to its savepoint
    ASSERT_TRUE(tx->Commit().ok());
  }
  {
    auto tx = store_->Begin();
    ASSERT_TRUE(conn_->Exec("INSERT INTO t (k) VALUES ('dropped')").ok());
  }
  EXPECT_EQ(*conn_->QueryText("SELECT string_agg(k, ',') FROM t"), "kept");
  ASSERT_TRUE(store_->PutSetting("server_name", "朔州").ok());
  ASSERT_TRUE(store_->PutSetting("server_name", "应县").ok());
  EXPECT_EQ(**store_->GetSetting("server_name"), "应县");
}

// Writes whose results nobody reads may travel with the next statement
// (PostgreSQL's pipeline): that statement sees them, and an error among
// them is reported by it or by the commit, never lost or half kept.
TEST_P(SqlTest, DeferredWritesAreReadBackAndTheirErrorsAreNeverLost) {
  auto put = [&](const std::string& k, int64_t n) {
    auto s = conn_->Prepare("INSERT INTO t (k, n) VALUES (?, ?)");
    return s ? s->Bind(1, k).Bind(2, n).RunDeferred() : s.error();
  };
  auto count = [&] { return *conn_->QueryInt("SELECT count(*) FROM t"); };
  {
    auto tx = store_->Begin();
    ASSERT_TRUE(tx.has_value()) << tx.error().ToString();
    for (int i = 0; i < 300; ++i) ASSERT_TRUE(put("k" + std::to_string(i), i).ok());  // more than one queue's worth
    EXPECT_EQ(count(), 300);
    ASSERT_TRUE(put("last", 1).ok());
    ASSERT_TRUE(tx->Commit().ok());  // sends "last" first
  }
  EXPECT_EQ(count(), 301);

  // A duplicate key among them: on SQLite its own call fails, on PostgreSQL
  // the next statement; the transaction keeps nothing.
  {
    auto tx = store_->Begin();
    ASSERT_TRUE(put("x1", 1).ok());
    const Status dup = put("k1", 0);
    (void)put("x2", 2);
    auto read = conn_->QueryInt("SELECT count(*) FROM t");
    const Status reported = !dup.ok() ? dup : read.error();
    EXPECT_EQ(reported.code(), StatusCode::kAlreadyExists) << reported.ToString();
  }
  // Found only by the commit: the commit fails.
  {
    auto tx = store_->Begin();
    ASSERT_TRUE(put("y1", 1).ok());
    const Status dup = put("k2", 0);
    const Status committed = dup.ok() ? tx->Commit() : dup;
    EXPECT_EQ(committed.code(), StatusCode::kAlreadyExists) << committed.ToString();
  }
  // A rollback discards what is queued, errors and all.
  {
    auto tx = store_->Begin();
    (void)put("z1", 1);
    (void)put("k3", 0);
  }
  EXPECT_EQ(count(), 301);
  EXPECT_EQ(*conn_->QueryInt("SELECT count(*) FROM t WHERE k IN ('x1', 'x2', 'y1', 'z1')"), 0);
  // Outside a transaction each write is its own: those before the failed
  // one stay.
  ASSERT_TRUE(put("w1", 1).ok());
  const Status dup = put("k4", 0);
  const Status reported = dup.ok() ? conn_->QueryInt("SELECT 1").error() : dup;
  EXPECT_EQ(reported.code(), StatusCode::kAlreadyExists) << reported.ToString();
  EXPECT_EQ(count(), 302);
}

INSTANTIATE_TEST_SUITE_P(Stores, SqlTest, ::testing::Values(Backend::kSqlcipher, Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& param) {
                           return param.param == Backend::kSqlcipher ? std::string("Sqlcipher") : std::string("Postgres");
                         });

TEST(PostgresTest, ParametersAreNumberedOutsideQuotesAndComments) {
  int n = 0;
  EXPECT_EQ(NumberParameters("SELECT '?', \"a?\" FROM t -- why?\nWHERE a = ? AND b IN (?, ?)", &n),
            "SELECT '?', \"a?\" FROM t -- why?\nWHERE a = $1 AND b IN ($2, $3)");
  EXPECT_EQ(n, 3);
  EXPECT_EQ(NumberParameters("SELECT 'it''s ?' || ?", &n), "SELECT 'it''s ?' || $1");
  EXPECT_EQ(n, 1);
  EXPECT_EQ(NumberParameters("UPDATE r SET n = (SELECT count(*) FROM c WHERE id = ?1) WHERE id = ?1 AND v < ?12", &n),
            "UPDATE r SET n = (SELECT count(*) FROM c WHERE id = $1) WHERE id = $1 AND v < $12");
  EXPECT_EQ(n, 12);
}

TEST(PostgresTest, ConnectionStringsAreNamedWithoutTheirPassword) {
  EXPECT_EQ(DescribeConnection("host=db.example port=5433 user=tianye password=s3cret dbname=shuozhou"),
            "user=tianye dbname=shuozhou host=db.example port=5433");
  EXPECT_EQ(DescribeConnection("postgres://tianye:s3cret@db.example:5433/shuozhou").find("s3cret"), std::string::npos);
  // Nothing listens on a port just freed: a clear I/O error naming where.
  testing::PgCluster pg;
  ASSERT_EQ(pg.error(), "");
  const int port = pg.port();
  ASSERT_TRUE(pg.Stop());
  auto s = Store::OpenPostgres("host=127.0.0.1 port=" + std::to_string(port) +
                               " user=tianye password=s3cret dbname=x connect_timeout=5");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), StatusCode::kIOError);
  EXPECT_NE(s.error().message().find("port=" + std::to_string(port)), std::string::npos) << s.error().message();
  EXPECT_EQ(s.error().message().find("s3cret"), std::string::npos);
}

// A database restart under a running server: a transaction that lost its
// connection half-way keeps nothing (its commit fails), the next request
// after a restart may fail once with kIOError (the server's 503), and the
// one after works on a new connection.
TEST(PostgresTest, ARestartedDatabaseIsReconnectedAndAHalfTransactionIsNeverKept) {
  testing::PgCluster pg;
  ASSERT_EQ(pg.error(), "");
  const std::string db = pg.NewDatabase("restart");
  ASSERT_NE(db, "") << pg.error();
  auto store = Store::OpenPostgres(db);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  Connection& conn = StoreAccess::Conn(**store);
  ASSERT_TRUE(conn.Exec("CREATE TABLE t (k TEXT PRIMARY KEY)").ok());
  auto insert = [&](const char* k) {
    auto s = conn.Prepare("INSERT INTO t (k) VALUES (?)");
    return s ? s->Bind(1, k).Run() : s.error();
  };
  {
    auto tx = (*store)->Begin();
    ASSERT_TRUE(tx.has_value());
    ASSERT_TRUE(insert("before the restart").ok());
    ASSERT_TRUE(pg.Stop() && pg.Start()) << pg.error();
    EXPECT_EQ(insert("after the restart").code(), StatusCode::kIOError);
    EXPECT_EQ(insert("and again").code(), StatusCode::kIOError);  // not in a new transaction of its own
    EXPECT_EQ(tx->Commit().code(), StatusCode::kIOError);
  }
  EXPECT_EQ(*conn.QueryInt("SELECT count(*) FROM t"), 0);
  // Writes queued (deferred) when the database went away: the next
  // statement says so, and nothing of the transaction is kept.
  {
    auto tx = (*store)->Begin();
    ASSERT_TRUE(tx.has_value());
    auto queued = conn.Prepare("INSERT INTO t (k) VALUES (?)");
    ASSERT_TRUE(queued.has_value());
    ASSERT_TRUE(queued->Bind(1, "queued before the restart").RunDeferred().ok());
    ASSERT_TRUE(pg.Stop() && pg.Start()) << pg.error();
    EXPECT_EQ(conn.QueryInt("SELECT count(*) FROM t").error().code(), StatusCode::kIOError);
    EXPECT_EQ(insert("after the restart").code(), StatusCode::kIOError);
    EXPECT_EQ(tx->Commit().code(), StatusCode::kIOError);
  }
  EXPECT_EQ(*conn.QueryInt("SELECT count(*) FROM t"), 0);
  ASSERT_TRUE(insert("kept").ok());  // the prepared statement is prepared again

  ASSERT_TRUE(pg.Stop() && pg.Start()) << pg.error();
  Result<int64_t> first = conn.QueryInt("SELECT count(*) FROM t");
  if (!first) {
    EXPECT_EQ(first.error().code(), StatusCode::kIOError) << first.error().ToString();
  }
  EXPECT_EQ(*conn.QueryInt("SELECT count(*) FROM t"), 1);

  // Down: a clear kIOError each time, quickly, and back when it is back.
  ASSERT_TRUE(pg.Stop());
  EXPECT_EQ(conn.QueryInt("SELECT count(*) FROM t").error().code(), StatusCode::kIOError);
  EXPECT_EQ(conn.QueryInt("SELECT count(*) FROM t").error().code(), StatusCode::kIOError);
  ASSERT_TRUE(pg.Start()) << pg.error();
  EXPECT_EQ(*conn.QueryInt("SELECT count(*) FROM t"), 1);
}

}  // namespace
}  // namespace tianye::internal
