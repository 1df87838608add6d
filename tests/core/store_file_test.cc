// What the store file looks like on disk, and how Open() treats files that
// are not a store it can unlock: every failure is a clear error and leaves
// every byte on disk as it was.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

#include "store_testing.h"
#include "test_util.h"
#include "tianye/attachment.h"
#include "tianye/record.h"
#include "tianye/store.h"

namespace tianye {
namespace {

using testing::kPassphrase;
using testing::OpenOrFail;
using testing::OpenStatus;
using testing::ReadBytes;
using testing::StringSource;
using testing::TempDir;

constexpr char kAsciiMarker[] = "TIANYE-PLAINTEXT-MARKER-7Q2";
constexpr char kChineseMarker[] = "平鲁红山荞麦标记样本";


void ExpectNoMarkers(const std::string& path) {
  std::string bytes = ReadBytes(path);
  EXPECT_EQ(bytes.find(kAsciiMarker), std::string::npos) << "ASCII marker found in " << path;
  EXPECT_EQ(bytes.find(kChineseMarker), std::string::npos) << "Chinese marker found in " << path;
  EXPECT_EQ(bytes.find("SQLite format 3"), std::string::npos) << "plain header in " << path;
}

// Writes records, a setting and an attachment that all carry the markers.
void WriteMarkedData(Store* store, int records) {
  RecordStore rs(store);
  std::string values = std::string(R"({"remark":")") + kAsciiMarker + " " + kChineseMarker + "\"}";
  for (int i = 0; i < records; ++i) {
    auto r = rs.Create({.form_id = "germplasm", .author = kChineseMarker, .values_json = values});
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
  }
  ASSERT_TRUE(store->PutSetting("note", kChineseMarker).ok());
  AttachmentStore as(store);
  StringSource src(std::string(kAsciiMarker) + kChineseMarker);
  ASSERT_TRUE(as.Put(src, {}).has_value());
}

TEST(StoreFileTest, NeitherDatabaseNorWalHoldsPlaintext) {
  TempDir dir;
  std::string path = dir.File("s.db");
  {
    auto store = OpenOrFail(path);
    ASSERT_NE(store, nullptr);
    WriteMarkedData(store.get(), 50);
    // While the store is open the new pages sit in the write-ahead log.
    ASSERT_GT(std::filesystem::file_size(path + "-wal"), 0u);
    ExpectNoMarkers(path + "-wal");
    ExpectNoMarkers(path);
    ASSERT_TRUE(store->Checkpoint().ok());
    ExpectNoMarkers(path);
  }
  ExpectNoMarkers(path);
  // The markers are really in there: the right passphrase finds them.
  auto store = OpenOrFail(path);
  ASSERT_NE(store, nullptr);
  RecordStore rs(store.get());
  auto list = rs.List({});
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 50u);
  EXPECT_NE(list->front().values_json.find(kChineseMarker), std::string::npos);
}

// A store as a crash leaves it: committed pages still in the WAL.
void MakeCrashSnapshot(const std::string& from, const std::string& to) {
  std::filesystem::copy_file(from, to);
  std::filesystem::copy_file(from + "-wal", to + "-wal");
}

TEST(StoreFileTest, WrongPassphraseIsUnauthenticatedAndChangesNothing) {
  TempDir dir;
  std::string live = dir.File("live.db"), path = dir.File("snap.db");
  auto writer = OpenOrFail(live);
  ASSERT_NE(writer, nullptr);
  WriteMarkedData(writer.get(), 20);
  MakeCrashSnapshot(live, path);
  std::string db_before = ReadBytes(path), wal_before = ReadBytes(path + "-wal");
  ASSERT_FALSE(wal_before.empty());

  for (const char* wrong : {"wrong", "平鲁 field team 2026", "平鲁 field team 2026!!"}) {
    Status s = OpenStatus(path, wrong);
    EXPECT_EQ(s.code(), StatusCode::kUnauthenticated) << s.ToString();
    EXPECT_NE(s.message().find("wrong passphrase"), std::string::npos);
  }
  EXPECT_EQ(ReadBytes(path), db_before);
  EXPECT_EQ(ReadBytes(path + "-wal"), wal_before);

  // And the right passphrase still recovers every committed record.
  auto store = OpenOrFail(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*RecordStore(store.get()).Count({}), 20);
  EXPECT_TRUE(store->CheckIntegrity().ok());
}

TEST(StoreFileTest, EmptyFileIsCorruptionAndStaysEmpty) {
  TempDir dir;
  std::string path = dir.File("s.db");
  testing::WriteBytes(path, "");
  Status s = OpenStatus(path, kPassphrase, StoreOptions::IfMissing::kCreate);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("empty"), std::string::npos);
  EXPECT_EQ(ReadBytes(path), "");
  EXPECT_EQ(testing::ListDir(dir.path()), std::vector<std::string>{"s.db"});
}

