// Small text helpers shared inside the core. Private to the core.
#ifndef TIANYE_CORE_TEXT_H_
#define TIANYE_CORE_TEXT_H_

#include <cctype>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tianye/value.h"

namespace tianye::internal {

// ASCII lower case.
inline std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Without leading and trailing white space.
inline std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// The code point of the UTF-8 sequence at s[i] and its length in bytes; a
// byte that does not start a valid sequence reads as U+FFFD, one byte long.
inline std::pair<char32_t, size_t> Utf8At(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return {U'\uFFFD', 1};
  char32_t cp = n == 1 ? c : c & (0x7f >> n);
  for (size_t k = 1; k < n; ++k) {
    unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc >> 6) != 2) return {U'\uFFFD', 1};
    cp = (cp << 6) | (cc & 0x3f);
  }
  return {cp, n};
}

inline bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The words of `s` between spaces, tabs and line breaks (e.g. the choices of
// a select_multiple answer).
inline std::vector<std::string> SplitSpaces(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && IsSpace(s[i])) ++i;
    size_t start = i;
    while (i < s.size() && !IsSpace(s[i])) ++i;
    if (i > start) out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

// A stored answer as the string value forms see: strings as they are,
// null as "", numbers and booleans spelled out, anything else as JSON.
inline std::string AnswerText(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number()) return NumberToString(v.get<double>());
  return v.dump();
}

}  // namespace tianye::internal

#endif  // TIANYE_CORE_TEXT_H_
