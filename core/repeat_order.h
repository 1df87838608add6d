// The order of repeat instances, kept through sync. Private to the core.
//
// Each instance of a repeat has an order key, and a record lists its
// instances by key (then id). The key is the instance's id unless the
// instance carries one of its own in its "_order" member: time-ordered ids
// list instances in the order they were added, and an instance that is
// moved (or added on a device whose clock is behind) gets a key between its
// new neighbours'. The key is one field when a record is synced, so a move
// is one op, merges like any answer, and leaves the other instances alone.
#ifndef TIANYE_CORE_REPEAT_ORDER_H_
#define TIANYE_CORE_REPEAT_ORDER_H_

#include <string>
#include <string_view>

namespace tianye::internal {

// The JSON member of a repeat instance holding its own order key.
inline constexpr char kOrderMember[] = "_order";

// A key that sorts after `before` and before `after`, in printable ASCII
// and never ending in '!'. "" as `before` means the start of the list, ""
// as `after` its end. When `after` does not sort after `before` (a list
// that was out of order), the key sorts after `before` only.
std::string OrderKeyBetween(std::string_view before, std::string_view after);

}  // namespace tianye::internal

#endif  // TIANYE_CORE_REPEAT_ORDER_H_
