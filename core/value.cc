#include "tianye/value.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace tianye {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool IsXPathSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsXPathSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsXPathSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

unsigned DaysInMonth(int y, int m) {
  static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// Parses "YYYY-MM-DD" at the start of `s`.
bool ParseDatePrefix(std::string_view s, int64_t* days) {
  int y, m, d;
  if (!Digits(s, 0, 4, &y) || s.size() < 10 || s[4] != '-' || !Digits(s, 5, 2, &m) ||
      s[7] != '-' || !Digits(s, 8, 2, &d)) {
    return false;
  }
  if (m < 1 || m > 12 || d < 1 || static_cast<unsigned>(d) > DaysInMonth(y, m)) return false;
  *days = DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
  return true;
}

}  // namespace

std::string NumberToString(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  if (d == 0) return "0";  // also -0
  if (std::fabs(d) < 1e15 && d == std::trunc(d)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", d);
    return buf;
  }
  char buf[400];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
  return std::string(buf, res.ptr);
}

bool ParseDateDays(std::string_view s, double* days) {
  s = Trim(s);
  int64_t n;
  if (!ParseDatePrefix(s, &n)) return false;
  if (s.size() != 10 && s[10] != 'T') return false;
  *days = static_cast<double>(n);
  return true;
}

bool ParseDateTimeDays(std::string_view s, double* days) {
  s = Trim(s);
  int64_t day;
  if (!ParseDatePrefix(s, &day) || s.size() < 16 || s[10] != 'T') return false;
  int hh, mm, ss = 0, ms = 0;
  if (!Digits(s, 11, 2, &hh) || s[13] != ':' || !Digits(s, 14, 2, &mm)) return false;
  size_t pos = 16;
  if (pos < s.size() && s[pos] == ':') {
    if (!Digits(s, pos + 1, 2, &ss)) return false;
    pos += 3;
    if (pos < s.size() && s[pos] == '.') {
      size_t start = ++pos;
      int scale = 100;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        ms += (s[pos] - '0') * scale;
        scale /= 10;
        ++pos;
      }
      if (pos == start) return false;
    }
  }
  if (hh > 23 || mm > 59 || ss > 60) return false;
  int offset_min = 0;
  if (pos < s.size()) {
    if (s[pos] == 'Z' && pos + 1 == s.size()) {
      // UTC
    } else if ((s[pos] == '+' || s[pos] == '-') && pos + 6 == s.size() && s[pos + 3] == ':') {
      int oh, om;
      if (!Digits(s, pos + 1, 2, &oh) || !Digits(s, pos + 4, 2, &om)) return false;
      offset_min = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    } else {
      return false;
    }
  }
  double seconds = hh * 3600.0 + mm * 60.0 + ss + ms / 1000.0 - offset_min * 60.0;
  *days = static_cast<double>(day) + seconds / 86400.0;
  return true;
}

std::string DaysToDate(double days) {
  if (!std::isfinite(days) || std::fabs(days) > 1e8) return "";
  int64_t y;
  unsigned m, d;
  CivilFromDays(static_cast<int64_t>(std::floor(days)), &y, &m, &d);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
  return buf;
}

double StringToNumber(std::string_view s) {
  s = Trim(s);
  if (s.empty()) return kNaN;
  // XPath Number: -?(digits(.digits?)? | .digits); no exponent, no '+'.
  size_t i = s[0] == '-' ? 1 : 0;
  size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++frac_digits;
  }
  if (i == s.size() && int_digits + frac_digits > 0) {
    double v = 0;
    const char* begin = s.data() + (s[0] == '-' ? 1 : 0);
    auto res = std::from_chars(begin, s.data() + s.size(), v);
    if (res.ec != std::errc() && res.ec != std::errc::result_out_of_range) return kNaN;
    if (int_digits == 0 && res.ptr == begin) return kNaN;
    return s[0] == '-' ? -v : v;
  }
  double days;
  if (ParseDateDays(s, &days) && s.size() == 10) return days;
  if (ParseDateTimeDays(s, &days)) return days;
  return kNaN;
}

std::string Value::AsString() const {
  switch (kind()) {
    case Kind::kString: return std::get<std::string>(v_);
    case Kind::kNumber: return NumberToString(std::get<double>(v_));
    case Kind::kBoolean: return std::get<bool>(v_) ? "true" : "false";
    case Kind::kNodeSet: {
      const NodeSet& n = std::get<NodeSet>(v_);
      return n.empty() ? std::string() : n.front();
    }
  }
  return std::string();
}

double Value::AsNumber() const {
  switch (kind()) {
    case Kind::kString: return StringToNumber(std::get<std::string>(v_));
    case Kind::kNumber: return std::get<double>(v_);
    case Kind::kBoolean: return std::get<bool>(v_) ? 1.0 : 0.0;
    case Kind::kNodeSet: return StringToNumber(AsString());
  }
  return kNaN;
}

bool Value::AsBoolean() const {
  switch (kind()) {
    case Kind::kString: return !std::get<std::string>(v_).empty();
    case Kind::kNumber: {
      double d = std::get<double>(v_);
      return d != 0 && !std::isnan(d);
    }
    case Kind::kBoolean: return std::get<bool>(v_);
    case Kind::kNodeSet: return !std::get<NodeSet>(v_).empty();
  }
  return false;
}

Value::NodeSet Value::AsNodes() const {
  if (kind() == Kind::kNodeSet) return std::get<NodeSet>(v_);
  return {AsString()};
}

}  // namespace tianye
