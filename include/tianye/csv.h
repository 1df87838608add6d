// Writing CSV for exports (RFC 4180: CRLF line ends, fields quoted when they
// hold a comma, quote or line break). Exports start with kUtf8Bom so that
// Excel shows Chinese text.
#ifndef TIANYE_CSV_H_
#define TIANYE_CSV_H_

#include <string>
#include <vector>

namespace tianye {

inline constexpr char kUtf8Bom[] = "\xEF\xBB\xBF";

// One line: the cells, quoted where needed, joined by commas, ending in CRLF.
std::string CsvLine(const std::vector<std::string>& cells);

}  // namespace tianye

#endif  // TIANYE_CSV_H_
