// UUIDv7 (RFC 9562): time-ordered, made on the device, never reused.
//
// Thread safety: NewUuidV7 may be called from any thread.
#ifndef TIANYE_UUID_H_
#define TIANYE_UUID_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "tianye/clock.h"

namespace tianye {

// Returns a new UUIDv7 in canonical lower-case form
// ("0192f1c4-8a3b-7cde-9f01-23456789abcd"). The first 48 bits are the
// clock's milliseconds; within one process ids are strictly increasing even
// when the clock stands still or steps back.
std::string NewUuidV7(const Clock& clock);

// True when `text` is a canonical lower-case UUID of any version.
bool IsCanonicalUuid(std::string_view text);

// The millisecond timestamp of a UUIDv7 (undefined for other versions).
int64_t UuidV7Millis(std::string_view uuid);

}  // namespace tianye

#endif  // TIANYE_UUID_H_