std::string MakeStoreWithRecords(const std::string& path, int n) {
  auto store = OpenOrFail(path);
  EXPECT_NE(store, nullptr);
  if (store) WriteMarkedData(store.get(), n);
  store.reset();
  return ReadBytes(path);
}

TEST(StoreFileTest, TruncatedFileIsCorruptionAndUnchanged) {
  TempDir dir;
  std::string path = dir.File("s.db");
  std::string full = MakeStoreWithRecords(path, 300);
  ASSERT_GT(full.size(), 8u * 4096);

  // Cut at a page boundary: page 1 decrypts, but the file is too short.
  testing::WriteBytes(path, full.substr(0, 3 * 4096));
  Status s = OpenStatus(path, kPassphrase);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_EQ(ReadBytes(path), full.substr(0, 3 * 4096));

  // Cut in the middle of a page.
  testing::WriteBytes(path, full.substr(0, 5 * 4096 + 1000));
  s = OpenStatus(path, kPassphrase);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("truncated"), std::string::npos);
  EXPECT_EQ(ReadBytes(path).size(), 5u * 4096 + 1000);

  // Shorter than one page.
  testing::WriteBytes(path, full.substr(0, 100));
  EXPECT_EQ(OpenStatus(path, kPassphrase).code(), StatusCode::kCorruption);
  EXPECT_EQ(ReadBytes(path).size(), 100u);
}

TEST(StoreFileTest, RandomGarbageIsRefusedAndUnchanged) {
  TempDir dir;
  std::string path = dir.File("garbage.db");
  std::mt19937 rng(20261130);
  std::string garbage(16 * 4096, '\0');
  for (char& c : garbage) c = static_cast<char>(rng());
  testing::WriteBytes(path, garbage);
  Status s = OpenStatus(path, kPassphrase);
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated) << s.ToString();
  EXPECT_NE(s.message().find("not a Tianye store"), std::string::npos);
  EXPECT_EQ(ReadBytes(path), garbage);
  EXPECT_EQ(testing::ListDir(dir.path()), std::vector<std::string>{"garbage.db"});
}

TEST(StoreFileTest, PlainSqliteFileIsRefusedAndUnchanged) {
  TempDir dir;
  std::string path = dir.File("plain.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE records(id); INSERT INTO records VALUES ('x')", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  std::string before = ReadBytes(path);
  ASSERT_EQ(before.rfind("SQLite format 3", 0), 0u);
  Status s = OpenStatus(path, kPassphrase);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("unencrypted"), std::string::npos);
  EXPECT_EQ(ReadBytes(path), before);
}

TEST(StoreFileTest, DamagedPageIsReportedByIntegrityCheck) {
  TempDir dir;
  std::string path = dir.File("s.db");
  std::string full = MakeStoreWithRecords(path, 300);
  // Flip one byte in the middle of a data page: its HMAC no longer matches.
  full[6 * 4096 + 2000] = static_cast<char>(full[6 * 4096 + 2000] ^ 0x40);
  testing::WriteBytes(path, full);
  StoreOptions options;
  options.path = path;
  auto store = Store::Open(options, kPassphrase);
  if (!store) {  // the damaged page may be one Open() itself reads
    EXPECT_EQ(store.error().code(), StatusCode::kCorruption) << store.error().ToString();
    return;
  }
  Status s = (*store)->CheckIntegrity();
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
}

}  // namespace
}  // namespace tianye
