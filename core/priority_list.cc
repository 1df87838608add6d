#include "tianye/priority_list.h"

#include <set>
#include <utility>
#include <vector>

#include "csv.h"
#include "sqlite.h"
#include "store_impl.h"
#include "text.h"

namespace tianye {
namespace {

using internal::StoreAccess;

constexpr size_t kMaxRows = 500000;
constexpr size_t kMaxProblems = 20;

bool IsCategory(const std::string& c) {
  static const std::set<std::string> kCategories = {"dibao",      "tekun",    "dibao_edge",
                                                    "return_risk", "hardship", "other_exit"};
  return kCategories.count(c) > 0;
}

// The housing form's hh_key: a 12-digit village code, '-', and the
// household number its `hh_no` allows (1-10 of 0-9, A-Z, a-z, '-').
bool IsHouseholdKey(const std::string& key) {
  if (key.size() < 14 || key.size() > 23 || key[12] != '-') return false;
  for (size_t i = 0; i < 12; ++i) {
    if (key[i] < '0' || key[i] > '9') return false;
  }
  for (size_t i = 13; i < key.size(); ++i) {
    const char c = key[i];
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-')) return false;
  }
  return true;
}

}  // namespace

Result<PriorityListImport> ImportPriorityList(Store& store, std::string_view csv) {
  TIANYE_ASSIGN_OR_RETURN(std::vector<std::vector<std::string>> rows, internal::ParseCsv(csv));
  if (rows.empty()) return Status::InvalidArgument("the list is empty: a header row (hh_key,category) and a row per household");
  int key_col = -1, category_col = -1;
  for (size_t i = 0; i < rows[0].size(); ++i) {
    const std::string name = internal::Trim(rows[0][i]);
    if (name == "hh_key") key_col = static_cast<int>(i);
    if (name == "category") category_col = static_cast<int>(i);
  }
  if (key_col < 0 || category_col < 0) {
    return Status::InvalidArgument("the header row must name the columns hh_key and category");
  }
  if (rows.size() == 1) return Status::InvalidArgument("the list has a header but no households");
  if (rows.size() - 1 > kMaxRows) {
    return Status::InvalidArgument("the list has " + std::to_string(rows.size() - 1) + " households; at most " +
                                   std::to_string(kMaxRows) + " at a time");
  }
  // Line numbers count the header as line 1 (blank lines are skipped).
  std::vector<std::string> problems;
  size_t problem_count = 0;
  auto problem = [&](size_t row, const std::string& what) {
    if (++problem_count <= kMaxProblems) problems.push_back("line " + std::to_string(row + 1) + ": " + what);
  };
  std::set<std::string> seen, counties;
  std::vector<std::pair<std::string, std::string>> households;  // (hh_key, category), as checked
  for (size_t r = 1; r < rows.size(); ++r) {
    const std::vector<std::string>& row = rows[r];
    const std::string key = static_cast<int>(row.size()) > key_col ? internal::Trim(row[key_col]) : "";
    const std::string category =
        static_cast<int>(row.size()) > category_col ? internal::Trim(row[category_col]) : "";
    if (!IsHouseholdKey(key)) {
      problem(r, "hh_key '" + key.substr(0, 40) + "' is not a 12-digit village code, '-' and a household number");
      continue;
    }
    if (!IsCategory(category)) {
      problem(r, "category '" + category.substr(0, 40) +
                     "' is not one of dibao, tekun, dibao_edge, return_risk, hardship, other_exit");
    }
    if (!seen.insert(key).second) problem(r, "household " + key + " is listed twice");
    counties.insert(key.substr(0, 6));
    households.emplace_back(key, category);
  }
  if (!problems.empty()) {
    std::string message = "the list has " + std::to_string(problem_count) + " problem(s); nothing was imported:";
    for (const std::string& p : problems) message += "\n" + p;
    if (problem_count > problems.size()) message += "\n…";
    return Status::InvalidArgument(message);
  }

  internal::Connection& conn = StoreAccess::Conn(store);
  const int64_t now = StoreAccess::ClockOf(store).NowMillis();
  TIANYE_ASSIGN_OR_RETURN(Transaction tx, store.Begin());
  for (const std::string& county : counties) {
    TIANYE_ASSIGN_OR_RETURN(internal::Stmt drop,
                            conn.Prepare("DELETE FROM server_priority_households WHERE county_code = ?"));
    drop.Bind(1, county);
    TIANYE_RETURN_IF_ERROR(drop.Run());
  }
  for (const auto& [key, category] : households) {
    TIANYE_ASSIGN_OR_RETURN(
        internal::Stmt add,
        conn.Prepare("INSERT INTO server_priority_households (hh_key, county_code, township_code, village_code, "
                     "category, imported_ms) VALUES (?, ?, ?, ?, ?, ?)"));
    add.Bind(1, key).Bind(2, key.substr(0, 6)).Bind(3, key.substr(0, 9)).Bind(4, key.substr(0, 12));
    add.Bind(5, category).Bind(6, now);
    TIANYE_RETURN_IF_ERROR(add.RunDeferred());
  }
  TIANYE_RETURN_IF_ERROR(tx.Commit());
  return PriorityListImport{static_cast<int64_t>(households.size()), {counties.begin(), counties.end()}};
}

Result<std::vector<PriorityListCounty>> PriorityListSummary(Store& store) {
  TIANYE_ASSIGN_OR_RETURN(internal::Stmt s, StoreAccess::Conn(store).Prepare(
                                                "SELECT county_code, count(*), max(imported_ms) FROM "
                                                "server_priority_households GROUP BY county_code ORDER BY county_code"));
  std::vector<PriorityListCounty> out;
  while (true) {
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return out;
    out.push_back({s.Text(0), s.Int(1), s.Int(2)});
  }
}

}  // namespace tianye
