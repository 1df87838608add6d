#include "tianye/uuid.h"

#include <gtest/gtest.h>

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

TEST(UuidTest, RejectsNonCanonicalText) {
  EXPECT_FALSE(IsCanonicalUuid(""));
  EXPECT_FALSE(IsCanonicalUuid("01A22B60-71D1-73C5-A418-D451B9CB8E05"));  // upper case
  EXPECT_FALSE(IsCanonicalUuid("01a22b6071d173c5a418d451b9cb8e05"));      // no dashes
  EXPECT_FALSE(IsCanonicalUuid("01a22b60-71d1-73c5-a418-d451b9cb8e0g"));
  EXPECT_TRUE(IsCanonicalUuid("01a22b60-71d1-73c5-a418-d451b9cb8e05"));
}

}  // namespace
}  // namespace tianye
