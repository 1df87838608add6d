// The Store's API: opening, settings, transactions, rekey, schema guards.
#include "tianye/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstring>
#include <filesystem>

#include "store_impl.h"
#include "store_testing.h"
#include "test_util.h"
#include "tianye/record.h"

namespace tianye {
namespace {

using testing::kPassphrase;
using testing::OpenOrFail;
using testing::OpenStatus;
using testing::TempDir;

TEST(StoreTest, CreatesThenReopensWithSettings) {
  TempDir dir;
  std::string path = dir.File("store.db");
  {
    auto store = OpenOrFail(path);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->schema_version(), Store::LatestSchemaVersion());
    ASSERT_TRUE(store->PutSetting("device_name", "应县-01号平板").ok());
    ASSERT_TRUE(store->PutSetting("device_name", "应县-02号平板").ok());  // overwrite
  }
  auto store = OpenOrFail(path);
  ASSERT_NE(store, nullptr);
  auto v = store->GetSetting("device_name");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->value_or(""), "应县-02号平板");
  auto missing = store->GetSetting("nope");
  ASSERT_TRUE(missing.has_value());
  EXPECT_FALSE(missing->has_value());
  ASSERT_TRUE(store->DeleteSetting("device_name").ok());
  EXPECT_FALSE(store->GetSetting("device_name")->has_value());
}

TEST(StoreTest, UsesWalDurableCommitsAndForeignKeys) {
  TempDir dir;
  auto store = OpenOrFail(dir.File("s.db"));
  ASSERT_NE(store, nullptr);
  auto& conn = internal::StoreAccess::Conn(*store);
  EXPECT_EQ(*conn.QueryText("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(*conn.QueryInt("PRAGMA synchronous"), 2);  // FULL
  EXPECT_EQ(*conn.QueryInt("PRAGMA foreign_keys"), 1);
  EXPECT_EQ(*conn.QueryInt("PRAGMA cache_size"), -16 * 1024);  // StoreOptions::cache_mib
  std::string cipher = *conn.QueryText("PRAGMA cipher_version");
  EXPECT_GE(std::atoi(cipher.c_str()), 4) << cipher;
}

// Bytes in the store's write-ahead log (0 when there is none).
uintmax_t WalBytes(const std::string& path) {
  std::error_code none;
  const uintmax_t n = std::filesystem::file_size(path + "-wal", none);
  return none ? 0 : n;
}

// A transaction larger than the usual (an import, a schema upgrade's
// rewrite) grows the log; once checkpointed, the log gives the disk back
// down to 64 MiB rather than keeping its largest size while the store is open.
TEST(StoreTest, ALogALargeTransactionGrewShrinksOnceCheckpointed) {
  TempDir dir;
  const std::string path = dir.File("s.db");
  auto store = OpenOrFail(path);
  ASSERT_NE(store, nullptr);
  auto& conn = internal::StoreAccess::Conn(*store);
  ASSERT_TRUE(conn.Exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 80) "
                        "INSERT INTO settings (key, value) SELECT 'bulk' || i, randomblob(1048576) FROM n")
                  .ok());
  EXPECT_GT(WalBytes(path), uintmax_t{80} << 20);
  // The commit's checkpoint moved it into the file; the next write starts
  // the log over, and trims it.
  ASSERT_TRUE(conn.Exec("DELETE FROM settings WHERE key LIKE 'bulk%'").ok());
  ASSERT_TRUE(store->PutSetting("after", "1").ok());
  EXPECT_LE(WalBytes(path), uintmax_t{64} << 20);
}

// What the server's exports read through: a second connection whose read
// transaction keeps one snapshot while the first goes on writing.
TEST(StoreTest, AReadTransactionSeesOneSnapshotWhileAnotherConnectionWrites) {
  TempDir dir;
  auto writer = OpenOrFail(dir.File("s.db"));
  auto reader = OpenOrFail(dir.File("s.db"));
  ASSERT_TRUE(writer && reader);
  ASSERT_TRUE(writer->PutSetting("k", "before").ok());
  {
    auto snapshot = reader->BeginRead();
    ASSERT_TRUE(snapshot.has_value()) << snapshot.error().ToString();
    EXPECT_EQ(reader->GetSetting("k")->value_or(""), "before");
    ASSERT_TRUE(writer->PutSetting("k", "after").ok());  // not blocked by the reader
    EXPECT_EQ(reader->GetSetting("k")->value_or(""), "before");
    EXPECT_EQ(reader->BeginRead().error().code(), StatusCode::kFailedPrecondition);
    EXPECT_TRUE(snapshot->Commit().ok());
  }
  EXPECT_EQ(reader->GetSetting("k")->value_or(""), "after");
}

TEST(StoreTest, EmptyPassphraseIsRefusedAndCreatesNothing) {
  TempDir dir;
  std::string path = dir.File("s.db");
  Status s = OpenStatus(path, "", StoreOptions::IfMissing::kCreate);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_TRUE(testing::ListDir(dir.path()).empty());
}

