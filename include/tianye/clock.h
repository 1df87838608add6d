// Clock: where the core reads the time. Injected so that tests can use a
// fixed or skewed clock (field devices are often hours or days off).
//
// Thread safety: implementations must be safe to call from any thread.
#ifndef TIANYE_CLOCK_H_
#define TIANYE_CLOCK_H_

#include <cstdint>

namespace tianye {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since 1970-01-01T00:00:00Z.
  virtual int64_t NowMillis() const = 0;
};

// The operating system's wall clock. Never null; lives for the whole program.
const Clock* SystemClock();

}  // namespace tianye

#endif  // TIANYE_CLOCK_H_
