// Small text helpers shared inside the core. Private to the core.
#ifndef TIANYE_CORE_TEXT_H_
#define TIANYE_CORE_TEXT_H_

#include <cctype>
#include <string>
#include <string_view>

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
