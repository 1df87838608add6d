// Value: the result of evaluating a form expression.
//
// Follows XPath 1.0 as ODK uses it: answers are strings; numbers are IEEE
// doubles where an empty or non-numeric string is NaN (never 0); booleans
// convert to and from the others by XPath's rules; a node-set is the list of
// a field's values across repeat instances (or a single answer).
// ODK's extension: number() of a date "YYYY-MM-DD" is the count of days since
// 1970-01-01, and of a dateTime the fractional days, so dates compare as numbers.
//
// Thread safety: a plain value.
#ifndef TIANYE_VALUE_H_
#define TIANYE_VALUE_H_

#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tianye {

class Value {
 public:
  enum class Kind { kString, kNumber, kBoolean, kNodeSet };
  using NodeSet = std::vector<std::string>;

  Value() : v_(std::string()) {}
  static Value String(std::string s) { return Value(std::move(s)); }
  static Value Number(double d) { return Value(d); }
  static Value Boolean(bool b) { return Value(b); }
  static Value Nodes(NodeSet nodes) { return Value(std::move(nodes)); }

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_nodeset() const { return kind() == Kind::kNodeSet; }

  // XPath string(): numbers without exponent ("NaN", "Infinity", "2", "0.5"),
  // booleans "true"/"false", a node-set its first node's value or "".
  std::string AsString() const;
  // XPath number(), plus ODK's date and dateTime conversion.
  double AsNumber() const;
  // XPath boolean(): non-empty string, non-zero non-NaN number, non-empty node-set.
  bool AsBoolean() const;
  // The node-set's values; a single value for any other kind.
  NodeSet AsNodes() const;

  friend bool operator==(const Value& a, const Value& b) { return a.v_ == b.v_; }

 private:
  explicit Value(std::string s) : v_(std::move(s)) {}
  explicit Value(double d) : v_(d) {}
  explicit Value(bool b) : v_(b) {}
  explicit Value(NodeSet n) : v_(std::move(n)) {}
  std::variant<std::string, double, bool, NodeSet> v_;
};

// Formats a double as XPath's string() does.
std::string NumberToString(double d);
// Parses as XPath's number() does for strings (plus dates); NaN when it is not a number.
double StringToNumber(std::string_view s);

// Days since 1970-01-01 for "YYYY-MM-DD" (also the date part of a dateTime);
// false when `s` is not a valid date.
bool ParseDateDays(std::string_view s, double* days);
// Fractional days since 1970-01-01T00:00Z for an ISO 8601 dateTime with an
// optional offset ("2026-11-30T08:15:00.000+08:00"); false when invalid.
bool ParseDateTimeDays(std::string_view s, double* days);
// "YYYY-MM-DD" for a day count (fractions are dropped toward minus infinity).
std::string DaysToDate(double days);

}  // namespace tianye

#endif  // TIANYE_VALUE_H_
