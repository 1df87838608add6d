#include "tianye/clock.h"

#include <chrono>

namespace tianye {
namespace {

class WallClock final : public Clock {
 public:
  int64_t NowMillis() const override {
    using std::chrono::duration_cast;
    using std::chrono::milliseconds;
    return duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  }
};

}  // namespace

const Clock* SystemClock() {
  static const WallClock kClock;
  return &kClock;
}

}  // namespace tianye