TEST(StoreTest, MissingStoreWithIfMissingFailIsNotFound) {
  TempDir dir;
  Status s = OpenStatus(dir.File("s.db"), kPassphrase);
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  EXPECT_NE(s.message().find("tianye init"), std::string::npos);
  EXPECT_TRUE(testing::ListDir(dir.path()).empty());
}

TEST(StoreTest, CreationLeavesOnlyTheStoreFile) {
  TempDir dir;
  { ASSERT_NE(OpenOrFail(dir.File("s.db")), nullptr); }
  EXPECT_EQ(testing::ListDir(dir.path()), std::vector<std::string>{"s.db"});
}

TEST(StoreTest, RekeyMakesOnlyTheNewPassphraseWork) {
  TempDir dir;
  std::string path = dir.File("s.db");
  std::string id;
  {
    auto store = OpenOrFail(path);
    ASSERT_NE(store, nullptr);
    RecordStore records(store.get());
    auto r = records.Create({.form_id = "toilet", .values_json = R"({"hh_head_name":"张德明"})"});
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    id = r->id;
    ASSERT_TRUE(store->PutSetting("k", "v").ok());
    ASSERT_TRUE(store->Rekey("新的口令 new").ok());
    // The open store keeps working after the rekey.
    EXPECT_TRUE(records.Get(id).has_value());
  }
  EXPECT_EQ(OpenStatus(path, kPassphrase).code(), StatusCode::kUnauthenticated);
  auto store = OpenOrFail(path, "新的口令 new");
  ASSERT_NE(store, nullptr);
  RecordStore records(store.get());
  auto r = records.Get(id);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->values_json, R"({"hh_head_name":"张德明"})");
  EXPECT_EQ(store->GetSetting("k")->value_or(""), "v");
  EXPECT_TRUE(store->CheckIntegrity().ok());
}

TEST(StoreTest, RekeyRefusesEmptyPassphraseAndOpenTransactions) {
  TempDir dir;
  auto store = OpenOrFail(dir.File("s.db"));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Rekey("").code(), StatusCode::kInvalidArgument);
  auto tx = store->Begin();
  ASSERT_TRUE(tx.has_value());
  EXPECT_EQ(store->Rekey("x").code(), StatusCode::kFailedPrecondition);
}

TEST(StoreTest, TransactionRollsBackUnlessCommitted) {
  TempDir dir;
  auto store = OpenOrFail(dir.File("s.db"));
  ASSERT_NE(store, nullptr);
  {
    auto tx = store->Begin();
    ASSERT_TRUE(tx.has_value());
    ASSERT_TRUE(store->PutSetting("a", "1").ok());
  }  // destroyed without Commit
  EXPECT_FALSE(store->GetSetting("a")->has_value());
  {
    auto tx = store->Begin();
    ASSERT_TRUE(store->PutSetting("a", "2").ok());
    ASSERT_TRUE(tx->Commit().ok());
    EXPECT_EQ(tx->Commit().code(), StatusCode::kFailedPrecondition);  // not twice
  }
  EXPECT_EQ(store->GetSetting("a")->value_or(""), "2");
}

TEST(StoreTest, NestedTransactionsAreSavepoints) {
  TempDir dir;
  auto store = OpenOrFail(dir.File("s.db"));
  ASSERT_NE(store, nullptr);
  auto outer = store->Begin();
  ASSERT_TRUE(outer.has_value());
  ASSERT_TRUE(store->PutSetting("outer", "1").ok());
  {
    auto inner = store->Begin();
    ASSERT_TRUE(inner.has_value());
    ASSERT_TRUE(store->PutSetting("inner-rolled-back", "1").ok());
    // The outer transaction cannot commit while the inner one is open.
    EXPECT_EQ(outer->Commit().code(), StatusCode::kFailedPrecondition);
  }
  {
    auto inner = store->Begin();
    ASSERT_TRUE(store->PutSetting("inner-kept", "1").ok());
    ASSERT_TRUE(inner->Commit().ok());
  }
  ASSERT_TRUE(outer->Commit().ok());
  EXPECT_TRUE(store->GetSetting("outer")->has_value());
  EXPECT_TRUE(store->GetSetting("inner-kept")->has_value());
  EXPECT_FALSE(store->GetSetting("inner-rolled-back")->has_value());
}

TEST(StoreTest, RefusesStoreFromNewerVersion) {
  TempDir dir;
  std::string path = dir.File("s.db");
  {
    auto store = OpenOrFail(path);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(internal::StoreAccess::Conn(*store).Exec("PRAGMA user_version = 999").ok());
  }
  Status s = OpenStatus(path, kPassphrase);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("newer version of Tianye"), std::string::npos);
  // Refusing did not rewrite the version.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_key(db, kPassphrase, static_cast<int>(std::strlen(kPassphrase)));
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 999);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST(StoreTest, RefusesAnotherApplicationsSqlcipherDatabase) {
  TempDir dir;
  std::string path = dir.File("other.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_key(db, kPassphrase, static_cast<int>(std::strlen(kPassphrase)));
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  std::string before = testing::ReadBytes(path);
  Status s = OpenStatus(path, kPassphrase);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("not a Tianye store"), std::string::npos);
  EXPECT_EQ(testing::ReadBytes(path), before);
}

}  // namespace
}  // namespace tianye
