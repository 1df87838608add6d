// The server's two stores, for tests that run against each: the embedded
// SQLCipher/SQLite file and PostgreSQL (this process's throwaway cluster,
// started at its first use and removed when the process ends).
#ifndef TIANYE_TESTS_SUPPORT_SERVER_STORES_H_
#define TIANYE_TESTS_SUPPORT_SERVER_STORES_H_

#include <gtest/gtest.h>

#include <atomic>
#include <ostream>
#include <string>

#include "pg_cluster.h"

namespace tianye::testing {

enum class ServerStore { kSqlite, kPostgres };
inline void PrintTo(ServerStore s, std::ostream* os) { *os << (s == ServerStore::kSqlite ? "SQLite" : "PostgreSQL"); }
inline std::string ServerStoreName(const ::testing::TestParamInfo<ServerStore>& param) {
  return param.param == ServerStore::kSqlite ? "Sqlite" : "Postgres";
}
inline auto BothServerStores() { return ::testing::Values(ServerStore::kSqlite, ServerStore::kPostgres); }

inline PgCluster& SharedPgCluster() {
  static PgCluster cluster;
  return cluster;
}

// A fresh database in the shared cluster, as a libpq connection string
// ("host=... port=... dbname=..."), or as a postgresql:// URL for the
// server's --store; "" with a test failure when that cannot be.
inline std::string FreshPostgresDatabase(bool as_url = false) {
  static std::atomic<int> made{0};
  PgCluster& cluster = SharedPgCluster();
  EXPECT_EQ(cluster.error(), "");
  const std::string name = "db_" + std::to_string(++made);
  std::string db = cluster.NewDatabase(name);
  EXPECT_NE(db, "") << cluster.error();
  if (db.empty() || !as_url) return db;
  return "postgresql://tianye@127.0.0.1:" + std::to_string(cluster.port()) + "/" + name;
}

}  // namespace tianye::testing

#endif  // TIANYE_TESTS_SUPPORT_SERVER_STORES_H_
