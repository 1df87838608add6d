// Sync: field-level ops between devices and the server, and the merge.
//
// The unit of sync is one field of one record. A record is flattened into
// field keys (see RecordFields): answers by their question name, repeat
// instances by their own id ("problems[<id>]" is "1" while the instance
// exists, "problems[<id>]/cost" holds its answers; instances list in id
// order, and their ids are time-ordered), and record-level facts as "@" fields
// ("@status", "@deleted", "@comment", ...).
//
// Devices capture every local change into an outbox in the same transaction
// as the edit (RecordStore does it; nothing to call). SyncReplica turns the
// outbox into push batches and applies the server's answers and pull pages.
// SyncLedger is the server side: it decides, per op, whether it fast-forwards
// or conflicts (by server versions, never by clocks), keeps every competing
// value in a conflict row and hands out changes after a cursor. The merge
// rules themselves are pure functions (DecideMerge, PickWinner) shared by both.
//
// Thread safety: SyncReplica and SyncLedger are as thread-safe as their Store
// (not); the server serialises ledger calls.
#ifndef TIANYE_SYNC_H_
#define TIANYE_SYNC_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tianye/form_store.h"
#include "tianye/record.h"
#include "tianye/status.h"
#include "tianye/store.h"

namespace tianye {

// The wire protocol version this build speaks (requests carry it).
inline constexpr int kSyncProtocol = 1;

// ------------------------------------------------------------------ fields

// Field key -> value. A key that is absent has no value (never set, or removed).
using FieldMap = std::map<std::string, std::string>;

// The record as fields. Local-only state (resume position, timestamps) is not
// part of it, and the device-side status "synced" reads as "finalized".
FieldMap RecordFields(const Record& record);

// Rebuilds a record's form, status, area, comment, deletion and values from
// `fields`, leaving its id and local-only state alone.
void ApplyFields(const FieldMap& fields, Record* record);

// --------------------------------------------------------------------- HLC

// Hybrid logical clock: 48 bits of milliseconds, 16 bits of counter.
struct Hlc {
  static uint64_t Pack(int64_t millis, uint32_t counter) {
    return (static_cast<uint64_t>(millis) << 16) | (counter & 0xffffu);
  }
  static int64_t Millis(uint64_t hlc) { return static_cast<int64_t>(hlc >> 16); }
};

// How far ahead of the server's clock an op's HLC may be before the server
// ranks it as if stamped on arrival and flags it.
inline constexpr int64_t kMaxClockAheadMs = 5 * 60 * 1000;

// ------------------------------------------------------------------- merge

// One value competing in a conflict.
struct Candidate {
  std::optional<std::string> value;  // nullopt: the field removed
  std::string device_id;
  std::string author;
  uint64_t hlc = 0;        // as ranked (clamped when the device clock was ahead)
  bool clock_ahead = false;  // the device's HLC was beyond server time + kMaxClockAheadMs
  int64_t received_ms = 0;
  friend bool operator==(const Candidate&, const Candidate&) = default;
};

// The provisional winner: the highest (hlc, device_id). Deterministic, so the
// same set of candidates gives the same winner whatever the arrival order.
// `candidates` must not be empty.
size_t PickWinner(const std::vector<Candidate>& candidates);

// A change the server accepted on a field (from its history).
struct FieldChangeRef {
  int64_t version = 0;
  std::optional<std::string> value;
  std::string device_id;
};

enum class MergeKind {
  kFastForward,  // the op saw the current value (or only its own later edits came between): apply
  kConvergent,   // someone else already set the same value: nothing to change
  kConflict,     // a concurrent different value: keep both, pick a provisional winner
};

// The rule, for one op on one field. `since_base` are the changes with a
// version greater than the op's base, oldest first (empty: the op saw the
// current value); `current` is the field's value now. A value that came back
// to what the op saw is still a conflict when someone else wrote it: more
// review, never a silent loss.
MergeKind DecideMerge(const std::optional<std::string>& op_value, const std::string& op_device,
                      const std::vector<FieldChangeRef>& since_base,
                      const std::optional<std::string>& current);

// ------------------------------------------------------------- wire types

struct FieldOp {
  int64_t push_seq = 0;
  int64_t txn_id = 0;
  std::string record_id;
  std::string field;
  std::optional<std::string> value;  // nullopt: remove the field
  int64_t base_version = 0;          // the field's server version the device last saw (0: none);
                                     // for "@deleted", the record's newest version it saw
  uint64_t hlc = 0;
  std::string form_id;
  std::string form_version;
};

struct PushBatch {
  int protocol = kSyncProtocol;
  std::string device_id;
  std::vector<FieldOp> ops;  // ascending, contiguous push_seq
  // The device holds the server's answers to all its ops up to this
  // push_seq, so the server need not keep them for a re-push (0: not said,
  // as by devices from before it was sent; the server then keeps them).
  int64_t answers_stored_through = 0;
};

struct OpOutcome {
  int64_t push_seq = 0;
  // "applied", "convergent", "conflict", or "refused": the op was not
  // stored, `error` says why (a record outside the user's areas).
  std::string outcome;
  int64_t version = 0;  // the field's server version after the op (0 when refused)
  std::string conflict_id;
  std::string error;  // "out_of_scope: ..." for a refused op
};

struct PushResult {
  int64_t acked_through = 0;  // every op up to this push_seq is stored on the server
  std::vector<OpOutcome> outcomes;
};

// A field's state as pull hands it out.
struct FieldChange {
  std::string record_id;
  std::string field;
  std::optional<std::string> value;
  int64_t version = 0;
  std::string device_id;
  std::string author;
  uint64_t hlc = 0;
};

struct Conflict {
  std::string id;
  std::string record_id;
  std::string field;
  std::string state;  // "open" or "resolved"
  std::optional<std::string> base_value;
  std::vector<Candidate> candidates;
  std::string resolution_json = "{}";  // who resolved, when, what was chosen
  int64_t version = 0;
  int64_t created_ms = 0;
};

struct PullPage {
  std::vector<FieldChange> changes;  // ascending version
  std::vector<Conflict> conflicts;   // changed conflicts in this page's version range
  std::string cursor;                // opaque: pass it to the next pull
  bool has_more = false;
  int64_t acked_through = 0;  // this device's last push_seq the server holds
};

// JSON encoding of the wire types (docs/protocol.md). Decoders are strict and
// meant for outside input: kInvalidArgument naming what is wrong, and
// kFailedPrecondition ("unsupported_protocol") for an unknown protocol.
std::string EncodePushBatch(const PushBatch& batch);
Result<PushBatch> DecodePushBatch(std::string_view json);
std::string EncodePushResult(const PushResult& result);
Result<PushResult> DecodePushResult(std::string_view json);
std::string EncodePullPage(const PullPage& page);
Result<PullPage> DecodePullPage(std::string_view json);

// Limits on what one push may carry.
inline constexpr size_t kMaxOpsPerBatch = 5000;
inline constexpr size_t kMaxValueBytes = 64 * 1024;

// ------------------------------------------------------------------ device

// This store's device id (a UUIDv7 made on first use and kept in settings).
Result<std::string> DeviceId(Store& store);

class SyncReplica {
 public:
  // `store` is not owned and must outlive this object.
  explicit SyncReplica(Store* store) : store_(store) {}

