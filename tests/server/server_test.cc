#include <gtest/gtest.h>
#include <sys/stat.h>

#include "test_util.h"
#include "tianye/accounts.h"
#include "tianye/store.h"

namespace tianye {
namespace {

TEST(ServerCliTest, VersionNamesSqlcipherFourAndSqlite) {
  auto r = testing::Run({TIANYE_SERVER, "--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("tianye-server ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("SQLCipher 4."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("SQLite 3."), std::string::npos) << r.out;
}

TEST(ServerCliTest, UnknownArgumentsAreAUsageError) {
  auto r = testing::Run({TIANYE_SERVER, "--frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("Usage: tianye-server"), std::string::npos);
}

std::string KeyFileText(const std::string& dir) {
  std::string key = testing::ReadBytes(dir + "/server.key");
  if (!key.empty() && key.back() == '\n') key.pop_back();
  return key;
}

Result<std::unique_ptr<Store>> OpenServerStore(const std::string& dir, const std::string& passphrase) {
  StoreOptions o;
  o.path = dir + "/tianye-server.db";
  o.if_missing = StoreOptions::IfMissing::kFail;
  return Store::Open(o, passphrase);
}

// A data folder `data` holding only a key file with `key` and file mode `mode`.
void WriteKeyFile(const std::string& data, const std::string& key, mode_t mode) {
  ::mkdir(data.c_str(), 0700);
  testing::WriteBytes(data + "/server.key", key + "\n");
  ::chmod((data + "/server.key").c_str(), mode);
}

TEST(ServerCliTest, FirstStartMakesAPrivateKeyFileWhoseKeyEncryptsTheStoreDirectly) {
  testing::TempDir dir;
  std::string data = dir.File("srv");
  auto r = testing::Run({TIANYE_SERVER, "user", "add", "wang", "--role", "inspector", "--area", "140623000000",
                         "--data-dir", data},
                        {{"TIANYE_USER_PASSWORD", "wang-password"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("made a new store key"), std::string::npos) << r.err;
  struct stat st {};
  ASSERT_EQ(::stat((data + "/server.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string key = KeyFileText(data);
  ASSERT_EQ(key.size(), 64u);
  // The 256 random bits are the key itself, not a passphrase to stretch.
  EXPECT_TRUE(OpenServerStore(data, RawKeyPassphrase(key)).has_value());
  auto stretched = OpenServerStore(data, key);
  ASSERT_FALSE(stretched.has_value());
  EXPECT_EQ(stretched.error().code(), StatusCode::kUnauthenticated);
  // The next command reuses the key file.
  r = testing::Run({TIANYE_SERVER, "user", "list", "--data-dir", data});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("wang\tinspector\t140623000000"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("made a new store key"), std::string::npos) << r.err;
}

TEST(ServerCliTest, AStoreWhoseKeyWasStretchedIsReKeyedOnceAndKeepsItsData) {
  testing::TempDir dir;
  std::string data = dir.File("srv");
  const std::string key(64, 'a');
  WriteKeyFile(data, key, 0600);
  {
    StoreOptions o;
    o.path = data + "/tianye-server.db";
    auto store = Store::Open(o, key);  // how earlier versions opened it
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    ASSERT_TRUE(Accounts(store->get()).Add({"li", "", "supervisor", {"140623000000"}, false}, "li-password").ok());
  }
  auto r = testing::Run({TIANYE_SERVER, "user", "list", "--data-dir", data});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("li\tsupervisor"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("re-keyed"), std::string::npos) << r.err;
  EXPECT_TRUE(OpenServerStore(data, RawKeyPassphrase(key)).has_value());
  EXPECT_FALSE(OpenServerStore(data, key).has_value());
  r = testing::Run({TIANYE_SERVER, "user", "list", "--data-dir", data});
  EXPECT_NE(r.out.find("li\tsupervisor"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("re-keyed"), std::string::npos) << r.err;
}

TEST(ServerCliTest, AKeyFileOthersCanReadIsRefused) {
  testing::TempDir dir;
  std::string data = dir.File("srv");
  WriteKeyFile(data, std::string(64, 'b'), 0644);
  auto r = testing::Run({TIANYE_SERVER, "user", "list", "--data-dir", data});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("chmod 600"), std::string::npos) << r.err;
  EXPECT_FALSE(testing::Exists(data + "/tianye-server.db"));
}

}  // namespace
}  // namespace tianye
