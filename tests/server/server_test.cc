#include <gtest/gtest.h>

#include "test_util.h"

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

}  // namespace
}  // namespace tianye
