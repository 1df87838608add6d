// The device side of sync: change capture into the outbox, push batches,
// applying the server's answers and pull pages.
#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "sqlite.h"
#include "store_impl.h"
#include "sync_internal.h"
#include "tianye/attachment.h"
#include "tianye/sync.h"
#include "tianye/uuid.h"

namespace tianye {
namespace internal {

CaptureSuspended::CaptureSuspended(Store& store) : store_(store) {
  ++StoreAccess::ImplOf(store_).capture_suspended;
}
CaptureSuspended::~CaptureSuspended() { --StoreAccess::ImplOf(store_).capture_suspended; }

namespace {

constexpr char kDeviceIdKey[] = "device.id";
constexpr char kHlcKey[] = "sync.hlc";
constexpr char kLastPushSeqKey[] = "sync.last_push_seq";
constexpr char kCursorKey[] = "sync.cursor";

Result<int64_t> SettingInt(Store& store, const char* key) {
  TIANYE_ASSIGN_OR_RETURN(std::optional<std::string> v, store.GetSetting(key));
  if (!v || v->empty()) return int64_t{0};
  try {
    return static_cast<int64_t>(std::stoull(*v));
  } catch (const std::exception&) {
    return Status::Corruption(std::string("setting ") + key + " is not a number: " + *v);
  }
}

// The next HLC of this device: never behind the last one, never behind the clock.
Result<uint64_t> TickHlc(Store& store) {
  TIANYE_ASSIGN_OR_RETURN(int64_t last_raw, SettingInt(store, kHlcKey));
  uint64_t last = static_cast<uint64_t>(last_raw);
  int64_t now = StoreAccess::ClockOf(store).NowMillis();
  uint64_t next;
  if (now > Hlc::Millis(last)) {
    next = Hlc::Pack(now, 0);
  } else if ((last & 0xffffu) < 0xffffu) {
    next = last + 1;
  } else {
    next = Hlc::Pack(Hlc::Millis(last) + 1, 0);
  }
  TIANYE_RETURN_IF_ERROR(store.PutSetting(kHlcKey, std::to_string(next)));
  return next;
}

// Moves this device's HLC past one seen from elsewhere, unless that one is
// from a clock too far ahead to trust.
Status ObserveHlc(Store& store, uint64_t seen) {
  TIANYE_ASSIGN_OR_RETURN(int64_t last, SettingInt(store, kHlcKey));
  int64_t now = StoreAccess::ClockOf(store).NowMillis();
  if (seen <= static_cast<uint64_t>(last) || Hlc::Millis(seen) > now + kMaxClockAheadMs) return Status::Ok();
  return store.PutSetting(kHlcKey, std::to_string(seen));
}


// Remembers that the server has `field` at `version`, with `value` when it
// is known. An older version never replaces a newer one: false when the
// device knew a newer one already (or this one, known, and this unknown).
Result<bool> RememberVersion(Connection& conn, const std::string& record_id, const std::string& field,
                             int64_t version, bool known, const std::optional<std::string>& value) {
  TIANYE_ASSIGN_OR_RETURN(
      Stmt stmt, conn.Prepare("INSERT INTO field_meta (record_id, field, version, known, value) "
                              "VALUES (?, ?, ?, ?, ?) ON CONFLICT (record_id, field) DO UPDATE SET "
                              "version = excluded.version, known = excluded.known, value = excluded.value "
                              "WHERE excluded.version > field_meta.version OR "
                              "(excluded.version = field_meta.version AND excluded.known)"));
  stmt.Bind(1, record_id).Bind(2, field).Bind(3, version).Bind(4, static_cast<int64_t>(known));
  BindOptional(stmt, 5, value);
  TIANYE_RETURN_IF_ERROR(stmt.Run());
  return conn.Changes() > 0;
}

Result<bool> HasPendingOp(Connection& conn, const std::string& record_id, const std::string* field) {
  if (field == nullptr) {
    TIANYE_ASSIGN_OR_RETURN(Stmt stmt, conn.Prepare("SELECT 1 FROM outbox WHERE record_id = ? LIMIT 1"));
    stmt.Bind(1, record_id);
    return stmt.Step();
  }
  TIANYE_ASSIGN_OR_RETURN(Stmt stmt, conn.Prepare("SELECT 1 FROM outbox WHERE record_id = ? AND field = ? LIMIT 1"));
  stmt.Bind(1, record_id).Bind(2, *field);
  return stmt.Step();
}

// For each field, when no local edit of it is waiting any more and the
// server's known value differs from the record's, writes the server's value.
Status CatchUp(Store& store, const std::vector<std::pair<std::string, std::string>>& fields) {
  Connection& conn = StoreAccess::Conn(store);
  CaptureSuspended quiet(store);
  RecordStore records(&store);
  std::map<std::string, std::vector<std::string>> by_record;
  for (const auto& [record_id, field] : fields) by_record[record_id].push_back(field);
  for (const auto& [record_id, names] : by_record) {
    Result<Record> r = records.Get(record_id);
    if (!r) continue;
    FieldMap current = RecordFields(*r);
    bool changed = false;
    for (const std::string& field : names) {
      TIANYE_ASSIGN_OR_RETURN(bool pending, HasPendingOp(conn, record_id, &field));
      if (pending) continue;
      TIANYE_ASSIGN_OR_RETURN(Stmt meta, conn.Prepare("SELECT known, value FROM field_meta "
                                                      "WHERE record_id = ? AND field = ?"));
      meta.Bind(1, record_id).Bind(2, field);
      TIANYE_ASSIGN_OR_RETURN(bool row, meta.Step());
      if (!row || meta.Int(0) == 0) continue;
      std::optional<std::string> server = OptionalText(meta, 1);
      auto it = current.find(field);
      std::optional<std::string> local = it == current.end() ? std::nullopt : std::optional(it->second);
      if (local == server) continue;
      if (server) {
        current[field] = *server;
      } else {
        current.erase(field);
      }
      changed = true;
    }
    if (!changed) continue;
    bool was_deleted = r->deleted_ms.has_value();
    ApplyFields(current, &*r);
    TIANYE_RETURN_IF_ERROR(records.Update(*r).error());
    if (r->deleted_ms.has_value() != was_deleted) {
      TIANYE_RETURN_IF_ERROR(r->deleted_ms ? records.Delete(record_id) : records.Restore(record_id));
    }
  }
  return Status::Ok();
}

}  // namespace

Status CaptureRecordChange(Store& store, const std::optional<Record>& before, const Record& after) {
  if (StoreAccess::ImplOf(store).capture_suspended > 0) return Status::Ok();
  FieldMap old_fields = before ? RecordFields(*before) : FieldMap{};
  FieldMap new_fields = RecordFields(after);
  std::vector<std::pair<std::string, std::optional<std::string>>> diffs;
  auto a = old_fields.begin();
  auto b = new_fields.begin();
  while (a != old_fields.end() || b != new_fields.end()) {
    if (b == new_fields.end() || (a != old_fields.end() && a->first < b->first)) {
      diffs.emplace_back(a->first, std::nullopt);  // removed
      ++a;
    } else if (a == old_fields.end() || b->first < a->first) {
      diffs.emplace_back(b->first, b->second);  // added
      ++b;
    } else {
      if (a->second != b->second) diffs.emplace_back(b->first, b->second);
      ++a;
      ++b;
    }
  }
  if (diffs.empty()) return Status::Ok();

  Connection& conn = StoreAccess::Conn(store);
  // Each save has its own HLC (strictly increasing on this device): it names
  // the save's group of ops too.
  TIANYE_ASSIGN_OR_RETURN(uint64_t hlc, TickHlc(store));
  const int64_t txn_id = static_cast<int64_t>(hlc);
  int64_t now = StoreAccess::ClockOf(store).NowMillis();
  for (const auto& [field, value] : diffs) {
    // Several edits before a push: the last value, the oldest base. ("+"
    // keeps SQLite on the (record_id, field) index: every unsent row has a
    // NULL push_seq.)
    TIANYE_ASSIGN_OR_RETURN(Stmt coalesce,
                            conn.Prepare("UPDATE outbox SET value = ?, hlc = ?, form_version = ? "
                                         "WHERE record_id = ? AND field = ? AND +push_seq IS NULL"));
    BindOptional(coalesce, 1, value);
    coalesce.Bind(2, static_cast<int64_t>(hlc)).Bind(3, after.form_version).Bind(4, after.id).Bind(5, field);
    TIANYE_RETURN_IF_ERROR(coalesce.Run());
    if (conn.Changes() > 0) continue;

    // A delete or restore concerns the whole record: its base is the newest
    // version of the record this device has seen, so that the server can
    // tell a delete from a delete of something edited meanwhile.
    TIANYE_ASSIGN_OR_RETURN(
        Stmt base, field == "@deleted"
                       ? conn.Prepare("SELECT coalesce(max(version), 0) FROM field_meta WHERE record_id = ?")
                       : conn.Prepare("SELECT coalesce(max(version), 0) FROM field_meta WHERE record_id = ? AND "
                                      "field = ?"));
    base.Bind(1, after.id);
    if (field != "@deleted") base.Bind(2, field);
    TIANYE_ASSIGN_OR_RETURN(bool known, base.Step());
    int64_t base_version = known ? base.Int(0) : 0;

    TIANYE_ASSIGN_OR_RETURN(
        Stmt insert, conn.Prepare("INSERT INTO outbox (txn_id, record_id, field, value, base_version, hlc, "
                                  "form_id, form_version, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    insert.Bind(1, txn_id).Bind(2, after.id).Bind(3, field);
    BindOptional(insert, 4, value);
    insert.Bind(5, base_version).Bind(6, static_cast<int64_t>(hlc)).Bind(7, after.form_id);
    insert.Bind(8, after.form_version).Bind(9, now);
    TIANYE_RETURN_IF_ERROR(insert.Run());
  }
  return Status::Ok();
}

}  // namespace internal

using internal::Connection;
using internal::Stmt;
using internal::StoreAccess;

Result<std::string> DeviceId(Store& store) {
  TIANYE_ASSIGN_OR_RETURN(std::optional<std::string> id, store.GetSetting(internal::kDeviceIdKey));
  if (id && !id->empty()) return *id;
  std::string made = NewUuidV7(StoreAccess::ClockOf(store));
  TIANYE_RETURN_IF_ERROR(store.PutSetting(internal::kDeviceIdKey, made));
  return made;
}

namespace {

FieldOp ReadOp(const Stmt& s) {
  FieldOp op;
  op.push_seq = s.IsNull(0) ? 0 : s.Int(0);
  op.txn_id = s.Int(1);
  op.record_id = s.Text(2);
  op.field = s.Text(3);
  op.value = internal::OptionalText(s, 4);
  op.base_version = s.Int(5);
  op.hlc = static_cast<uint64_t>(s.Int(6));
  op.form_id = s.Text(7);
  op.form_version = s.Text(8);
  return op;
}

constexpr char kOpColumns[] =
    "push_seq, txn_id, record_id, field, value, base_version, hlc, form_id, form_version, op_seq";

}  // namespace

namespace {

// Queues every record (deleted ones too) in full, as if new. Records that
// already have unsent rows only coalesce the same values; drafts wait as ever.
Status QueueAllRecords(Store& store) {
  RecordStore records(&store);
  RecordFilter all;
  all.deleted = RecordFilter::Deleted::kInclude;
  TIANYE_ASSIGN_OR_RETURN(std::vector<Record> list, records.List(all));
  for (const Record& r : list) TIANYE_RETURN_IF_ERROR(internal::CaptureRecordChange(store, std::nullopt, r));
  return Status::Ok();
}

// Records written before this store captured changes (a store made by an
// older Tianye) are queued in full by the first sync, once. A record made
// since has the rows of its creation (its "@form" among them) until the
// server acknowledges them, and nothing was acknowledged yet: a record
// without a "@form" row is one of the older ones, even if edited since
// (the edit's rows hold only the changed fields). A fresh device's first
// sync thus reads no record again.
Status CaptureExistingOnce(Store& store) {
  constexpr char kKey[] = "sync.captured";
  TIANYE_ASSIGN_OR_RETURN(std::optional<std::string> done, store.GetSetting(kKey));
  if (done) return Status::Ok();
  TIANYE_ASSIGN_OR_RETURN(Transaction tx, store.Begin());
  Connection& conn = StoreAccess::Conn(store);
  TIANYE_ASSIGN_OR_RETURN(int64_t known, conn.QueryInt("SELECT count(*) FROM field_meta"));
  if (known == 0) {
    std::vector<std::string> older;
    {
      TIANYE_ASSIGN_OR_RETURN(Stmt s, conn.Prepare("SELECT id FROM records WHERE id NOT IN "
                                                   "(SELECT record_id FROM outbox WHERE field = '@form')"));
      while (true) {
        TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        older.push_back(s.Text(0));
      }
    }
    RecordStore records(&store);
    for (const std::string& id : older) {
      TIANYE_ASSIGN_OR_RETURN(Record r, records.Get(id));
      TIANYE_RETURN_IF_ERROR(internal::CaptureRecordChange(store, std::nullopt, r));
    }
  }
  TIANYE_RETURN_IF_ERROR(store.PutSetting(kKey, "1"));
  return tx.Commit();
}

// Reads ops off `s` (kOpColumns, in order) into `batch` until it holds
// `max_ops` and the next op starts another local save: whole saves only, so
// a save is merged on the server all at once. With `numbered`, the ops
// already carry their push_seq and the batch stops before a gap (a later
// batch whose answer was stored while an earlier one's was lost).
Status ReadWholeSaves(Stmt& s, size_t max_ops, bool numbered, PushBatch* batch, std::vector<int64_t>* op_seqs) {
  while (true) {
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return Status::Ok();
    FieldOp op = ReadOp(s);
    if (batch->ops.empty()) {
      // the first op starts the batch
    } else if (numbered && op.push_seq != batch->ops.back().push_seq + 1) {
      return Status::Ok();
    } else if (batch->ops.size() >= max_ops && op.txn_id != batch->ops.back().txn_id) {
      return Status::Ok();
    }
    op_seqs->push_back(s.Int(9));
    batch->ops.push_back(std::move(op));
  }
}

size_t ClampBatch(size_t max_ops) { return std::clamp<size_t>(max_ops, 1, kMaxOpsPerBatch); }

// The push_seq up to which this device holds the server's answers: every
// number handed out, less those still waiting for an answer.
Result<int64_t> AnswersStoredThrough(Store& store) {
  TIANYE_ASSIGN_OR_RETURN(int64_t last, internal::SettingInt(store, internal::kLastPushSeqKey));
  TIANYE_ASSIGN_OR_RETURN(Stmt s, StoreAccess::Conn(store).Prepare(
                                      "SELECT MIN(push_seq) FROM outbox WHERE push_seq IS NOT NULL"));
  TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
  return row && !s.IsNull(0) ? s.Int(0) - 1 : last;
}

}  // namespace

Result<std::optional<PushBatch>> SyncReplica::NextBatch(size_t max_ops) {
  TIANYE_RETURN_IF_ERROR(CaptureExistingOnce(*store_));
  return BatchAfter(std::numeric_limits<int64_t>::min(), ClampBatch(max_ops));
}

Result<std::optional<PushBatch>> SyncReplica::NextBatchAfter(const PushBatch& in_flight, size_t max_ops) {
  if (in_flight.ops.empty()) return NextBatch(max_ops);
  return BatchAfter(in_flight.ops.back().push_seq, ClampBatch(max_ops));
}

Result<std::optional<PushBatch>> SyncReplica::BatchAfter(int64_t push_seq, size_t max_ops) {
  // Numbered after `push_seq` and not acknowledged: the same ops again, so
  // the server can answer from what it stored if they did arrive. A sync
  // cut while one batch was in flight and the next numbered leaves both
  // here; they go again in order, a batch at a time.
  TIANYE_ASSIGN_OR_RETURN(std::string device, DeviceId(*store_));
  PushBatch batch;
  batch.device_id = device;
  std::vector<int64_t> op_seqs;
  TIANYE_ASSIGN_OR_RETURN(Stmt sent, StoreAccess::Conn(*store_).Prepare(std::string("SELECT ") + kOpColumns +
                                                                        " FROM outbox WHERE push_seq > ? ORDER BY push_seq"));
  sent.Bind(1, push_seq);
  TIANYE_RETURN_IF_ERROR(ReadWholeSaves(sent, max_ops, true, &batch, &op_seqs));
  std::optional<PushBatch> next;
  if (!batch.ops.empty()) {
    next = std::move(batch);
  } else {
    TIANYE_ASSIGN_OR_RETURN(next, NumberNewBatch(max_ops));
  }
  // Tells the server which answers it may forget. Taken now, with `next`
  // (and any batch in flight) numbered and unanswered, so it stays true
  // however the answers to come fare.
  if (next) {
    TIANYE_ASSIGN_OR_RETURN(next->answers_stored_through, AnswersStoredThrough(*store_));
  }
  return next;
}

Result<std::optional<PushBatch>> SyncReplica::NumberNewBatch(size_t max_ops) {
  TIANYE_ASSIGN_OR_RETURN(std::string device, DeviceId(*store_));
  Connection& conn = StoreAccess::Conn(*store_);
  PushBatch batch;
  batch.device_id = device;
  std::vector<int64_t> op_seqs;
  TIANYE_ASSIGN_OR_RETURN(Transaction tx, store_->Begin());
  {
    TIANYE_ASSIGN_OR_RETURN(
        Stmt unsent, conn.Prepare("SELECT o.push_seq, o.txn_id, o.record_id, o.field, o.value, o.base_version, "
                                  "o.hlc, o.form_id, o.form_version, o.op_seq FROM outbox o "
                                  "JOIN records r ON r.id = o.record_id "
                                  "WHERE +o.push_seq IS NULL AND r.status <> 'draft' ORDER BY o.op_seq"));
    TIANYE_RETURN_IF_ERROR(ReadWholeSaves(unsent, max_ops, false, &batch, &op_seqs));
  }
  if (batch.ops.empty()) return std::optional<PushBatch>();
  TIANYE_ASSIGN_OR_RETURN(int64_t last, internal::SettingInt(*store_, internal::kLastPushSeqKey));
  for (size_t i = 0; i < batch.ops.size(); ++i) batch.ops[i].push_seq = last + 1 + static_cast<int64_t>(i);
  // The ops take the next push_seqs in op_seq order. They are nearly always
  // every op between the first and the last (a draft's ops, which wait, can
  // fall between): then one statement numbers them all.
  if (op_seqs.back() - op_seqs.front() + 1 == static_cast<int64_t>(op_seqs.size())) {
    TIANYE_ASSIGN_OR_RETURN(Stmt assign,
                            conn.Prepare("UPDATE outbox SET push_seq = op_seq + ? WHERE op_seq BETWEEN ? AND ?"));
    assign.Bind(1, last + 1 - op_seqs.front()).Bind(2, op_seqs.front()).Bind(3, op_seqs.back());
    TIANYE_RETURN_IF_ERROR(assign.Run());
  } else {
    for (size_t i = 0; i < batch.ops.size(); ++i) {
      TIANYE_ASSIGN_OR_RETURN(Stmt assign, conn.Prepare("UPDATE outbox SET push_seq = ? WHERE op_seq = ?"));
      assign.Bind(1, batch.ops[i].push_seq).Bind(2, op_seqs[i]);
      TIANYE_RETURN_IF_ERROR(assign.Run());
    }
  }
  TIANYE_RETURN_IF_ERROR(
      store_->PutSetting(internal::kLastPushSeqKey, std::to_string(batch.ops.back().push_seq)));
  TIANYE_RETURN_IF_ERROR(tx.Commit());
  return std::optional<PushBatch>(std::move(batch));
}

Status SyncReplica::ApplyPushResult(const PushBatch& batch, const PushResult& result) {
  Connection& conn = StoreAccess::Conn(*store_);
  TIANYE_ASSIGN_OR_RETURN(Transaction tx, store_->Begin());
  std::map<int64_t, const FieldOp*> by_seq;
  for (const FieldOp& op : batch.ops) by_seq[op.push_seq] = &op;
  std::map<std::string, bool> records;
  std::vector<std::pair<std::string, std::string>> overtaken;  // a pulled version came first
  for (const OpOutcome& o : result.outcomes) {
    if (o.push_seq > result.acked_through) continue;
    auto it = by_seq.find(o.push_seq);
    if (it == by_seq.end()) continue;
    if (o.outcome == "refused") {
      // Not stored on the server (a record outside the user's areas): the
      // op stays in the outbox, numbered again when next sent, so nothing
      // is lost and the next sync tries again (the areas may have changed).
      TIANYE_ASSIGN_OR_RETURN(Stmt keep, conn.Prepare("UPDATE outbox SET push_seq = NULL WHERE push_seq = ?"));
      keep.Bind(1, o.push_seq);
      TIANYE_RETURN_IF_ERROR(keep.Run());
      continue;
    }
    // "applied" and "convergent": the server holds this op's value at that
    // version; "conflict": the winner is only known after a pull.
    bool known = o.outcome == "applied" || o.outcome == "convergent";
    TIANYE_ASSIGN_OR_RETURN(bool stored, internal::RememberVersion(conn, it->second->record_id, it->second->field,
                                                                   o.version, known, it->second->value));
    if (!stored) overtaken.emplace_back(it->second->record_id, it->second->field);
    records[it->second->record_id] = true;
  }
  // This batch's ops only: the server may have acknowledged more (a batch
  // sent again in smaller parts), whose versions come with their own answer.
  TIANYE_ASSIGN_OR_RETURN(Stmt done, conn.Prepare("DELETE FROM outbox WHERE push_seq BETWEEN ? AND ?"));
  done.Bind(1, batch.ops.empty() ? 0 : batch.ops.front().push_seq)
      .Bind(2, std::min(result.acked_through, batch.ops.empty() ? 0 : batch.ops.back().push_seq));
  TIANYE_RETURN_IF_ERROR(done.Run());
  // A pulled value that waited behind one of these ops, newer than the op's
  // result, is what the server holds now: show it. (Where the op's own
  // version was stored, the record already shows its value, or a later
  // local edit that is still to be sent.)
  TIANYE_RETURN_IF_ERROR(internal::CatchUp(*store_, overtaken));
  for (const auto& [record_id, unused] : records) {
    TIANYE_ASSIGN_OR_RETURN(bool pending, internal::HasPendingOp(conn, record_id, nullptr));
    if (pending) continue;
    TIANYE_ASSIGN_OR_RETURN(Stmt synced,
                            conn.Prepare("UPDATE records SET status = 'synced' WHERE id = ? AND status = 'finalized'"));
    synced.Bind(1, record_id);
    TIANYE_RETURN_IF_ERROR(synced.Run());
  }
  return tx.Commit();
}

Result<std::string> SyncReplica::PullCursor() {
  TIANYE_ASSIGN_OR_RETURN(std::optional<std::string> c, store_->GetSetting(internal::kCursorKey));
  return c.value_or("");
}

Status SyncReplica::ApplyPullPage(const PullPage& page) {
  Connection& conn = StoreAccess::Conn(*store_);
  TIANYE_ASSIGN_OR_RETURN(Transaction tx, store_->Begin());
  internal::CaptureSuspended quiet(*store_);
  RecordStore records(store_);

  std::vector<std::string> order;
  std::map<std::string, std::vector<const FieldChange*>> by_record;
  for (const FieldChange& c : page.changes) {
    auto [it, added] = by_record.try_emplace(c.record_id);
    if (added) order.push_back(c.record_id);
    it->second.push_back(&c);
  }
  int64_t now = StoreAccess::ClockOf(*store_).NowMillis();
  uint64_t max_hlc = 0;
  for (const std::string& id : order) {
    Result<Record> existing = records.Get(id);
    if (!existing && existing.error().code() != StatusCode::kNotFound) return existing.error();
    Record r;
    FieldMap fields;
    if (existing) {
      r = *existing;
      fields = RecordFields(r);
    } else {
      r.id = id;
      r.created_ms = now;
    }
    // The record's fields with a local edit waiting (one query a record,
    // not one a field: a pulled record has dozens of fields, and nearly
    // always none waiting).
    std::set<std::string, std::less<>> waiting;
    {
      TIANYE_ASSIGN_OR_RETURN(Stmt s, conn.Prepare("SELECT DISTINCT field FROM outbox WHERE record_id = ?"));
      s.Bind(1, id);
      while (true) {
        TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        waiting.insert(s.Text(0));
      }
    }
    for (const FieldChange* c : by_record[id]) {
      TIANYE_RETURN_IF_ERROR(internal::RememberVersion(conn, id, c->field, c->version, true, c->value).error());
      max_hlc = std::max(max_hlc, c->hlc);
      if (waiting.count(c->field) > 0) continue;  // the local edit stays on screen until the server has merged it
      if (c->value) {
        fields[c->field] = *c->value;
      } else {
        fields.erase(c->field);
      }
    }
    r.updated_ms = now;
    bool was_deleted = r.deleted_ms.has_value();
    ApplyFields(fields, &r);
    if (r.form_id.empty()) {
      return Status::InvalidArgument("pull page: record " + id + " arrived without its form");
    }
    if (r.status == RecordStatus::kFinalized && waiting.empty()) r.status = RecordStatus::kSynced;
    if (existing) {
      TIANYE_RETURN_IF_ERROR(records.Update(r).error());
    } else {
      NewRecord nr;
      nr.id = id;
      nr.form_id = r.form_id;
      nr.form_version = r.form_version;
      nr.area = r.area;
      nr.author = r.author;
      nr.status = r.status;
      nr.values_json = r.values_json;
      TIANYE_RETURN_IF_ERROR(records.Create(nr).error());
      if (!r.review_comment.empty()) TIANYE_RETURN_IF_ERROR(records.Update(r).error());
    }
    if (r.deleted_ms.has_value() != was_deleted || (!existing && r.deleted_ms)) {
      TIANYE_RETURN_IF_ERROR(r.deleted_ms ? records.Delete(id) : records.Restore(id));
    }
  }

  for (const Conflict& c : page.conflicts) {
    TIANYE_ASSIGN_OR_RETURN(
        Stmt stmt,
        conn.Prepare("INSERT INTO conflicts (id, record_id, field, state, base_value, candidates, resolution, "
                     "version, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                     "ON CONFLICT (id) DO UPDATE SET state = excluded.state, candidates = excluded.candidates, "
                     "resolution = excluded.resolution, version = excluded.version "
                     "WHERE excluded.version >= conflicts.version"));
    stmt.Bind(1, c.id).Bind(2, c.record_id).Bind(3, c.field).Bind(4, c.state);
    internal::BindOptional(stmt, 5, c.base_value);
    stmt.Bind(6, internal::CandidatesJson(c.candidates)).Bind(7, c.resolution_json);
    stmt.Bind(8, c.version).Bind(9, c.created_ms);
    TIANYE_RETURN_IF_ERROR(stmt.Run());
  }
  TIANYE_RETURN_IF_ERROR(internal::ObserveHlc(*store_, max_hlc));
  TIANYE_RETURN_IF_ERROR(store_->PutSetting(internal::kCursorKey, page.cursor));
  return tx.Commit();
}

Result<int64_t> SyncReplica::PendingOps() {
  return StoreAccess::Conn(*store_).QueryInt("SELECT count(*) FROM outbox");
}

Result<int64_t> SyncReplica::ReadyOps() {
  return StoreAccess::Conn(*store_).QueryInt(
      "SELECT count(*) FROM outbox o JOIN records r ON r.id = o.record_id WHERE r.status <> 'draft'");
}

Result<std::vector<SyncReplica::Blob>> SyncReplica::BlobsToUpload() {
  TIANYE_ASSIGN_OR_RETURN(
      Stmt s, StoreAccess::Conn(*store_).Prepare(
                  "SELECT a.sha256, a.size, a.mime, min(r.id) AS first FROM record_attachments ra "
                  "JOIN records r ON r.id = ra.record_id JOIN attachments a ON a.sha256 = ra.sha256 "
                  "WHERE r.status <> 'draft' AND r.deleted_ms IS NULL "
                  "AND ra.sha256 NOT IN (SELECT sha256 FROM sync_uploaded) GROUP BY a.sha256 ORDER BY first"));
  std::vector<Blob> out;
  while (true) {
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back({s.Text(0), s.Int(1), s.Text(2)});
  }
  return out;
}

Result<std::vector<SyncReplica::WantedFile>> SyncReplica::FilesToDownload() {
  // field_meta holds the server's value of each field this device has seen;
  // a file answer is "<64 hex>.<ext>".
  TIANYE_ASSIGN_OR_RETURN(
      Stmt s, StoreAccess::Conn(*store_).Prepare(
                  "SELECT m.record_id, m.field, m.value FROM field_meta m JOIN records r ON r.id = m.record_id "
                  "WHERE m.known = 1 AND r.deleted_ms IS NULL AND length(m.value) BETWEEN 66 AND 80 "
                  "AND substr(m.value, 65, 1) = '.' AND NOT EXISTS (SELECT 1 FROM attachments a "
                  "WHERE a.sha256 = substr(m.value, 1, 64)) ORDER BY r.id, m.field"));
  std::vector<WantedFile> out;
  while (true) {
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    std::string value = s.Text(2);
    if (IsFileAnswer(value)) out.push_back({s.Text(0), s.Text(1), value.substr(0, 64)});
  }
  return out;
}

Status SyncReplica::MarkUploaded(std::string_view sha256) {
  TIANYE_ASSIGN_OR_RETURN(Stmt s, StoreAccess::Conn(*store_).Prepare(
                                      "INSERT OR IGNORE INTO sync_uploaded (sha256) VALUES (?)"));
  s.Bind(1, sha256);
  return s.Run();
}

Status SyncReplica::ResetAfterServerRestore(int64_t server_acked_through) {
  // The server lost what it had acknowledged: forget the versions and the
  // cursor, and capture every record again as if new (base 0), so that the
  // next push carries all of it. The server finds what it still has
  // (convergent), takes what it lost, and turns real differences into conflicts.
  TIANYE_ASSIGN_OR_RETURN(Transaction tx, store_->Begin());
  Connection& conn = StoreAccess::Conn(*store_);
  TIANYE_RETURN_IF_ERROR(conn.Exec(
      "DELETE FROM field_meta; DELETE FROM sync_uploaded; UPDATE outbox SET push_seq = NULL, base_version = 0;"));
  TIANYE_RETURN_IF_ERROR(store_->DeleteSetting(internal::kCursorKey));
  TIANYE_RETURN_IF_ERROR(store_->PutSetting(internal::kLastPushSeqKey, std::to_string(server_acked_through)));
  TIANYE_RETURN_IF_ERROR(QueueAllRecords(*store_));
  return tx.Commit();
}

Result<bool> SyncReplica::ServerLostAcknowledged(int64_t server_acked_through) {
  // What the server acknowledged to this device: the answers it holds.
  TIANYE_ASSIGN_OR_RETURN(int64_t acked, AnswersStoredThrough(*store_));
  return server_acked_through < acked;
}

}  // namespace tianye
