#include "repeat_order.h"

#include <algorithm>

namespace tianye::internal {

std::string OrderKeyBetween(std::string_view before, std::string_view after) {
  // Keys read as fractions in base 94 with the digits '!'..'~'. A key never
  // ends in the smallest digit, so there is always room below any key
  // longer than `before`. Bytes outside the digits (ids made elsewhere) are
  // copied from `before` or stepped over, never made up.
  constexpr int kBelow = '!' - 1, kAbove = '~' + 1;
  auto byte = [](std::string_view s, size_t i) { return static_cast<int>(static_cast<unsigned char>(s[i])); };
  bool above_before = false;                            // the key so far already sorts after `before`
  bool below_after = after.empty() || after <= before;  // ... and before `after`
  std::string key;
  for (size_t i = 0;; ++i) {
    const int lo = above_before || i >= before.size() ? kBelow : byte(before, i);
    const int hi = below_after ? kAbove : i < after.size() ? byte(after, i) : kBelow;
    if (lo < hi) {
      const int bottom = std::max(lo, kBelow), top = std::min(hi, kAbove);
      if (top - bottom >= 2) {
        const int mid = bottom + (top - bottom) / 2;
        key += static_cast<char>(mid);
        if (mid != '!') return key;
        above_before = below_after = true;  // '!' cannot end a key: one digit more
        continue;
      }
    }
    if (lo == kBelow) {
      if (hi == '!') {
        // Nothing fits below `after`'s '!': follow it one digit further.
        key += '!';
        above_before = true;
      } else {
        below_after = true;  // out of reach (a byte below '!'): after `before` only
      }
      continue;
    }
    key += static_cast<char>(lo);  // `before`'s digit
    if (hi > lo) below_after = true;
  }
}

}  // namespace tianye::internal
