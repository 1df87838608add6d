// Fuzz target: the dashboard's reading of a record's answers (core/facts.h),
// which come from devices: dates as SQLite's julianday() reads them,
// numbers as its CAST reads them, and the figures of a whole record. The
// input is lines of "field<TAB>value" ("field" alone: a cleared answer); each
// value is also read as a date and a number on its own.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "facts.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::map<std::string, std::optional<std::string>> answers;
  while (!text.empty()) {
    const size_t end = std::min(text.find('\n'), text.size());
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    const size_t tab = line.find('\t');
    std::optional<std::string> value;
    if (tab != std::string_view::npos) value = std::string(line.substr(tab + 1));
    answers[std::string(line.substr(0, tab))] = value;
    if (!value) continue;
    // A Julian day SQLite would print: within 0000-01-01 .. 9999-12-31.
    if (std::optional<int64_t> ms = tianye::internal::JulianDayMs(*value); ms && (*ms < 0 || *ms > 464269060799999)) {
      std::abort();
    }
    if (std::isnan(tianye::internal::SqliteReal(*value))) std::abort();
  }
  std::vector<tianye::internal::FactField> fields;
  for (const auto& [name, value] : answers) fields.push_back({name, &value});
  if (tianye::internal::DescribeFacts(fields).empty()) std::abort();
  return 0;
}
