// The list of low-income households the civil-affairs and rural-revitalisation
// offices keep (the six categories of the housing form's `lowinc_cat`),
// imported on the server by an admin. It is the denominator of the
// dashboard's C1, 重点对象鉴定覆盖率 (../shared/domain/forms.md §6.2): how many
// listed households had their house assessed this year.
#ifndef TIANYE_PRIORITY_LIST_H_
#define TIANYE_PRIORITY_LIST_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tianye/status.h"
#include "tianye/store.h"

namespace tianye {

struct PriorityListImport {
  int64_t households = 0;             // rows imported
  std::vector<std::string> counties;  // the counties whose list they replaced (6-digit codes, as counties.csv)
};

// Reads `csv` (UTF-8, a byte-order mark allowed) with a header row naming at
// least `hh_key` (village code, '-', household number: the housing form's
// hh_key) and `category` (dibao, tekun, dibao_edge, return_risk, hardship or
// other_exit); other columns are ignored. The rows replace the list of every
// county they name; other counties' lists stay.
//
// Errors: kInvalidArgument naming the lines at fault (at most 20), and
// nothing changes, for a missing column, a malformed key, an unknown
// category, a household listed twice, no rows, or more than 500,000 rows.
Result<PriorityListImport> ImportPriorityList(Store& store, std::string_view csv);

struct PriorityListCounty {
  std::string county;  // 6-digit code, as counties.csv
  int64_t households = 0;
  int64_t imported_ms = 0;
};

// How many listed households each county has, and when its list came.
Result<std::vector<PriorityListCounty>> PriorityListSummary(Store& store);

}  // namespace tianye

#endif  // TIANYE_PRIORITY_LIST_H_
