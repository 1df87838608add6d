// Records: one filled-in (or partly filled-in) survey form.
//
// A record has a UUIDv7 id made on the device, the form id and version it was
// filled against, the administrative area it belongs to, its author, a review
// status and its answers as a JSON object. Deletion is soft: a deleted record
// keeps its data and can be restored.
//
// Thread safety: a RecordStore is as thread-safe as the Store it uses (not).
#ifndef TIANYE_RECORD_H_
#define TIANYE_RECORD_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tianye/status.h"
#include "tianye/store.h"

namespace tianye {

enum class RecordStatus {
  kDraft,      // being filled in on the device
  kFinalized,  // complete on the device, waiting to sync
  kSynced,     // on the server, waiting for review
  kApproved,   // accepted by a supervisor
  kReturned,   // sent back to the inspector with a comment, to be fixed
  kRejected,   // refused by a supervisor
};

// Stable lower-case names used in the store, the API and the CLI:
// "draft", "finalized", "synced", "approved", "returned", "rejected".
std::string_view RecordStatusName(RecordStatus status);
Result<RecordStatus> ParseRecordStatus(std::string_view name);

// 12-digit statistical division codes (see forms/README.md). Empty = unknown.
struct AreaCodes {
  std::string county;
  std::string township;
  std::string village;
  friend bool operator==(const AreaCodes&, const AreaCodes&) = default;
};

struct Record {
  std::string id;  // UUIDv7, lower-case canonical text
  std::string form_id;
  std::string form_version;
  AreaCodes area;
  std::string author;
  RecordStatus status = RecordStatus::kDraft;
  std::string values_json = "{}";  // a JSON object of answers
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  std::optional<int64_t> deleted_ms;  // set when soft-deleted
  std::string resume_path;     // the question the inspector was last on (UI state)
  std::string review_comment;  // a supervisor's comment when returned or rejected
};

struct NewRecord {
  std::string id;  // empty: a new UUIDv7 is made
  std::string form_id;
  std::string form_version;
  AreaCodes area;
  std::string author;
  RecordStatus status = RecordStatus::kDraft;
  std::string values_json = "{}";
};

struct RecordFilter {
  std::string form_id;                 // empty: any form
  std::optional<RecordStatus> status;  // unset: any status
  enum class Deleted { kExclude, kInclude, kOnly };
  Deleted deleted = Deleted::kExclude;
  int limit = 0;  // 0: no limit. Results are ordered by id (= creation time).
  std::string after_id;  // for paging: only ids greater than this
};

class RecordStore {
 public:
  // `store` is not owned and must outlive this object.
  explicit RecordStore(Store* store) : store_(store) {}

  // Creates a record. Errors: kInvalidArgument (empty form id, values not a
  // JSON object, malformed id), kAlreadyExists (the id is taken).
  Result<Record> Create(const NewRecord& record);

  // Errors: kNotFound.
  Result<Record> Get(std::string_view id);

  // Writes form version, area, author, status and values of the record with
  // `record.id`, and sets updated_ms. Errors: kNotFound, kInvalidArgument.
  Result<Record> Update(const Record& record);

  Result<std::vector<Record>> List(const RecordFilter& filter);
  Result<int64_t> Count(const RecordFilter& filter);

  // Soft delete and its undo. Errors: kNotFound.
  Status Delete(std::string_view id);
  Status Restore(std::string_view id);

 private:
  Store* store_;
};

}  // namespace tianye

#endif  // TIANYE_RECORD_H_
