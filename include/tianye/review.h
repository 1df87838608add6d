// What supervisors read on the server: the review queue (records in the
// user's scope, filtered, sorted and paged in SQL) and one record with the
// full history of every field. Writes (review actions, conflict
// resolutions) go through SyncLedger, so they sync like any other change.
//
// Thread safety: as the Store (not thread-safe); the server serialises calls.
#ifndef TIANYE_REVIEW_H_
#define TIANYE_REVIEW_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tianye/form.h"
#include "tianye/status.h"
#include "tianye/store.h"
#include "tianye/sync.h"

namespace tianye {

struct RecordQuery {
  std::string form_id;      // "": every form
  std::string status;       // "": any; finalized, returned, approved, rejected, has_issues, ...
  std::string area;         // "": the whole scope; else a 12-digit code (county, township or village)
  std::string author;       // "": anyone
  bool conflicts_only = false;  // only records with an open conflict
  bool photos_pending = false;  // only records naming a file the server does not have yet
  // Only records whose answers failed the server's check against their form
  // (include/tianye/form_check.h), as of their last check.
  bool problems_only = false;
  // "": no search. Else words to find in the answers or in the labels of the
  // choices they name: Chinese text anywhere, other words from their start,
  // case ignored (full-text index); text without words (only punctuation)
  // as a substring of an answer.
  std::string text;
  int64_t updated_from_ms = 0;  // 0: no lower bound
  int64_t updated_to_ms = 0;    // 0: no upper bound
  std::string sort = "updated";  // updated, created, status, author, form, area
  bool descending = true;
  int page = 1;       // from 1; a page past the end is empty
  int per_page = 50;  // 1..200
};

struct RecordRow {
  std::string record_id;
  std::string form_id;
  std::string form_version;
  AreaCodes area;
  std::string status;
  std::string author;
  bool deleted = false;
  int64_t open_conflicts = 0;
  int64_t photos_pending = 0;  // files its answers name that have not reached the server
  // Problems the server found in its answers at its last check (failed
  // constraints, missing required answers); -1: its form version is not
  // installed on the server. Read with `checked`.
  int64_t form_problems = 0;
  bool checked = false;  // false: changed since that check (waiting for the next)
  int64_t version = 0;  // the record's latest change (send back as seen_version)
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

inline constexpr int64_t kUncheckedCap = 1000;

struct RecordList {
  int64_t total = 0;  // matching records, all pages
  // With problems_only: how many records that match the other filters wait
  // for the server's check (they may have problems not counted yet), counted
  // up to kUncheckedCap (which then means "at least that many").
  int64_t unchecked = 0;
  std::vector<RecordRow> rows;
};

// One accepted change of a field, oldest first in a record's history.
struct FieldHistoryEntry {
  int64_t version = 0;
  std::string field;
  std::optional<std::string> value;  // nullopt: removed
  std::string device_id;
  std::string author;
  uint64_t hlc = 0;
  int64_t received_ms = 0;
  std::string kind;  // how it came: "push", "conflict", "resolve", "review", ...
};

struct RecordDetail {
  RecordRow row;
  FieldMap fields;  // the current value of every field
  std::vector<FieldHistoryEntry> history;
};

class ReviewQueries {
 public:
  // `store` is not owned and must outlive this object.
  explicit ReviewQueries(Store* store) : store_(store) {}

  // Errors: kInvalidArgument for an unknown sort key or status word, a
  // malformed area code, a page below 1 or per_page outside 1..200 (the
  // message names which). Records outside `who`'s scope are never counted.
  Result<RecordList> List(const Principal& who, const RecordQuery& query);

  // Calls `each` for every record `query` selects (its page and per_page
  // ignored), in its order, reading them as one statement: for exports,
  // which paging with OFFSET would make quadratic. Stops at the first error
  // `each` returns. `each` may read the store but must not write to it.
  Status ForEach(const Principal& who, const RecordQuery& query,
                 const std::function<Status(const RecordRow&)>& each);

  // Errors: kNotFound for a record that does not exist or lies outside
  // `who`'s scope (the two are not told apart).
  Result<RecordDetail> Get(const Principal& who, std::string_view record_id);

  // Fills the search index when the store was upgraded from a version
  // without it (once; the server does it at start). How many records it
  // indexed (0: nothing to do).
  Result<int64_t> BuildSearchIndexIfStale();
  // Likewise the dashboard's figures of each record (a PostgreSQL database
  // from before the dashboard ran there).
  Result<int64_t> BuildDashboardFactsIfStale();

  // How many records (deleted ones included) each form version has, keyed
  // "form_id\nversion", over the whole store (for admins).
  Result<std::map<std::string, int64_t>> CountByFormVersion();

 private:
  Store* store_;
};

// The form question a field key answers: "hh_head_name", or the last part of
// "problems[id]/prob_desc". nullptr for record-level ('@') and unknown fields.
const Question* QuestionOfField(const FormDef& form, std::string_view field);

// "Keep both" for a conflict on `question`: one value that holds every
// candidate's value, where the question allows it. A select_multiple gives
// the union of the candidates' choices (in the order they were first chosen,
// oldest candidate first); a text question gives the distinct values, one
// per line, when its constraint (if any) reads only the text itself and
// passes on the joined text. Removed values add nothing. Errors:
// kInvalidArgument ("keep_both_not_allowed: ...") otherwise.
Result<std::string> KeepBothValue(const Question& question, std::vector<Candidate> candidates);

}  // namespace tianye

#endif  // TIANYE_REVIEW_H_