  // The next batch to push: first the ops already sent but not acknowledged
  // (same push_seq, same content), else up to `max_ops` new ones of records
  // that are no longer drafts; whole local saves only, either way (a batch
  // holds more than `max_ops` only when one save does). nullopt: nothing to push.
  Result<std::optional<PushBatch>> NextBatch(size_t max_ops = 500);

  // The batch to send after `in_flight`, whose answer has not come yet:
  // ops numbered after it (the rest of what a cut sync had numbered), else
  // new ones numbered after it. Lets a device make its next batch while the
  // server merges the one before. If the sync is cut, both count as sent
  // and the next sync's NextBatch sends them again, in order.
  Result<std::optional<PushBatch>> NextBatchAfter(const PushBatch& in_flight, size_t max_ops = 500);

  // Stores the server's answer: acknowledged ops leave the outbox, their
  // fields' versions are remembered, acknowledged finalized records read
  // "synced"; refused ops stay in the outbox, to be numbered and sent again
  // by a later NextBatch. One transaction.
  Status ApplyPushResult(const PushBatch& batch, const PushResult& result);

  // The cursor to pull from ("" at first).
  Result<std::string> PullCursor();

  // Applies one page and stores its cursor in the same transaction. A field
  // with a local edit not yet acknowledged keeps the local value (the edit is
  // pushed and merged on the server); its known server version still moves.
  Status ApplyPullPage(const PullPage& page);

  // Ops waiting in the outbox (sent or not), drafts' included.
  Result<int64_t> PendingOps();
  // Ops the next sync would send: those of records that are not drafts.
  Result<int64_t> ReadyOps();

  // Photos (and other files) of records that are not drafts which the server
  // has not confirmed yet, oldest record first: (sha256, size, mime).
  struct Blob {
    std::string sha256;
    int64_t size = 0;
    std::string mime;
  };
  Result<std::vector<Blob>> BlobsToUpload();
  // The server holds the file whole: it is not offered again.
  Status MarkUploaded(std::string_view sha256);

