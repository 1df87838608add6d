// RFC 4180 CSV reading for the lists shipped with forms. Private to the core.
#ifndef TIANYE_CORE_CSV_H_
#define TIANYE_CORE_CSV_H_

#include <string>
#include <string_view>
#include <vector>

#include "tianye/status.h"

namespace tianye::internal {

// Splits CSV text into rows of fields. Accepts a UTF-8 byte-order mark, CRLF
// or LF line ends, quoted fields with doubled quotes and embedded newlines;
// skips blank lines. Errors: kInvalidArgument for an unterminated quote.
Result<std::vector<std::vector<std::string>>> ParseCsv(std::string_view text);

}  // namespace tianye::internal

#endif  // TIANYE_CORE_CSV_H_
