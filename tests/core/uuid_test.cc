#include "tianye/uuid.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>

namespace tianye {
namespace {

class FixedClock final : public Clock {
 public:
  explicit FixedClock(int64_t ms) : ms_(ms) {}
  int64_t NowMillis() const override { return ms_; }
  void Set(int64_t ms) { ms_ = ms; }

 private:
  int64_t ms_;
};

TEST(UuidTest, CanonicalVersion7WithVariant) {
  // Ids never go back in a process: start 10 s past the latest one made (by
  // earlier tests too), where the clock's time is what gets encoded.
  int64_t latest = UuidV7Millis(NewUuidV7(*SystemClock()));
  FixedClock clock(latest + 10'000);
  std::string id = NewUuidV7(clock);
  ASSERT_TRUE(IsCanonicalUuid(id)) << id;
  EXPECT_EQ(id[14], '7');                                        // version
  EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos);  // RFC 9562 variant
  EXPECT_EQ(UuidV7Millis(id), latest + 10'000);
}

TEST(UuidTest, StrictlyIncreasingWhenClockStallsOrStepsBack) {
  FixedClock clock(1764460800000);
  std::string prev = NewUuidV7(clock);
  std::set<std::string> seen{prev};
  for (int i = 0; i < 10000; ++i) {
    if (i == 5000) clock.Set(1764460700000);  // a device clock corrected backwards
    std::string next = NewUuidV7(clock);
    ASSERT_LT(prev, next) << "at " << i;
    seen.insert(next);
    prev = next;
  }
  EXPECT_EQ(seen.size(), 10001u);
}

// A forked child (a server's helper, a test's process) starts with a copy
// of its parent's memory: its ids must not repeat the random bits the parent
// hands out next.
TEST(UuidTest, AForkedChildDrawsOtherRandomBitsThanItsParent) {
  auto random_tail = [](const std::string& id) { return id.substr(19); };  // rand_b, after the variant
  (void)NewUuidV7(*SystemClock());  // the parent has random bits at hand
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const std::string id = NewUuidV7(*SystemClock());
    const bool sent = write(fds[1], id.data(), id.size()) == static_cast<ssize_t>(id.size());
    _exit(sent ? 0 : 1);
  }
  close(fds[1]);
  const std::string mine = NewUuidV7(*SystemClock());
  char buf[64] = {};
  const ssize_t n = read(fds[0], buf, sizeof buf);
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(n, 36);
  const std::string theirs(buf, 36);
  ASSERT_TRUE(IsCanonicalUuid(theirs)) << theirs;
  EXPECT_NE(random_tail(theirs), random_tail(mine)) << theirs << " " << mine;
}

TEST(UuidTest, RejectsNonCanonicalText) {
  EXPECT_FALSE(IsCanonicalUuid(""));
  EXPECT_FALSE(IsCanonicalUuid("01A22B60-71D1-73C5-A418-D451B9CB8E05"));  // upper case
  EXPECT_FALSE(IsCanonicalUuid("01a22b6071d173c5a418d451b9cb8e05"));      // no dashes
  EXPECT_FALSE(IsCanonicalUuid("01a22b60-71d1-73c5-a418-d451b9cb8e0g"));
  EXPECT_TRUE(IsCanonicalUuid("01a22b60-71d1-73c5-a418-d451b9cb8e05"));
}

}  // namespace
}  // namespace tianye
