// Users, logins, sessions and the failed-login limit, on both of the
// server's stores: the embedded SQLCipher file and PostgreSQL (a throwaway
// cluster the test starts itself). On PostgreSQL, two connections stand for
// two server processes: tokens and the limit hold across them.
#include "tianye/accounts.h"

#include <gtest/gtest.h>

#include <memory>
#include <ostream>
#include <string>

#include "server_stores.h"
#include "sync_testing.h"
#include "test_util.h"

namespace tianye {
namespace {

enum class Backend { kSqlcipher, kPostgres };
void PrintTo(Backend b, std::ostream* os) { *os << (b == Backend::kSqlcipher ? "SQLCipher" : "PostgreSQL"); }

class AccountsTest : public ::testing::TestWithParam<Backend> {
 protected:
  // Another connection to the same store (another server process).
  std::unique_ptr<Store> Open() {
    if (GetParam() == Backend::kSqlcipher) {
      StoreOptions o;
      o.path = dir_.File("server.db");
      o.clock = &clock_;
      auto s = Store::Open(o, "server-key");
      EXPECT_TRUE(s.has_value()) << s.error().ToString();
      return s ? std::move(*s) : nullptr;
    }
    if (db_.empty()) db_ = testing::FreshPostgresDatabase();
    auto s = Store::OpenPostgres(db_, &clock_);
    EXPECT_TRUE(s.has_value()) << s.error().ToString();
    return s ? std::move(*s) : nullptr;
  }

  testing::TempDir dir_;
  testing::ManualClock clock_;
  std::string db_;
};

TEST_P(AccountsTest, UsersAreAddedListedChangedAndRefusedWhenMalformed) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Accounts a(store.get());
  ASSERT_TRUE(a.Add({"wang", "王检查", "inspector", {"140623100201"}, false}, "wang-password").ok());
  ASSERT_TRUE(a.Add({"zhao", "", "supervisor", {"*"}, false}, "zhao-password").ok());
  EXPECT_EQ(a.Add({"wang", "", "inspector", {}, false}, "another-password").code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(a.Add({"bad name", "", "inspector", {}, false}, "long-enough").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a.Add({"li", "", "mayor", {}, false}, "long-enough").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a.Add({"li", "", "inspector", {"1406"}, false}, "long-enough").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a.Add({"li", "", "inspector", {}, false}, "short").code(), StatusCode::kInvalidArgument);
  auto wang = a.Get("wang");
  ASSERT_TRUE(wang.has_value());
  EXPECT_EQ(wang->display_name, "王检查");
  EXPECT_EQ(wang->scope, std::vector<std::string>{"140623100201"});
  ASSERT_TRUE(a.Assign("wang", {"140623000000", "140622000000"}).ok());
  ASSERT_TRUE(a.SetRole("wang", "surveyor").ok());
  wang = a.Get("wang");
  EXPECT_EQ(wang->scope.size(), 2u);
  EXPECT_EQ(wang->role, "surveyor");
  EXPECT_EQ(a.Assign("nobody", {"*"}).code(), StatusCode::kNotFound);
  EXPECT_EQ(a.SetDisabled("nobody", true).code(), StatusCode::kNotFound);
  auto all = a.List();
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].username, "wang");
  EXPECT_EQ((*all)[1].username, "zhao");
}

TEST_P(AccountsTest, ALoginIsATokenBoundToUserAndDeviceUntilItExpiresOrEnds) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Accounts a(store.get());
  ASSERT_TRUE(a.Add({"wang", "", "inspector", {"140623100201"}, false}, "wang-password").ok());
  auto login = a.Login("wang", "wang-password", "phone-1", 3'600'000);
  ASSERT_TRUE(login.has_value()) << login.error().ToString();
  EXPECT_EQ(login->token.size(), 64u);
  auto who = a.Authenticate(login->token);
  ASSERT_TRUE(who.has_value());
  EXPECT_EQ(who->username, "wang");
  EXPECT_EQ(who->device_id, "phone-1");
  EXPECT_EQ(who->role, "inspector");
  EXPECT_EQ(a.Login("wang", "wrong-password", "phone-1").error().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(a.Login("nobody", "wang-password", "phone-1").error().code(), StatusCode::kUnauthenticated);

  clock_.Advance(3'600'001);
  EXPECT_EQ(a.Authenticate(login->token).error().code(), StatusCode::kUnauthenticated);  // expired

  auto again = a.Login("wang", "wang-password", "phone-1", 3'600'000);
  ASSERT_TRUE(again.has_value());
  ASSERT_TRUE(a.Logout(again->token).ok());
  EXPECT_FALSE(a.Authenticate(again->token).has_value());

  // A new password and disabling end every session.
  auto third = a.Login("wang", "wang-password", "phone-2");
  ASSERT_TRUE(third.has_value());
  ASSERT_TRUE(a.SetPassword("wang", "new-wang-password").ok());
  EXPECT_FALSE(a.Authenticate(third->token).has_value());
  auto fourth = a.Login("wang", "new-wang-password", "phone-2");
  ASSERT_TRUE(fourth.has_value());
  ASSERT_TRUE(a.SetDisabled("wang", true).ok());
  EXPECT_FALSE(a.Authenticate(fourth->token).has_value());
  EXPECT_EQ(a.Login("wang", "new-wang-password", "phone-2").error().code(), StatusCode::kUnauthenticated);
}

// Two connections to one store, as two servers behind a load balancer: a
// token made through one works through the other, and failed logins through
// both count towards one lock.
TEST_P(AccountsTest, TokensAndTheFailedLoginLimitHoldAcrossServers) {
  auto one = Open();
  auto two = Open();
  ASSERT_NE(one, nullptr);
  ASSERT_NE(two, nullptr);
  Accounts a(one.get()), b(two.get());
  ASSERT_TRUE(a.Add({"wang", "", "inspector", {"*"}, false}, "wang-password").ok());
  auto login = a.Login("wang", "wang-password", "phone-1");
  ASSERT_TRUE(login.has_value());
  auto who = b.Authenticate(login->token);
  ASSERT_TRUE(who.has_value()) << who.error().ToString();
  EXPECT_EQ(who->username, "wang");

  for (int i = 0; i < Accounts::kFailuresBeforeLock; ++i) {
    Accounts& via = i % 2 == 0 ? a : b;
    EXPECT_EQ(via.Login("wang", "wrong-password", "phone-1").error().code(), StatusCode::kUnauthenticated);
  }
  // Locked now, through either server, even with the right password.
  EXPECT_EQ(a.Login("wang", "wang-password", "phone-1").error().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(b.Login("wang", "wang-password", "phone-1").error().code(), StatusCode::kResourceExhausted);
  clock_.Advance(61'000);
  EXPECT_TRUE(b.Login("wang", "wang-password", "phone-1").has_value());
}

INSTANTIATE_TEST_SUITE_P(Stores, AccountsTest, ::testing::Values(Backend::kSqlcipher, Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& param) {
                           return param.param == Backend::kSqlcipher ? std::string("Sqlcipher") : std::string("Postgres");
                         });

}  // namespace
}  // namespace tianye
