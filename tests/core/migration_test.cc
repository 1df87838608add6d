// Every older schema version migrates to the current one with its data
// intact, and ends with exactly the schema a new store gets.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>

#include "schema.h"
#include "sha256.h"
#include "sqlite.h"
#include "store_impl.h"
#include "server_stores.h"
#include "store_testing.h"
#include "test_util.h"
#include "tianye/attachment.h"
#include "tianye/dashboard.h"
#include "tianye/record.h"
#include "tianye/form_check.h"
#include "tianye/review.h"
#include "tianye/sync.h"

namespace tianye {
namespace {

using internal::StoreAccess;
using testing::kPassphrase;
using testing::OpenOrFail;
using testing::TempDir;

constexpr char kRecordId[] = "01a22b60-71d1-73c5-a418-d451b9cb8e05";
constexpr char kPhoto[] = "not really a jpeg, but bytes all the same";

std::string SchemaText(Store& store) {
  auto stmt = StoreAccess::Conn(store).Prepare(
      "SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_schema ORDER BY name");
  std::string out;
  while (*stmt->Step()) out += stmt->Text(0) + "\n";
  return out;
}

// A housing record on a server at schema 5 to 15 (PostgreSQL step 5): the
// device "dev" set its answers, and its own op set the grade as sent (the grade's
// history row, the answer kept for a re-push, and the device's place in its
// pushes).
std::string ServerRecordSql() {
  std::string sql = std::string("INSERT INTO server_records (record_id, form_id, form_version, county_code, "
                                "township_code, village_code, status, author, version, created_ms, updated_ms) "
                                "VALUES ('") + kRecordId + "', 'housing', '2026.1', '140622000000', "
                    "'140622100000', '140622100201', 'finalized', 'wang', 3, 1, 2);";
  const char* fields[][2] = {
      {"grade_final", "D"}, {"category", "dibao"}, {"temp_housing", "stays"}, {"structure", "earth_wood"}};
  for (int i = 0; i < 4; ++i) {
    sql += "INSERT INTO server_fields (record_id, field, value, version, device_id, author, hlc, "
           "received_ms) VALUES ('" + std::string(kRecordId) + "', '" + fields[i][0] + "', '" + fields[i][1] + "', " +
           std::to_string(i + 1) + ", 'dev', 'wang', 1, 1);";
  }
  sql += "UPDATE server_fields SET pushed_by = 'dev' WHERE field = 'grade_final';";
  sql += "INSERT INTO server_history (version, record_id, field, value, device_id, author, hlc, "
         "received_ms, push_seq, kind) VALUES (1, '" + std::string(kRecordId) +
         "', 'grade_final', 'D', 'dev', 'wang', 1, 1, 1, 'edit');";
  sql += "INSERT INTO server_devices (device_id, username, last_push_seq, last_seen_ms) VALUES ('dev', 'wang', 1, 1);";
  sql += "INSERT INTO server_op_results (device_id, push_seq, outcome, version) VALUES ('dev', 1, 'applied', 1);";
  return sql;
}

// After an upgrade, the rows ServerRecordSql wrote still name the device
// that wrote them.
void ExpectRowsStillNameTheirDevice(Store& store) {
  const Principal dev{"wang", "inspector", "dev", {"*"}};
  auto detail = ReviewQueries(&store).Get(Principal{"root", "admin", "web", {"*"}}, kRecordId);
  ASSERT_TRUE(detail.has_value()) << detail.error().ToString();
  ASSERT_EQ(detail->history.size(), 1u);
  EXPECT_EQ(detail->history[0].device_id, "dev");
  SyncLedger ledger(&store);
  // A re-push of the device's op gets the answer it got then.
  PushBatch again;
  again.device_id = "dev";
  again.ops.push_back({1, 1, kRecordId, "grade_final", "D", 0, 1, "housing", "2026.1"});
  auto answer = ledger.Push(dev, again);
  ASSERT_TRUE(answer.has_value()) << answer.error().ToString();
  ASSERT_EQ(answer->outcomes.size(), 1u);
  EXPECT_EQ(answer->outcomes[0].outcome, "applied");
  EXPECT_EQ(answer->outcomes[0].version, 1);
  // The device is not sent back the grade its own op set as sent; the
  // other answers name it too, but were not marked as its own op's
  // (pushed_by empty), so it gets them.
  auto page = ledger.Pull(dev, "", 100);
  ASSERT_TRUE(page.has_value()) << page.error().ToString();
  std::set<std::string> sent;
  for (const FieldChange& c : page->changes) {
    if (c.record_id == kRecordId) {
      sent.insert(c.field);
      EXPECT_EQ(c.device_id, "dev");
    }
  }
  EXPECT_EQ(sent, (std::set<std::string>{"category", "structure", "temp_housing"}));
}

// Writes data the way a release at `version` would have, with raw SQL of
// that version's tables.
void WriteDataAtVersion(Store& store, int version) {
  auto& conn = StoreAccess::Conn(store);
  ASSERT_TRUE(conn.Exec("INSERT INTO settings VALUES ('device_id', 'dev-应县-7')").ok());
  std::string insert = std::string(
                           "INSERT INTO records (id, form_id, form_version, county_code, "
                           "township_code, village_code, author, status, data, created_ms, "
                           "updated_ms) VALUES ('") +
                       kRecordId +
                       "', 'housing', '2025.3', '140622', '140622100', '140622100201', '赵志刚', "
                       "'returned', '{\"overall_grade\":\"C\",\"advice\":\"加固\"}', 1, 2)";
  ASSERT_TRUE(conn.Exec(insert.c_str()).ok());
  if (version >= 2) {
    internal::Sha256 sha;
    sha.Update(kPhoto);
    std::string hex = sha.FinalHex();
    std::string sql = "INSERT INTO attachments (id, sha256, size, mime, chunk_size, created_ms) "
                      "VALUES (7, '" + hex + "', " + std::to_string(sizeof kPhoto - 1) +
                      ", 'image/jpeg', 262144, 3);"
                      "INSERT INTO attachment_chunks VALUES (7, 0, CAST('" + kPhoto + "' AS BLOB));"
                      "INSERT INTO record_attachments VALUES ('" + kRecordId + "', 'photo_front', '" +
                      hex + "');";
    ASSERT_TRUE(conn.Exec(sql.c_str()).ok());
  }
  if (version >= 5) {  // a server store: a housing record a supervisor will see on the dashboard
    std::string sql = ServerRecordSql();
    // Releases with server_facts kept it current with every answer, as
    // released (schema 9 rebuilt it with more columns).
    if (version >= 13) {
      sql += TIANYE_REFRESH_FACTS_SQL " GROUP BY record_id;";
    } else if (version >= 9) {
      sql += TIANYE_REFRESH_FACTS9_SQL " GROUP BY record_id;";
    } else if (version >= 6) {
      sql += TIANYE_REFRESH_FACTS_V6_SQL " GROUP BY record_id;";
    }
    // A germplasm record with a breed's sample (schema 12's server_samples),
    // its row number not the next one (schema 16 must keep it as it was:
    // the samples name the record by it).
    sql += "INSERT INTO server_records (rowid, record_id, form_id, form_version, county_code, township_code, "
           "village_code, status, author, version, created_ms, updated_ms) VALUES (40, "
           "'01a22b60-71d1-73c5-a418-d451b9cb8e06', "
           "'germplasm', '2026.1', '140623', '140623100', '140623100201', 'finalized', 'wang', 9, 1, 2);";
    const char* sample[][2] = {{"sample[s1]", "1"}, {"sample[s1]/res_cat", "livestock"},
                               {"sample[s1]/local_name", "右玉边鸡"}, {"sample[s1]/n_male", "30"},
                               {"sample[s1]/n_female", "300"}};
    for (int i = 0; i < 5; ++i) {
      sql += "INSERT INTO server_fields (record_id, field, value, version, device_id, author, hlc, "
             "received_ms) VALUES ('01a22b60-71d1-73c5-a418-d451b9cb8e06', '" + std::string(sample[i][0]) + "', '" +
             sample[i][1] + "', " + std::to_string(i + 5) + ", 'dev', 'wang', 1, 1);";
    }
    if (version >= 12) {  // releases with server_samples kept it current too
      sql += TIANYE_REFRESH_SAMPLES_SQL TIANYE_SAMPLES_GROUP ";";
    }
    if (version >= 8) {  // the server's form check found two problems (and none in the germplasm record)
      sql += std::string("UPDATE server_records SET checked_version = 3, form_problems = 2 WHERE record_id = '") +
             kRecordId + "';";
      sql += "UPDATE server_records SET checked_version = 9 WHERE form_id = 'germplasm';";
    }
    if (version >= 9) {  // and kept the count beside the facts
      sql += std::string("UPDATE server_facts SET form_problems = 2 WHERE record_id = '") + kRecordId + "';";
    }
    ASSERT_TRUE(conn.Exec(sql.c_str()).ok());
  }
}

TEST(MigrationTest, EveryOlderVersionUpgradesWithDataIntact) {
  TempDir dir;
  std::string fresh_schema;
  {
    auto fresh = OpenOrFail(dir.File("fresh.db"));
    ASSERT_NE(fresh, nullptr);
    fresh_schema = SchemaText(*fresh);
  }
  ASSERT_GE(Store::LatestSchemaVersion(), 2);
  for (int version = 1; version < Store::LatestSchemaVersion(); ++version) {
    SCOPED_TRACE("from schema version " + std::to_string(version));
    std::string path = dir.File("v" + std::to_string(version) + ".db");
    {
      StoreOptions options;
      options.path = path;
      auto old = internal::OpenAtSchemaForTesting(options, kPassphrase, version);
      ASSERT_TRUE(old.has_value()) << old.error().ToString();
      ASSERT_EQ((*old)->schema_version(), version);
      WriteDataAtVersion(**old, version);
    }
    auto store = OpenOrFail(path);
    ASSERT_NE(store, nullptr);
    // The upgrade's log went into the file: none of it is left on disk.
    std::error_code no_wal;
    EXPECT_EQ(std::filesystem::file_size(path + "-wal", no_wal), 0u);
    EXPECT_FALSE(no_wal) << no_wal.message();
    EXPECT_EQ(store->schema_version(), Store::LatestSchemaVersion());
    EXPECT_EQ(SchemaText(*store), fresh_schema);
    EXPECT_TRUE(store->CheckIntegrity().ok());
    EXPECT_EQ(store->GetSetting("device_id")->value_or(""), "dev-应县-7");

    RecordStore records(store.get());
    auto r = records.Get(kRecordId);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    EXPECT_EQ(r->status, RecordStatus::kReturned);
    EXPECT_EQ(r->author, "赵志刚");
    EXPECT_EQ(r->values_json, R"({"overall_grade":"C","advice":"加固"})");
    EXPECT_FALSE(r->deleted_ms.has_value());
    EXPECT_EQ(r->resume_path, "");  // columns added by later versions start empty
    // Features of later versions work on the migrated data.
    EXPECT_TRUE(records.Delete(kRecordId).ok());
    EXPECT_TRUE(records.Restore(kRecordId).ok());

    if (version >= 5) {  // the dashboard's figures come from the migrated answers
      auto d = ComputeDashboard(*store, Principal{"root", "admin", "web", {"*"}}, AreaLevel::kCounty, {});
      ASSERT_TRUE(d.has_value()) << d.error().ToString();
      EXPECT_EQ(d->total.grades["D"], 1);
      EXPECT_EQ(d->total.danger_by_structure["earth_wood"], 1);  // a fact schema 9 added, from the old answers
      ASSERT_EQ(d->breeds.size(), 1u);  // schema 12 reads the samples already there
      EXPECT_EQ(d->breeds[0].ne, 109.1);
      ASSERT_EQ(d->alerts.size(), 1u);
      EXPECT_TRUE(d->alerts[0].red);
      ReviewQueries review(store.get());
      if (version < 7) {  // records from before the search index are indexed once
        RecordQuery q;
        q.text = "stays";
        EXPECT_EQ(*review.BuildSearchIndexIfStale(), 2);
        EXPECT_EQ(*review.BuildSearchIndexIfStale(), 0);
        EXPECT_EQ(review.List(Principal{"root", "admin", "web", {"*"}}, q)->total, 1);
      }
      // Records from before the form check wait for it; what it found
      // before schema 9 counts on the dashboard.
      FormStore forms(store.get());
      RecordChecker checker(store.get(), &forms);
      if (version >= 8) {
        // Schema 14 checks records with problems again (to count the
        // required photos they lack), once; until then the count found stands.
        EXPECT_EQ(*checker.Waiting(), version < 14 ? 1 : 0);
        EXPECT_EQ(d->total.form_problems, 1);
      } else {
        EXPECT_EQ(*checker.Waiting(), 2);
        EXPECT_EQ(*checker.CheckChanged(10), 2);
        EXPECT_EQ(*checker.Waiting(), 0);
      }
    }

    if (version >= 5) ExpectRowsStillNameTheirDevice(*store);

    AttachmentStore attachments(store.get());
    auto linked = attachments.ListForRecord(kRecordId);
    ASSERT_TRUE(linked.has_value());
    if (version >= 2) {
      ASSERT_EQ(linked->size(), 1u);
      EXPECT_EQ(linked->front().info.size, static_cast<int64_t>(sizeof kPhoto - 1));
    } else {
      EXPECT_TRUE(linked->empty());
    }
  }
}

// The server's PostgreSQL tables upgrade with their rows too. Step 6 is the
// first that rewrites rows; the test starts before it.
// A server store's upgrade that would fill the disk part way is refused
// before it starts, saying how much it needs; a device's store, whose
// server tables are empty, upgrades on a nearly full phone.
TEST(MigrationTest, AnUpgradeThatWouldRunOutOfDiskIsRefusedBeforeItStarts) {
  TempDir dir;
  StoreOptions server;
  server.path = dir.File("server.db");
  StoreOptions device;
  device.path = dir.File("device.db");
  const int before = 15;  // schema 16 rewrites the server tables
  for (const StoreOptions* options : {&server, &device}) {
    auto old = internal::OpenAtSchemaForTesting(*options, kPassphrase, before);
    ASSERT_TRUE(old.has_value()) << old.error().ToString();
    if (options == &server) WriteDataAtVersion(**old, before);
  }
  struct Restore {
    ~Restore() { internal::SetFreeDiskForTesting(nullptr); }
  } restore;
  internal::SetFreeDiskForTesting([](const std::string&) -> Result<uint64_t> { return uint64_t{100'000}; });

  auto refused = Store::Open(server, kPassphrase);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.error().message().find("of free disk"), std::string::npos) << refused.error().ToString();
  EXPECT_NE(refused.error().message().find("1 MB are free"), std::string::npos) << refused.error().ToString();
  auto phone = Store::Open(device, kPassphrase);
  ASSERT_TRUE(phone.has_value()) << phone.error().ToString();
  EXPECT_EQ((*phone)->schema_version(), Store::LatestSchemaVersion());

  internal::SetFreeDiskForTesting(nullptr);  // the real disk has room
  auto store = OpenOrFail(server.path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->schema_version(), Store::LatestSchemaVersion());
  ExpectRowsStillNameTheirDevice(*store);
}

TEST(MigrationTest, PostgresTablesUpgradeWithSyncRowsIntact) {
  const std::string db = testing::FreshPostgresDatabase();
  ASSERT_NE(db, "");
  {
    auto old = internal::OpenPostgresAtVersionForTesting(db, 5);
    ASSERT_TRUE(old.has_value()) << old.error().ToString();
    ASSERT_TRUE(StoreAccess::Conn(**old).Exec(ServerRecordSql().c_str()).ok());
  }
  auto store = Store::OpenPostgres(db);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  ExpectRowsStillNameTheirDevice(**store);
}

TEST(MigrationTest, OpeningACurrentStoreAgainChangesNothing) {
  TempDir dir;
  std::string path = dir.File("s.db");
  std::string schema;
  {
    auto store = OpenOrFail(path);
    ASSERT_NE(store, nullptr);
    schema = SchemaText(*store);
  }
  auto store = OpenOrFail(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(SchemaText(*store), schema);
}

}  // namespace
}  // namespace tianye
