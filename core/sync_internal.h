// Sync internals shared by the core's record, device and server code.
#ifndef TIANYE_CORE_SYNC_INTERNAL_H_
#define TIANYE_CORE_SYNC_INTERNAL_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sqlite.h"
#include "store_impl.h"
#include "tianye/record.h"
#include "tianye/sync.h"

namespace tianye::internal {

// Writes one outbox row per field that differs between `before` (nullopt: a
// new record) and `after`, coalescing with unsent rows of the same field
// (last value, oldest base). Call inside the transaction of the edit. Does
// nothing while capture is suspended (applying pulled changes).
Status CaptureRecordChange(Store& store, const std::optional<Record>& before, const Record& after);

// Suspends change capture on `store` for its lifetime.
class CaptureSuspended {
 public:
  explicit CaptureSuspended(Store& store);
  ~CaptureSuspended();
  CaptureSuspended(const CaptureSuspended&) = delete;
  CaptureSuspended& operator=(const CaptureSuspended&) = delete;

 private:
  Store& store_;
};

// The server's current fields of record `record_id` (removed ones left
// out); nullopt when the server has no field of it at all.
Result<std::optional<FieldMap>> ServerFieldsOf(Connection& conn, std::string_view record_id);

// When setting `stale_key` is set (an upgrade left rows of every record to
// fill): `refresh` of every record on the server, a few thousand to a
// transaction, then the setting cleared; an interrupted run starts over at
// the next start (refresh replaces a record's rows). How many records it
// refreshed; 0 when there was nothing to do.
Result<int64_t> RefreshEveryRecordIfStale(Store& store, const char* stale_key,
                                          const std::function<Status(const std::string& record_id)>& refresh);

// The code prefix an area code covers (see InScope): "140623000000" -> "140623".
std::string ScopePrefix(const std::string& code);

// `who`'s scope as an SQL condition on the server_records row `alias`, so
// other areas' rows are skipped inside SQLite: a record is in scope by its
// most specific code (as InScope decides), or it has no area yet and is the
// user's own (`user_param` names the bound parameter holding the user
// name; it always appears, so binding it is valid). Codes that are not
// digits are left out.
std::string ScopeSql(const Principal& who, const std::string& alias, const std::string& user_param);

// Nullable text columns and parameters.
inline void BindOptional(Stmt& stmt, int index, const std::optional<std::string>& v) {
  if (v) {
    stmt.Bind(index, *v);
  } else {
    stmt.BindNull(index);
  }
}
inline std::optional<std::string> OptionalText(const Stmt& stmt, int col) {
  if (stmt.IsNull(col)) return std::nullopt;
  return stmt.Text(col);
}

std::string CandidatesJson(const std::vector<Candidate>& candidates);
Result<std::vector<Candidate>> ParseCandidates(std::string_view text);

}  // namespace tianye::internal

#endif  // TIANYE_CORE_SYNC_INTERNAL_H_