  // Files that records pulled from the server name (in answers as the
  // server holds them) and this store does not have: other devices' photos,
  // oldest record first.
  struct WantedFile {
    std::string record_id;
    std::string field;
    std::string sha256;
  };
  Result<std::vector<WantedFile>> FilesToDownload();

  // After the server was restored from an older backup (it holds this
  // device's ops only up to `server_acked_through`): forgets the pull cursor
  // and every remembered server version, and queues every record again in
  // full, so the next push gives the server back what it lost (what it still
  // has is convergent, real differences become conflicts).
  Status ResetAfterServerRestore(int64_t server_acked_through);

  // Whether the server, which says it holds this device's ops up to
  // `server_acked_through` (a pull page's acked_through), lost ops it had
  // acknowledged: it was restored from an older backup, and the device must
  // call ResetAfterServerRestore and push again. A device that only pulls
  // learns of a restore from its cursor instead (must_refetch).
  Result<bool> ServerLostAcknowledged(int64_t server_acked_through);

 private:
  // Ops numbered after `push_seq`, else new ones numbered now.
  Result<std::optional<PushBatch>> BatchAfter(int64_t push_seq, size_t max_ops);
  // Numbers up to `max_ops` new ops after the last push_seq handed out.
  Result<std::optional<PushBatch>> NumberNewBatch(size_t max_ops);
  Store* store_;
};

// ------------------------------------------------------------------ server

// Who is asking, as the server derived it from a token (never from the request).
struct Principal {
  std::string username;
  std::string role;  // inspector, surveyor, supervisor, admin
  std::string device_id;
  std::vector<std::string> scope;  // area codes (county, township or village); "*" = everywhere
};

// Supervisors and admins review (approve, return, resolve conflicts, read the
// review pages); inspectors and surveyors do not.
bool IsReviewer(const Principal& who);

// Whether a record in `area` lies in `scope` (a code covers every area whose
// code starts with it, after trailing zero groups are removed).
bool InScope(const std::vector<std::string>& scope, const AreaCodes& area);

class SyncLedger {
 public:
  // `store` is not owned and must outlive this object.
  explicit SyncLedger(Store* store) : store_(store), forms_(store) {}

  // Applies a batch atomically. Ops at or below the device's last applied
  // push_seq are answered from the stored outcomes; a gap is refused
  // (kConflict "push_seq gap"); an op on a record outside the principal's
  // scope refuses the whole batch (kPermissionDenied); nothing is stored then.
  Result<PushResult> Push(const Principal& who, const PushBatch& batch);

  // Changes after `cursor` in the principal's scope, at most `limit` fields.
  // Errors: kInvalidArgument for a cursor this server never gave out,
  // kFailedPrecondition ("must_refetch") for a cursor from a newer state than
  // the server has (it was restored from an older backup).
  Result<PullPage> Pull(const Principal& who, std::string_view cursor, int limit);

  // A reviewer's decision on an open conflict: `value` becomes the field's
  // value (one more change, synced like any other) and the conflict is
  // closed. `seen_version` is the conflict version the reviewer looked at:
  // kConflict ("already resolved" / "changed since") when it moved on.
  // `how` is kept with the decision: "take" (one candidate's value),
  // "merged" (a value the reviewer entered) or "keep_both"; empty: "take"
  // when `value` is a candidate's, else "merged".
  Result<Conflict> Resolve(const Principal& who, std::string_view conflict_id,
                           const std::optional<std::string>& value, int64_t seen_version,
                           std::string_view note, std::string_view how = "");
  // One conflict in `who`'s scope. kNotFound otherwise.
  Result<Conflict> GetConflict(const Principal& who, std::string_view conflict_id);

  // Sets a record-level field as a reviewer (status, comment), as one change
  // with the reviewer's name. kConflict when the record moved past
  // `seen_version` (0: do not check).
  Status SetRecordField(const Principal& who, std::string_view record_id, std::string_view field,
                        const std::optional<std::string>& value, int64_t seen_version);

  // Every conflict ("" : of all records), or those of records in `who`'s scope.
  Result<std::vector<Conflict>> Conflicts(std::string_view record_id);
  Result<std::vector<Conflict>> Conflicts(const Principal& who, std::string_view record_id);
  // The device's last push_seq the server holds (0: none).
  Result<int64_t> AckedThrough(std::string_view device_id);
  // The record as the server holds it now. kNotFound.
  Result<FieldMap> Fields(std::string_view record_id);

 private:
  Store* store_;
  FormStore forms_;  // for the search index's choice labels; parses each version once
};

}  // namespace tianye

#endif  // TIANYE_SYNC_H_
