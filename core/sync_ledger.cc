// The server side of sync: applies pushed field ops with the merge rules,
// keeps conflicts, hands out changes after a cursor.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "facts.h"
#include "search.h"
#include "store_impl.h"
#include "sync_internal.h"
#include "tianye/attachment.h"
#include "tianye/form_store.h"
#include "tianye/sync.h"
#include "tianye/uuid.h"

namespace tianye {
namespace {

using internal::Connection;
using internal::Stmt;
using internal::StoreAccess;

constexpr char kSeqKey[] = "server.seq";
constexpr char kEpochKey[] = "server.epoch";
constexpr char kServerDevice[] = "server";

bool IsCollector(const Principal& who) {
  return who.role == "inspector" || who.role == "surveyor" || who.role == "admin";
}

using internal::BindOptional;
using internal::OptionalText;

// The number server_device_ids gives a device id, if it has one yet.
Result<std::optional<int64_t>> FindDeviceNumber(Connection& conn, std::string_view device_id) {
  TIANYE_ASSIGN_OR_RETURN(Stmt s, conn.Prepare("SELECT dev FROM server_device_ids WHERE device_id = ?"));
  s.Bind(1, device_id);
  TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? std::optional<int64_t>(s.Int(0)) : std::nullopt;
}

struct Current {
  bool exists = false;
  int64_t version = 0;
  Candidate who;  // the value, and the device, author and HLC that set it
  const std::optional<std::string>& value() const { return who.value; }
};

class Ledger {
 public:
  Ledger(Store& store, FormStore& forms)
      : store_(store), forms_(forms), conn_(StoreAccess::Conn(store)),
        now_(StoreAccess::ClockOf(store).NowMillis()) {}

  int64_t now() const { return now_; }

  // The server sequence: read once, counted here, written by Commit().
  Result<int64_t> NextVersion() {
    TIANYE_ASSIGN_OR_RETURN(int64_t seq, Seq());
    seq_ = seq + 1;
    return *seq_;
  }

  Result<int64_t> Seq() {
    if (seq_) return *seq_;
    TIANYE_ASSIGN_OR_RETURN(std::optional<std::string> v, store_.GetSetting(kSeqKey));
    seq_ = v ? std::stoll(*v) : 0;
    seq_read_ = *seq_;
    return *seq_;
  }

  // Writes what was counted in memory (the sequence, each touched record's
  // version), then commits. Every write path ends here.
  Status Commit(Transaction& tx) {
    if (seq_ && *seq_ != seq_read_) TIANYE_RETURN_IF_ERROR(store_.PutSetting(kSeqKey, std::to_string(*seq_)));
    // Each touched record's row once: its version and the columns this
    // transaction set (on PostgreSQL every UPDATE is a new row version).
    for (const auto& [record_id, version] : touched_) {
      std::string sql = "UPDATE server_records SET version = CASE WHEN version > ?1 THEN version ELSE ?1 END, "
                        "updated_ms = ?2";
      const Summary* summary = nullptr;
      if (auto it = summaries_.find(record_id); it != summaries_.end()) summary = &it->second;
      int index = 3;
      if (summary != nullptr) {
        for (const auto& [column, value] : summary->columns) sql += ", " + column + " = ?" + std::to_string(++index);
        if (summary->deleted) sql += ", deleted = ?" + std::to_string(++index);
      }
      if (recount_.count(record_id) > 0) {
        sql += ", open_conflicts = (SELECT count(*) FROM conflicts WHERE record_id = ?3 AND state = 'open')";
      }
      TIANYE_ASSIGN_OR_RETURN(Stmt s, conn_.Prepare(sql + " WHERE record_id = ?3"));
      s.Bind(1, version).Bind(2, now_).Bind(3, record_id);
      index = 3;
      if (summary != nullptr) {
        for (const auto& [column, value] : summary->columns) s.Bind(++index, value);
        if (summary->deleted) s.Bind(++index, static_cast<int64_t>(*summary->deleted));
      }
      TIANYE_RETURN_IF_ERROR(s.RunDeferred());
    }
    // The search index of each record whose answers changed, from the
    // answers this ledger holds.
    for (const std::string& record_id : answers_changed_) {
      TIANYE_ASSIGN_OR_RETURN(std::vector<internal::FactField> answers, FactFields(record_id));
      TIANYE_RETURN_IF_ERROR(internal::RefreshSearch(conn_, forms_, record_id, &answers));
    }
    // The dashboard's figures of each record whose answers, area, status
    // or deletion changed.
    for (const std::string& record_id : facts_changed_) {
      TIANYE_ASSIGN_OR_RETURN(std::vector<internal::FactField> fields, FactFields(record_id));
      TIANYE_RETURN_IF_ERROR(internal::WriteFacts(conn_, record_id, fields));
    }
    for (const std::string& record_id : samples_changed_) {
      TIANYE_ASSIGN_OR_RETURN(std::vector<internal::FactField> fields, FactFields(record_id));
      TIANYE_RETURN_IF_ERROR(internal::WriteSamples(conn_, record_id, fields));
    }
    return tx.Commit();
  }

  Result<std::string> Epoch() {
    TIANYE_ASSIGN_OR_RETURN(std::optional<std::string> v, store_.GetSetting(kEpochKey));
    if (v) return *v;
    std::string made = NewUuidV7(StoreAccess::ClockOf(store_)).substr(0, 8);
    TIANYE_RETURN_IF_ERROR(store_.PutSetting(kEpochKey, made));
    return made;
  }

  // What this ledger has read of a record: every field (Write keeps them
  // current) and whether it may have an open conflict. A push reads each
  // record it touches once, not once per op; nothing else writes while the
  // ledger's transaction holds the write lock.
  struct Cached {
    std::map<std::string, Current> fields;
    bool open_conflicts = false;  // false: none when read, and none opened since
  };

  // The number of `device_id` in the rows this ledger writes; the first
  // write of a device gives it one.
  Result<int64_t> DeviceNumber(const std::string& device_id) {
    if (auto it = device_numbers_.find(device_id); it != device_numbers_.end()) return it->second;
    TIANYE_ASSIGN_OR_RETURN(std::optional<int64_t> n, FindDeviceNumber(conn_, device_id));
    if (!n) {
      TIANYE_ASSIGN_OR_RETURN(Stmt s,
                              conn_.Prepare("INSERT INTO server_device_ids (device_id) VALUES (?) RETURNING dev"));
      s.Bind(1, device_id);
      TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return Status::Internal("no number for device " + device_id);
      n = s.Int(0);
    }
    return device_numbers_.emplace(device_id, *n).first->second;
  }

  // The record's row number in server_records, which its field and history
  // rows carry; 0 while the server has no such record.
  Result<int64_t> Rid(const std::string& record_id) {
    if (auto it = rids_.find(record_id); it != rids_.end()) return it->second;
    TIANYE_ASSIGN_OR_RETURN(Stmt s, conn_.Prepare("SELECT rid FROM server_records WHERE record_id = ?"));
    s.Bind(1, record_id);
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return int64_t{0};
    return rids_.emplace(record_id, s.Int(0)).first->second;
  }

  // Rid() of a record that must exist (one being written).
  Result<int64_t> StoredRid(const std::string& record_id) {
    TIANYE_ASSIGN_OR_RETURN(int64_t rid, Rid(record_id));
    if (rid == 0) return Status::NotFound("no record with id " + record_id);
    return rid;
  }

  // server_fields' columns of one field (f) with its device's id (d), as
  // Read() and ReadAll() take them.
  static constexpr char kFieldColumns[] =
      "f.field, f.value, f.version, d.device_id, f.author, f.hlc, f.received_ms, f.clock_ahead";
  static constexpr char kFieldsWithDevice[] =
      " FROM server_fields f JOIN server_device_ids d ON d.dev = f.dev";
  static void ReadField(const Stmt& s, Cached* c, int first = 0) {
    Current& f = c->fields[s.Text(first)];
    f.exists = true;
    f.version = s.Int(first + 2);
    f.who = {OptionalText(s, first + 1), s.Text(first + 3), s.Text(first + 4), static_cast<uint64_t>(s.Int(first + 5)),
             s.Int(first + 7) != 0, s.Int(first + 6)};
  }

  Result<Cached*> Read(const std::string& record_id) {
    auto found = cache_.find(record_id);
    if (found != cache_.end()) return &found->second;
    Cached c;
    TIANYE_ASSIGN_OR_RETURN(int64_t rid, Rid(record_id));
    if (rid != 0) {
      TIANYE_ASSIGN_OR_RETURN(Stmt s, conn_.Prepare(std::string("SELECT ") + kFieldColumns + kFieldsWithDevice +
                                                    " WHERE f.rid = ?"));
      s.Bind(1, rid);
      while (true) {
        TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        ReadField(s, &c);
      }
    }
    TIANYE_ASSIGN_OR_RETURN(Stmt s, conn_.Prepare("SELECT 1 FROM conflicts WHERE record_id = ? AND state = 'open' "
                                                  "LIMIT 1"));
    s.Bind(1, record_id);
    TIANYE_ASSIGN_OR_RETURN(c.open_conflicts, s.Step());
    return &cache_.emplace(record_id, std::move(c)).first->second;
  }

  // Reads what Read() would of many records, a chunk of them per query: on
  // PostgreSQL a round trip per chunk instead of two per record (on a
  // database across the network, most of a push). SQLite reads in-process,
  // where one record at a time measured no slower: Read() as it comes.
  Status ReadAll(const std::set<std::string>& ids) {
    if (conn_.dialect() != internal::Dialect::kPostgres) return Status::Ok();
    constexpr size_t kChunk = 64;  // one statement text: a short chunk repeats its last id
    std::string list = "?";
    for (size_t i = 1; i < kChunk; ++i) list += ",?";
    std::vector<const std::string*> todo;
    for (const std::string& id : ids) {
      if (cache_.try_emplace(id).second) todo.push_back(&id);  // an empty entry: a new record has no rows
    }
    for (size_t at = 0; at < todo.size(); at += kChunk) {
      const size_t n = std::min(kChunk, todo.size() - at);
      auto bind = [&](Stmt& s) {
        for (size_t i = 0; i < kChunk; ++i) s.Bind(static_cast<int>(i + 1), *todo[at + std::min(i, n - 1)]);
      };
      TIANYE_ASSIGN_OR_RETURN(Stmt fields, conn_.Prepare(std::string("SELECT r.record_id, ") + kFieldColumns +
                                                         kFieldsWithDevice + " JOIN server_records r ON r.rid = f.rid "
                                                         "WHERE r.record_id IN (" + list + ")"));
      bind(fields);
      while (true) {
        TIANYE_ASSIGN_OR_RETURN(bool row, fields.Step());
        if (!row) break;
        ReadField(fields, &cache_[fields.Text(0)], 1);
      }
      TIANYE_ASSIGN_OR_RETURN(Stmt open, conn_.Prepare("SELECT DISTINCT record_id FROM conflicts WHERE state = 'open' "
                                                       "AND record_id IN (" + list + ")"));
      bind(open);
      while (true) {
        TIANYE_ASSIGN_OR_RETURN(bool row, open.Step());
        if (!row) break;
        cache_[open.Text(0)].open_conflicts = true;
      }
    }
    return Status::Ok();
  }

  // A field as it stands in this transaction.
  Result<Current> Load(const std::string& record_id, const std::string& field) {
    TIANYE_ASSIGN_OR_RETURN(Cached * record, Read(record_id));
    auto it = record->fields.find(field);
    return it == record->fields.end() ? Current{} : it->second;
  }

  // A record's current answers as the dashboard's figures read them
  // (views into the cache, valid while it holds the record).
  Result<std::vector<internal::FactField>> FactFields(const std::string& record_id) {
    TIANYE_ASSIGN_OR_RETURN(Cached * record, Read(record_id));
    std::vector<internal::FactField> fields;
    fields.reserve(record->fields.size());
    for (const auto& [name, f] : record->fields) {
      if (f.exists) fields.push_back({name, &f.who.value});
    }
    return fields;
  }

  // The changes to a field after `base`, oldest first.
  Result<std::vector<FieldChangeRef>> Since(const std::string& record_id, const std::string& field, int64_t base) {
    TIANYE_ASSIGN_OR_RETURN(int64_t rid, Rid(record_id));
    TIANYE_ASSIGN_OR_RETURN(Stmt s, conn_.Prepare("SELECT h.version, h.value, d.device_id FROM server_history h "
                                                  "JOIN server_device_ids d ON d.dev = h.dev "
                                                  "WHERE h.rid = ? AND h.field = ? AND h.version > ? "
                                                  "AND h.kind <> 'convergent' ORDER BY h.version"));
    s.Bind(1, rid).Bind(2, field).Bind(3, base);
    std::vector<FieldChangeRef> out;
    while (true) {
      TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      out.push_back({s.Int(0), OptionalText(s, 1), s.Text(2)});
    }
    return out;
  }

  Result<std::optional<std::string>> ValueAt(const std::string& record_id, const std::string& field, int64_t version) {
    if (version <= 0) return std::optional<std::string>();
    TIANYE_ASSIGN_OR_RETURN(int64_t rid, Rid(record_id));
    TIANYE_ASSIGN_OR_RETURN(Stmt s, conn_.Prepare("SELECT value FROM server_history WHERE rid = ? AND "
                                                  "field = ? AND version <= ? AND kind <> 'convergent' "
                                                  "ORDER BY version DESC LIMIT 1"));
    s.Bind(1, rid).Bind(2, field).Bind(3, version);
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return std::optional<std::string>();
    return OptionalText(s, 0);
  }

  // Sets a field: current state plus one history row, and the record's summary.
  // `own_op`: the value is the pushing device's own, applied as sent, so
  // pull need not send it back to that device.
  Status Write(const std::string& record_id, const std::string& field, const Candidate& by,
               const std::optional<std::string>& value, int64_t version, const std::string& history_device,
               std::optional<int64_t> push_seq, const char* kind, bool own_op = false) {
    {
      TIANYE_ASSIGN_OR_RETURN(int64_t rid, StoredRid(record_id));
      TIANYE_ASSIGN_OR_RETURN(int64_t dev, DeviceNumber(by.device_id));
      TIANYE_ASSIGN_OR_RETURN(
          Stmt s, conn_.Prepare("INSERT INTO server_fields (rid, field, value, version, dev, author, "
                                "hlc, received_ms, clock_ahead, own_op) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                                "ON CONFLICT (rid, field) DO UPDATE SET value = excluded.value, "
                                "version = excluded.version, dev = excluded.dev, "
                                "author = excluded.author, hlc = excluded.hlc, received_ms = excluded.received_ms, "
                                "clock_ahead = excluded.clock_ahead, own_op = excluded.own_op"));
      s.Bind(1, rid).Bind(2, field);
      BindOptional(s, 3, value);
      s.Bind(4, version).Bind(5, dev).Bind(6, by.author).Bind(7, static_cast<int64_t>(by.hlc));
      s.Bind(8, by.received_ms).Bind(9, static_cast<int64_t>(by.clock_ahead)).Bind(10, int64_t{own_op ? 1 : 0});
      TIANYE_RETURN_IF_ERROR(s.RunDeferred());
    }
    if (auto cached = cache_.find(record_id); cached != cache_.end()) {
      Current& f = cached->second.fields[field];
      f = {true, version, by};
      f.who.value = value;
    }
    TIANYE_RETURN_IF_ERROR(History(record_id, field, value, version, history_device, by, push_seq, kind));
    return Summarize(record_id, field, value, version);
  }

  Status History(const std::string& record_id, const std::string& field, const std::optional<std::string>& value,
                 int64_t version, const std::string& device, const Candidate& by, std::optional<int64_t> push_seq,
                 const char* kind) {
    TIANYE_ASSIGN_OR_RETURN(int64_t rid, StoredRid(record_id));
    TIANYE_ASSIGN_OR_RETURN(int64_t dev, DeviceNumber(device));
    TIANYE_ASSIGN_OR_RETURN(
        Stmt s, conn_.Prepare("INSERT INTO server_history (version, rid, field, value, dev, author, "
                              "hlc, received_ms, push_seq, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    s.Bind(1, version).Bind(2, rid).Bind(3, field);
    BindOptional(s, 4, value);
    s.Bind(5, dev).Bind(6, by.author).Bind(7, static_cast<int64_t>(by.hlc)).Bind(8, by.received_ms);
    s.Bind(9, push_seq).Bind(10, kind);
    return s.RunDeferred();
  }

  Status Summarize(const std::string& record_id, const std::string& field, const std::optional<std::string>& value,
                   int64_t version) {
    static const std::map<std::string, std::string> kColumns = {
        {"@county", "county_code"}, {"@township", "township_code"}, {"@village", "village_code"},
        {"@status", "status"},      {"@author", "author"},           {"@form_version", "form_version"}};
    std::string text = value.value_or("");
    auto it = kColumns.find(field);
    if (it != kColumns.end()) {
      summaries_[record_id].columns[it->second] = text;  // written by Commit
    } else if (field == "@deleted") {
      summaries_[record_id].deleted = text == "1";
    }
    // The facts row carries the record's area, status, author and deleted
    // flag too (the dashboard reads nothing else).
    if (IsFact(field) || it != kColumns.end() || field == "@deleted") facts_changed_.insert(record_id);
    if (!field.starts_with('@')) answers_changed_.insert(record_id);
    if (field.starts_with("sample[")) samples_changed_.insert(record_id);
    if (value && IsFileAnswer(*value)) {
      TIANYE_ASSIGN_OR_RETURN(Stmt s, conn_.Prepare("INSERT INTO server_file_refs (record_id, field, sha256) "
                                                    "VALUES (?, ?, ?) ON CONFLICT (record_id, field) "
                                                    "DO UPDATE SET sha256 = excluded.sha256"));
      s.Bind(1, record_id).Bind(2, field).Bind(3, value->substr(0, 64));
      TIANYE_RETURN_IF_ERROR(s.RunDeferred());
    }
    int64_t& v = touched_[record_id];
    v = std::max(v, version);
    return Status::Ok();
  }

  // Whether `field` is one server_facts keeps ("problems[i3]/prob_status"
  // counts as "problems/prob_status").
  static bool IsFact(std::string_view field) {
    static const std::set<std::string, std::less<>> kFacts = {
        // toilet
        "in_scope", "is_sanitary", "is_harmless", "problem_found", "n_overdue", "problems/prob_status",
        "problems/fixed_date", "problems/deadline", "renovated", "in_use", "problem_open", "froze_last_winter",
        "has_toilet", "emptying_mode", "manure_fate", "old_latrine", "satisfaction", "subsidy_yuan",
        "hh_paid_yuan", "toilet_type",
        // housing
        "grade_final", "secured", "category", "temp_housing", "no_house", "new_danger", "measure_status",
        "done_date", "survey_date", "seismic_focus", "dm_final", "structure", "age_over_30", "site_safety",
        "site_hazards", "grade_calc", "monitor_round",
        // germplasm
        "sample/res_cat", "n_at_risk", "sample/germplasm_type", "sample/deposit_to", "sample/photo_main",
        "sample/photo_2", "sample/latin_name", "sample/aq_latin", "sample/fungi_latin", "sample/main_traits",
        // every form
        "gps_in_area", "gps_acc", "hh_key", "start", "end"};
    size_t open = field.find('['), close = field.find(']');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) return kFacts.count(field);
    std::string plain = std::string(field.substr(0, open)) + std::string(field.substr(close + 1));
    return kFacts.count(plain) > 0;
  }

  Status EnsureRecord(const std::string& record_id, const FieldOp& op) {
    if (!ensured_.insert(record_id).second) return Status::Ok();
    TIANYE_ASSIGN_OR_RETURN(Stmt s, conn_.Prepare("INSERT INTO server_records (record_id, form_id, "
                                                  "form_version, version, created_ms, updated_ms) "
                                                  "VALUES (?, ?, ?, 0, ?, ?) ON CONFLICT DO NOTHING"));
    s.Bind(1, record_id).Bind(2, op.form_id).Bind(3, op.form_version).Bind(4, now_).Bind(5, now_);
    TIANYE_RETURN_IF_ERROR(s.Run());
    // A new record gets its facts row (every record has one).
    if (conn_.Changes() > 0) facts_changed_.insert(record_id);
    return Status::Ok();
  }

  Result<std::optional<Conflict>> OpenConflict(const std::string& record_id, const std::string& field) {
    if (auto cached = cache_.find(record_id); cached != cache_.end() && !cached->second.open_conflicts) {
      return std::optional<Conflict>();
    }
    TIANYE_ASSIGN_OR_RETURN(Stmt s, conn_.Prepare("SELECT id FROM conflicts WHERE record_id = ? AND field = ? "
                                                  "AND state = 'open' LIMIT 1"));
    s.Bind(1, record_id).Bind(2, field);
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return std::optional<Conflict>();
    std::string id = s.Text(0);
    TIANYE_ASSIGN_OR_RETURN(Conflict c, LoadConflict(id));
    return std::optional<Conflict>(std::move(c));
  }

  Result<Conflict> LoadConflict(std::string_view id) {
    TIANYE_ASSIGN_OR_RETURN(Stmt s, conn_.Prepare("SELECT id, record_id, field, state, base_value, candidates, "
                                                  "resolution, version, created_ms FROM conflicts WHERE id = ?"));
    s.Bind(1, id);
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return Status::NotFound("no conflict with id " + std::string(id));
    return ReadConflict(s);
  }

  static Result<Conflict> ReadConflict(const Stmt& s) {
    Conflict c;
    c.id = s.Text(0);
    c.record_id = s.Text(1);
    c.field = s.Text(2);
    c.state = s.Text(3);
    c.base_value = OptionalText(s, 4);
    TIANYE_ASSIGN_OR_RETURN(c.candidates, internal::ParseCandidates(s.Text(5)));
    c.resolution_json = s.Text(6);
    c.version = s.Int(7);
    c.created_ms = s.Int(8);
    return c;
  }

  Status SaveConflict(const Conflict& c) {
    if (auto cached = cache_.find(c.record_id); cached != cache_.end()) cached->second.open_conflicts = true;
    TIANYE_ASSIGN_OR_RETURN(
        Stmt s, conn_.Prepare("INSERT INTO conflicts (id, record_id, field, state, base_value, candidates, "
                              "resolution, version, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                              "ON CONFLICT (id) DO UPDATE SET state = excluded.state, "
                              "candidates = excluded.candidates, resolution = excluded.resolution, "
                              "version = excluded.version"));
    s.Bind(1, c.id).Bind(2, c.record_id).Bind(3, c.field).Bind(4, c.state);
    BindOptional(s, 5, c.base_value);
    s.Bind(6, internal::CandidatesJson(c.candidates)).Bind(7, c.resolution_json).Bind(8, c.version);
    s.Bind(9, c.created_ms);
    // The record's count of open conflicts: once, by Commit, however many
    // of its fields a push contests.
    recount_.insert(c.record_id);
    touched_.try_emplace(c.record_id, 0);
    return s.RunDeferred();
  }

  // Puts a device's value among the candidates; its newer value replaces its
  // older one (the device saw its own earlier edit). Kept sorted by device.
  static void Replace(std::vector<Candidate>* candidates, const Candidate& incoming) {
    auto same_device = [&](const Candidate& k) { return k.device_id == incoming.device_id; };
    candidates->erase(std::remove_if(candidates->begin(), candidates->end(), same_device), candidates->end());
    candidates->push_back(incoming);
    std::sort(candidates->begin(), candidates->end(),
              [](const Candidate& a, const Candidate& b) { return a.device_id < b.device_id; });
  }

  // The field's open conflict, or a new one with no candidates yet.
  Result<Conflict> OpenOrNew(const std::string& record_id, const std::string& field) {
    TIANYE_ASSIGN_OR_RETURN(std::optional<Conflict> open, OpenConflict(record_id, field));
    if (open) return std::move(*open);
    Conflict c;
    c.id = NewUuidV7(StoreAccess::ClockOf(store_));
    c.record_id = record_id;
    c.field = field;
    c.state = "open";
    c.created_ms = now_;
    return c;
  }

  // Adds `incoming` to the field's open conflict (or opens one against
  // `current`), writes the provisional winner as a new version and returns
  // the conflict. A device's newer value replaces its older one in the set:
  // the device saw its own earlier edit.
  Result<Conflict> Contest(const std::string& record_id, const std::string& field, const Current& current,
                           const Candidate& incoming, int64_t op_base, const std::string& history_device,
                           std::optional<int64_t> push_seq) {
    TIANYE_ASSIGN_OR_RETURN(Conflict c, OpenOrNew(record_id, field));
    if (c.candidates.empty()) {
      TIANYE_ASSIGN_OR_RETURN(c.base_value, ValueAt(record_id, field, op_base));
      c.candidates.push_back(current.who);
    }
    Replace(&c.candidates, incoming);
    size_t w = PickWinner(c.candidates);
    TIANYE_ASSIGN_OR_RETURN(c.version, NextVersion());
    TIANYE_RETURN_IF_ERROR(
        Write(record_id, field, c.candidates[w], c.candidates[w].value, c.version, history_device, push_seq, "conflict"));
    TIANYE_RETURN_IF_ERROR(SaveConflict(c));
    return c;
  }

  // Delete against edit: the record stays (never "delete wins"), and the
  // delete waits in a conflict on "@deleted" for a reviewer.
  Result<Conflict> ContestDelete(const std::string& record_id, const Candidate& deleter, const Candidate& keeper,
                                 const std::string& history_device, std::optional<int64_t> push_seq) {
    TIANYE_ASSIGN_OR_RETURN(Conflict c, OpenOrNew(record_id, "@deleted"));
    for (const Candidate* k : {&deleter, &keeper}) {
      bool present = std::any_of(c.candidates.begin(), c.candidates.end(), [&](const Candidate& x) {
        return x.device_id == k->device_id && x.value == k->value;
      });
      if (!present) c.candidates.push_back(*k);
    }
    std::sort(c.candidates.begin(), c.candidates.end(), [](const Candidate& a, const Candidate& b) {
      return std::tie(a.device_id, a.value, a.hlc) < std::tie(b.device_id, b.value, b.hlc);
    });
    TIANYE_ASSIGN_OR_RETURN(c.version, NextVersion());
    TIANYE_RETURN_IF_ERROR(Write(record_id, "@deleted", keeper, std::nullopt, c.version, history_device, push_seq,
                                 "conflict"));
    TIANYE_RETURN_IF_ERROR(SaveConflict(c));
    return c;
  }

  Result<OpOutcome> Apply(const Principal& who, const FieldOp& op) {
    Candidate in;
    in.value = op.value;
    in.device_id = who.device_id;
    in.author = who.username;
    in.received_ms = now_;
    in.hlc = op.hlc;
    if (Hlc::Millis(op.hlc) > now_ + kMaxClockAheadMs) {
      in.hlc = Hlc::Pack(now_, 0);  // ranked as if stamped on arrival
      in.clock_ahead = true;
    }
    TIANYE_RETURN_IF_ERROR(EnsureRecord(op.record_id, op));
    OpOutcome out;
    out.push_seq = op.push_seq;

    TIANYE_ASSIGN_OR_RETURN(Current del, Load(op.record_id, "@deleted"));
    const bool deleted_now = del.value() == std::optional<std::string>("1");
    if (op.field == "@deleted" && op.value == std::optional<std::string>("1") && !deleted_now) {
      // Deleting what someone else edited (or restored) meanwhile is for a
      // reviewer to decide.
      std::optional<Candidate> keeper;
      if (del.exists && del.version > op.base_version && del.who.device_id != who.device_id) {
        keeper = del.who;
      } else {
        TIANYE_ASSIGN_OR_RETURN(int64_t rid, Rid(op.record_id));
        TIANYE_ASSIGN_OR_RETURN(int64_t dev, DeviceNumber(who.device_id));
        TIANYE_ASSIGN_OR_RETURN(Stmt s, conn_.Prepare("SELECT d.device_id, h.author, h.hlc, h.received_ms "
                                                      "FROM server_history h JOIN server_device_ids d ON d.dev = h.dev "
                                                      "WHERE h.rid = ? AND h.version > ? AND h.dev <> ? "
                                                      "AND h.field <> '@deleted' AND h.kind <> 'convergent' "
                                                      "ORDER BY h.version DESC LIMIT 1"));
        s.Bind(1, rid).Bind(2, op.base_version).Bind(3, dev);
        TIANYE_ASSIGN_OR_RETURN(bool edited, s.Step());
        if (edited) keeper = Candidate{std::nullopt, s.Text(0), s.Text(1), static_cast<uint64_t>(s.Int(2)), false, s.Int(3)};
      }
      if (keeper) {
        keeper->value.reset();
        TIANYE_ASSIGN_OR_RETURN(Conflict c, ContestDelete(op.record_id, in, *keeper, who.device_id, op.push_seq));
        out.outcome = "conflict";
        out.version = c.version;
        out.conflict_id = c.id;
        return out;
      }
    } else if (op.field != "@deleted") {
      // Editing what someone else deleted meanwhile brings it back, for review.
      if (deleted_now && del.who.device_id != who.device_id) {
        Candidate keeper = in;
        keeper.value.reset();
        TIANYE_RETURN_IF_ERROR(ContestDelete(op.record_id, del.who, keeper, who.device_id, std::nullopt).error());
      }
    }

    TIANYE_ASSIGN_OR_RETURN(Current cur, Load(op.record_id, op.field));
    std::vector<FieldChangeRef> since;
    if (cur.exists && op.base_version > cur.version) {
      // The device saw a version this server does not have (restored from a
      // backup): treat what is here as concurrent.
      since.push_back({cur.version, cur.value(), cur.who.device_id});
    } else if (cur.exists) {
      TIANYE_ASSIGN_OR_RETURN(since, Since(op.record_id, op.field, op.base_version));
    }
    switch (DecideMerge(op.value, who.device_id, since, cur.value())) {
      case MergeKind::kFastForward: {
        TIANYE_ASSIGN_OR_RETURN(out.version, NextVersion());
        TIANYE_RETURN_IF_ERROR(
            Write(op.record_id, op.field, in, op.value, out.version, who.device_id, op.push_seq, "edit", true));
        out.outcome = "applied";
        // An edit made while the field awaits review joins the conflict, so
        // a reviewer who has not seen it cannot overwrite it unknowingly.
        TIANYE_ASSIGN_OR_RETURN(std::optional<Conflict> open, OpenConflict(op.record_id, op.field));
        if (open) {
          Replace(&open->candidates, in);
          open->version = out.version;
          TIANYE_RETURN_IF_ERROR(SaveConflict(*open));
        }
        return out;
      }
      case MergeKind::kConvergent: {
        TIANYE_ASSIGN_OR_RETURN(int64_t v, NextVersion());
        TIANYE_RETURN_IF_ERROR(History(op.record_id, op.field, op.value, v, who.device_id, in, op.push_seq, "convergent"));
        out.outcome = "convergent";
        out.version = cur.version;
        return out;
      }
      case MergeKind::kConflict: {
        TIANYE_ASSIGN_OR_RETURN(Conflict c, Contest(op.record_id, op.field, cur, in, op.base_version, who.device_id, op.push_seq));
        out.outcome = "conflict";
        out.version = c.version;
        out.conflict_id = c.id;
        return out;
      }
    }
    return Status::Internal("unknown merge kind");
  }

  Result<AreaCodes> AreaOf(const std::string& record_id, std::string* author) {
    TIANYE_ASSIGN_OR_RETURN(Stmt s, conn_.Prepare("SELECT county_code, township_code, village_code, author "
                                                  "FROM server_records WHERE record_id = ?"));
    s.Bind(1, record_id);
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return Status::NotFound("no record with id " + record_id);
    AreaCodes area{s.Text(0), s.Text(1), s.Text(2)};
    std::string by = s.Text(3);
    // As this transaction left them (Commit writes them).
    if (auto it = summaries_.find(record_id); it != summaries_.end()) {
      const std::map<std::string, std::string>& set = it->second.columns;
      for (auto [column, into] : {std::pair{"county_code", &area.county}, std::pair{"township_code", &area.township},
                                  std::pair{"village_code", &area.village}, std::pair{"author", &by}}) {
        if (auto v = set.find(column); v != set.end()) *into = v->second;
      }
    }
    if (author != nullptr) *author = std::move(by);
    return area;
  }

  // Whether `who` may see or change the record. A record with no area yet is
  // only its author's.
  Result<bool> Visible(const Principal& who, const std::string& record_id) {
    std::string author;
    Result<AreaCodes> area = AreaOf(record_id, &author);
    if (!area) return area.error().code() == StatusCode::kNotFound ? Result<bool>(true) : area.error();
    return VisibleAt(who, *area, author);
  }

  // The same for a record in `area` by `author`.
  static bool VisibleAt(const Principal& who, const AreaCodes& area, const std::string& author) {
    if (area.county.empty() && area.township.empty() && area.village.empty()) {
      return author.empty() || author == who.username || InScope(who.scope, area);
    }
    return InScope(who.scope, area);
  }

 private:
  Store& store_;
  FormStore& forms_;  // the SyncLedger's, which keeps each parsed form
  Connection& conn_;
  int64_t now_;
  std::optional<int64_t> seq_;
  int64_t seq_read_ = 0;
  std::map<std::string, int64_t> touched_;
  // The record's own columns (area, status, author, form version, deleted)
  // this transaction set, for Commit to write with the version.
  struct Summary {
    std::map<std::string, std::string> columns;
    std::optional<bool> deleted;
  };
  std::map<std::string, Summary> summaries_;
  std::map<std::string, Cached> cache_;
  std::set<std::string> ensured_;
  std::map<std::string, int64_t> device_numbers_;  // server_device_ids, as read or made so far
  std::map<std::string, int64_t> rids_;            // server_records.rid of the records read so far
  std::set<std::string> recount_;  // records whose count of open conflicts is out of date
  std::set<std::string> facts_changed_;  // records whose server_facts row is out of date
  std::set<std::string> answers_changed_;  // records whose search index row is out of date
  std::set<std::string> samples_changed_;  // records whose server_samples rows are out of date
};

// Why `who` may not change a record: it lies outside the user's areas, or
// the batch's own area ops would move it out of them.
std::string OutOfScope(const std::string& record_id) {
  return "out_of_scope: record " + record_id + " is outside your area, or this batch would move it there";
}

// The records of `batch` (its ops after push_seq `last`) that `who` may not
// change, with why. The area a record ends with is its area now with the
// batch's @county/@township/@village ops applied in order: what the device
// meant. (Should a merge make another device's area win, the check after
// applying still refuses the whole batch.)
Result<std::map<std::string, std::string>> RefusedRecords(Ledger& ledger, const Principal& who,
                                                          const PushBatch& batch, int64_t last) {
  struct Planned {
    AreaCodes area;
    std::string author;
  };
  std::map<std::string, Planned> planned;
  std::map<std::string, std::string> refused;
  for (const FieldOp& op : batch.ops) {
    if (op.push_seq <= last) continue;
    auto [it, added] = planned.try_emplace(op.record_id);
    if (added) {
      Result<AreaCodes> area = ledger.AreaOf(op.record_id, &it->second.author);
      if (area) {
        it->second.area = *area;
        if (!Ledger::VisibleAt(who, *area, it->second.author)) refused[op.record_id] = OutOfScope(op.record_id);
      } else if (area.error().code() != StatusCode::kNotFound) {
        return area.error();
      }
    }
    std::string* code = op.field == "@county"     ? &it->second.area.county
                        : op.field == "@township" ? &it->second.area.township
                        : op.field == "@village"  ? &it->second.area.village
                                                  : nullptr;
    if (code != nullptr) *code = op.value.value_or("");
  }
  for (const auto& [id, p] : planned) {
    if (!refused.count(id) && !Ledger::VisibleAt(who, p.area, p.author)) refused[id] = OutOfScope(id);
  }
  return refused;
}

bool SettableByCollector(const FieldOp& op) {
  if (op.field == "@comment") return false;
  if (op.field == "@status") {
    return !op.value || *op.value == "finalized" || *op.value == "draft";
  }
  return true;
}

}  // namespace

Result<PushResult> SyncLedger::Push(const Principal& who, const PushBatch& batch) {
  if (!IsCollector(who)) {
    return Status::PermissionDenied("push_forbidden: a " + who.role + " does not collect records");
  }
  if (batch.device_id != who.device_id) {
    return Status::PermissionDenied("device_mismatch: this login belongs to device " + who.device_id +
                                    ", the batch comes from " + batch.device_id);
  }
  TIANYE_ASSIGN_OR_RETURN(Transaction tx, store_->Begin());
  Ledger ledger(*store_, forms_);
  Connection& conn = StoreAccess::Conn(*store_);
  TIANYE_ASSIGN_OR_RETURN(int64_t last, AckedThrough(who.device_id));
  if (!batch.ops.empty() && batch.ops.front().push_seq > last + 1) {
    return Status::Conflict("push_seq_gap: the server holds this device's ops up to " + std::to_string(last) +
                            "; the batch starts at " + std::to_string(batch.ops.front().push_seq));
  }
  std::set<std::pair<std::string, std::string>> known_forms;
  for (const FieldOp& op : batch.ops) {
    if (op.push_seq <= last) continue;
    if (!who.role.empty() && who.role != "admin" && !SettableByCollector(op)) {
      return Status::PermissionDenied("review_forbidden: only a supervisor can set " + op.field + " of record " +
                                      op.record_id + (op.value ? " to '" + *op.value + "'" : ""));
    }
    if (known_forms.insert({op.form_id, op.form_version}).second) {
      TIANYE_ASSIGN_OR_RETURN(Stmt s, conn.Prepare("SELECT 1 FROM forms WHERE form_id = ? AND version = ?"));
      s.Bind(1, op.form_id).Bind(2, op.form_version);
      TIANYE_ASSIGN_OR_RETURN(bool found, s.Step());
      if (!found) {
        return Status::FailedPrecondition("unknown_form_version: this server has no form " + op.form_id +
                                          " version " + op.form_version + " (record " + op.record_id + ")");
      }
    }
  }
  {
    std::set<std::string> ids;
    for (const FieldOp& op : batch.ops) {
      if (op.push_seq > last) ids.insert(op.record_id);
    }
    TIANYE_RETURN_IF_ERROR(ledger.ReadAll(ids));
  }
  // Ops of a record outside the user's areas are refused one by one (the
  // device keeps them and says so); the rest of the batch goes on.
  TIANYE_ASSIGN_OR_RETURN(const auto refused, RefusedRecords(ledger, who, batch, last));
  PushResult result;
  std::set<std::string> touched;
  TIANYE_ASSIGN_OR_RETURN(const int64_t dev, ledger.DeviceNumber(who.device_id));
  for (const FieldOp& op : batch.ops) {
    if (op.push_seq <= last) {
      TIANYE_ASSIGN_OR_RETURN(Stmt s, conn.Prepare("SELECT outcome, version, conflict_id FROM server_op_results "
                                                   "WHERE dev = ? AND push_seq = ?"));
      s.Bind(1, dev).Bind(2, op.push_seq);
      TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
      if (row) {
        result.outcomes.push_back({op.push_seq, s.Text(0), s.Int(1), s.Text(2), ""});
        if (s.Text(0) == "refused") result.outcomes.back().error = OutOfScope(op.record_id);
      }
      continue;
    }
    OpOutcome out;
    if (auto why = refused.find(op.record_id); why != refused.end()) {
      out = {op.push_seq, "refused", 0, "", why->second};
    } else {
      touched.insert(op.record_id);
      TIANYE_ASSIGN_OR_RETURN(out, ledger.Apply(who, op));
    }
    TIANYE_ASSIGN_OR_RETURN(Stmt s, conn.Prepare("INSERT INTO server_op_results (dev, push_seq, outcome, "
                                                 "version, conflict_id) VALUES (?, ?, ?, ?, ?)"));
    s.Bind(1, dev).Bind(2, op.push_seq).Bind(3, out.outcome).Bind(4, out.version).Bind(5, out.conflict_id);
    TIANYE_RETURN_IF_ERROR(s.RunDeferred());
    result.outcomes.push_back(std::move(out));
    last = op.push_seq;
  }
  // A record the batch moved out of the user's area is refused too.
  for (const std::string& id : touched) {
    TIANYE_ASSIGN_OR_RETURN(bool visible, ledger.Visible(who, id));
    if (!visible) return Status::PermissionDenied(OutOfScope(id));
  }
  int64_t offset = batch.ops.empty() ? 0 : Hlc::Millis(batch.ops.back().hlc) - ledger.now();
  TIANYE_ASSIGN_OR_RETURN(
      Stmt s, conn.Prepare("INSERT INTO server_devices (device_id, username, last_push_seq, last_seen_ms, "
                           "clock_offset_ms) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (device_id) DO UPDATE SET "
                           "username = ?2, last_push_seq = ?3, last_seen_ms = ?4, clock_offset_ms = ?5"));
  s.Bind(1, who.device_id).Bind(2, who.username).Bind(3, last).Bind(4, ledger.now()).Bind(5, offset);
  TIANYE_RETURN_IF_ERROR(s.RunDeferred());
  // Answers the device says it holds are not needed for a re-push: without
  // this, the table kept a row for every op ever pushed.
  if (batch.answers_stored_through > 0) {
    TIANYE_ASSIGN_OR_RETURN(Stmt forget,
                            conn.Prepare("DELETE FROM server_op_results WHERE dev = ? AND push_seq <= ?"));
    forget.Bind(1, dev).Bind(2, std::min(batch.answers_stored_through, last));
    TIANYE_RETURN_IF_ERROR(forget.RunDeferred());
  }
  TIANYE_RETURN_IF_ERROR(ledger.Commit(tx));
  result.acked_through = last;
  return result;
}

namespace {

// Names the last change at or before `version`. A cursor carries it, so a
// server restored from an older backup, whose versions were handed out again
// to other changes, knows the cursor is not about its history (the epoch
// alone stays the same in a backup, and the version may be reached again).
Result<std::string> CursorTag(Connection& conn, int64_t version) {
  TIANYE_ASSIGN_OR_RETURN(Stmt s, conn.Prepare("SELECT h.version, r.record_id, h.field, h.hlc, d.device_id "
                                               "FROM server_history h JOIN server_records r ON r.rid = h.rid "
                                               "JOIN server_device_ids d ON d.dev = h.dev "
                                               "WHERE h.version <= ? ORDER BY h.version DESC LIMIT 1"));
  s.Bind(1, version);
  TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::string("0");
  std::string key = std::to_string(s.Int(0)) + '\n' + s.Text(1) + '\n' + s.Text(2) + '\n' +
                    std::to_string(s.Int(3)) + '\n' + s.Text(4);
  return Sha256Hex(key).substr(0, 12);
}

// A pull cursor: EPOCH.VERSION.TAG, or EPOCH.VERSION.TAG.FROM in the middle
// of a pull (see SyncLedger::Pull), or EPOCH.VERSION as servers before the
// tag handed out. TAG: see CursorTag.
struct PullCursor {
  std::string epoch;
  int64_t version = 0;  // every record changed up to here has been sent
  std::string tag;      // empty in a cursor from before tags
  int64_t from = 0;     // the records after `version` are sent from here
};

std::optional<PullCursor> ParsePullCursor(std::string_view text) {
  std::vector<std::string_view> parts;
  for (size_t at = 0;;) {
    size_t dot = text.find('.', at);
    parts.push_back(text.substr(at, dot == std::string_view::npos ? std::string_view::npos : dot - at));
    if (dot == std::string_view::npos) break;
    at = dot + 1;
  }
  if (parts.size() < 2 || parts.size() > 4) return std::nullopt;
  auto number = [](std::string_view digits) -> std::optional<int64_t> {
    if (digits.empty() || digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string_view::npos) {
      return std::nullopt;
    }
    return std::stoll(std::string(digits));
  };
  PullCursor c;
  c.epoch = std::string(parts[0]);
  std::optional<int64_t> version = number(parts[1]);
  if (c.epoch.empty() || !version) return std::nullopt;
  c.version = c.from = *version;
  if (parts.size() >= 3) {
    if (parts[2].empty()) return std::nullopt;
    c.tag = std::string(parts[2]);
  }
  if (parts.size() == 4) {
    std::optional<int64_t> from = number(parts[3]);
    if (!from || *from > c.version) return std::nullopt;
    c.from = *from;
  }
  return c;
}

}  // namespace

// A page holds whole records, in the order of their latest change: every
// field of each that changed after the cursor's `from`, and its conflicts
// that did. Reading the records changed since the cursor off
// server_records_by_version, in-scope ones only, costs a device what is new
// in its scope, not every field change on the server. When the page ends
// before the last such record, its cursor says where (`version`) and keeps
// the `from` of the pull's start: a record further on may hold changes from
// before `version` that are not sent yet.
Result<PullPage> SyncLedger::Pull(const Principal& who, std::string_view cursor_text, int limit) {
  limit = std::clamp(limit, 1, 5000);
  // A pull only reads, once the server has its epoch: one snapshot, without
  // the writer lock, so pulls through several servers run side by side.
  // Writers commit in version order (one at a time), so a snapshot holds
  // every change up to the sequence it reads, and none after.
  // The epoch never changes once made, so the one read here serves.
  TIANYE_ASSIGN_OR_RETURN(std::optional<std::string> known_epoch, store_->GetSetting(kEpochKey));
  TIANYE_ASSIGN_OR_RETURN(Transaction tx, known_epoch ? store_->BeginRead() : store_->Begin());
  Ledger ledger(*store_, forms_);
  Connection& conn = StoreAccess::Conn(*store_);
  std::string epoch;
  if (known_epoch) {
    epoch = *std::move(known_epoch);
  } else {
    TIANYE_ASSIGN_OR_RETURN(epoch, ledger.Epoch());
  }
  TIANYE_ASSIGN_OR_RETURN(int64_t seq, ledger.Seq());
  PullCursor cursor;
  if (!cursor_text.empty()) {
    std::optional<PullCursor> parsed = ParsePullCursor(cursor_text);
    if (!parsed) {
      return Status::InvalidArgument("bad_cursor: '" + std::string(cursor_text) + "' is not a cursor from this server");
    }
    cursor = *std::move(parsed);
    bool same_history = false;
    if (cursor.epoch == epoch && cursor.version <= seq) {
      TIANYE_ASSIGN_OR_RETURN(std::string tag, CursorTag(conn, cursor.version));
      same_history = cursor.tag.empty() || cursor.tag == tag;  // a legacy cursor has no tag to compare
    }
    if (!same_history) {
      return Status::FailedPrecondition(
          "must_refetch: the cursor comes from a newer state than this server holds (restored from a backup, "
          "or another server); pull again from the start and push what the server lost");
    }
  }
  // The scope as SQL; VisibleAt checks every record again.
  TIANYE_ASSIGN_OR_RETURN(
      Stmt records, conn.Prepare("SELECT r.record_id, r.version, r.county_code, r.township_code, r.village_code, "
                                 "r.author, r.rid FROM server_records r WHERE r.version > ?1 AND (" +
                                 internal::ScopeSql(who, "r", "?2") + ") ORDER BY r.version"));
  records.Bind(1, cursor.version).Bind(2, who.username);
  // The device's number, or one no row has if it never pushed.
  TIANYE_ASSIGN_OR_RETURN(std::optional<int64_t> known_dev, FindDeviceNumber(conn, who.device_id));
  const int64_t dev = known_dev.value_or(-1);
  PullPage page;
  int64_t through = cursor.version;
  bool exhausted = false;
  while (true) {
    TIANYE_ASSIGN_OR_RETURN(bool row, records.Step());
    if (!row) {
      exhausted = true;
      break;
    }
    if (static_cast<int>(page.changes.size()) >= limit) break;  // a record waits for the next page
    const std::string id = records.Text(0);
    const int64_t rid = records.Int(6);
    through = records.Int(1);
    if (!Ledger::VisibleAt(who, {records.Text(2), records.Text(3), records.Text(4)}, records.Text(5))) continue;
    // A record another device moved into the user's areas since the cursor
    // may be new to this device: all of it goes, not only what changed.
    int64_t since = cursor.from;
    {
      TIANYE_ASSIGN_OR_RETURN(Stmt moved, conn.Prepare("SELECT 1 FROM server_fields WHERE rid = ?1 AND field IN "
                                                       "('@county', '@township', '@village', '@author') AND "
                                                       "version > ?2 AND NOT (own_op = 1 AND dev = ?3) LIMIT 1"));
      moved.Bind(1, rid).Bind(2, cursor.from).Bind(3, dev);
      TIANYE_ASSIGN_OR_RETURN(bool any, moved.Step());
      if (any) since = 0;
    }
    TIANYE_ASSIGN_OR_RETURN(Stmt fields, conn.Prepare("SELECT f.field, f.value, f.version, d.device_id, f.author, "
                                                      "f.hlc, CASE WHEN f.own_op = 1 AND f.dev = ?3 THEN 1 ELSE 0 END "
                                                      "FROM server_fields f "
                                                      "JOIN server_device_ids d ON d.dev = f.dev "
                                                      "WHERE f.rid = ?1 AND (f.version > ?2 OR "
                                                      "f.field IN ('@form', '@form_version')) ORDER BY f.version"));
    fields.Bind(1, rid).Bind(2, since).Bind(3, dev);
    size_t first = page.changes.size();
    bool any_new = false;
    while (true) {
      TIANYE_ASSIGN_OR_RETURN(bool f, fields.Step());
      if (!f) break;
      std::string field = fields.Text(0);
      const bool places = field == "@form" || field == "@form_version";
      // A field this device set last is not sent back: it has the value, and
      // learnt the version from the push's answer.
      const bool own = fields.Int(6) != 0;
      if (own && !places) continue;
      any_new = any_new || (fields.Int(2) > since && !own);
      page.changes.push_back({id, std::move(field), OptionalText(fields, 1), fields.Int(2), fields.Text(3),
                              fields.Text(4), static_cast<uint64_t>(fields.Int(5))});
    }
    // A record's form travels with any part of it, so a device can always
    // place it; alone, it is not news.
    if (!any_new) page.changes.resize(first);
    TIANYE_ASSIGN_OR_RETURN(Stmt conflicts, conn.Prepare("SELECT id, record_id, field, state, base_value, "
                                                         "candidates, resolution, version, created_ms FROM conflicts "
                                                         "WHERE record_id = ?1 AND version > ?2 ORDER BY version"));
    conflicts.Bind(1, id).Bind(2, cursor.from);
    while (true) {
      TIANYE_ASSIGN_OR_RETURN(bool c, conflicts.Step());
      if (!c) break;
      TIANYE_ASSIGN_OR_RETURN(Conflict conflict, Ledger::ReadConflict(conflicts));
      page.conflicts.push_back(std::move(conflict));
    }
  }
  page.has_more = !exhausted;
  const int64_t to = exhausted ? seq : through;
  TIANYE_ASSIGN_OR_RETURN(std::string tag, CursorTag(conn, to));
  page.cursor = epoch + "." + std::to_string(to) + "." + tag;
  if (!exhausted && cursor.from < to) page.cursor += "." + std::to_string(cursor.from);
  TIANYE_ASSIGN_OR_RETURN(page.acked_through, AckedThrough(who.device_id));
  TIANYE_RETURN_IF_ERROR(tx.Commit());
  return page;
}

Result<Conflict> SyncLedger::Resolve(const Principal& who, std::string_view conflict_id,
                                     const std::optional<std::string>& value, int64_t seen_version,
                                     std::string_view note, std::string_view how) {
  if (!IsReviewer(who)) return Status::PermissionDenied("review_forbidden: only a supervisor can resolve conflicts");
  TIANYE_ASSIGN_OR_RETURN(Transaction tx, store_->Begin());
  Ledger ledger(*store_, forms_);
  TIANYE_ASSIGN_OR_RETURN(Conflict c, ledger.LoadConflict(conflict_id));
  TIANYE_ASSIGN_OR_RETURN(bool visible, ledger.Visible(who, c.record_id));
  if (!visible) return Status::NotFound("no conflict with id " + std::string(conflict_id));
  if (c.state != "open") {
    return Status::Conflict("already_resolved: this conflict was resolved already; reload to see the decision");
  }
  if (c.version != seen_version) {
    return Status::Conflict("conflict_changed: another value arrived since you looked (version " +
                            std::to_string(seen_version) + ", now " + std::to_string(c.version) + "); reload");
  }
  Candidate by{value, kServerDevice, who.username, Hlc::Pack(ledger.now(), 0), false, ledger.now()};
  TIANYE_ASSIGN_OR_RETURN(c.version, ledger.NextVersion());
  TIANYE_RETURN_IF_ERROR(ledger.Write(c.record_id, c.field, by, value, c.version, kServerDevice, std::nullopt, "resolve"));
  if (how.empty()) {
    how = std::any_of(c.candidates.begin(), c.candidates.end(), [&](const Candidate& x) { return x.value == value; })
              ? "take"
              : "merged";
  }
  c.state = "resolved";
  c.resolution_json = nlohmann::json{{"by", who.username},
                                     {"how", std::string(how)},
                                     {"at_ms", ledger.now()},
                                     {"value", value ? nlohmann::json(*value) : nlohmann::json(nullptr)},
                                     {"note", std::string(note)}}
                          .dump();
  TIANYE_RETURN_IF_ERROR(ledger.SaveConflict(c));
  TIANYE_RETURN_IF_ERROR(ledger.Commit(tx));
  return c;
}

Result<Conflict> SyncLedger::GetConflict(const Principal& who, std::string_view conflict_id) {
  Ledger ledger(*store_, forms_);
  TIANYE_ASSIGN_OR_RETURN(Conflict c, ledger.LoadConflict(conflict_id));
  TIANYE_ASSIGN_OR_RETURN(bool visible, ledger.Visible(who, c.record_id));
  if (!visible) return Status::NotFound("no conflict with id " + std::string(conflict_id));
  return c;
}

Status SyncLedger::SetRecordField(const Principal& who, std::string_view record_id, std::string_view field,
                                  const std::optional<std::string>& value, int64_t seen_version) {
  static const std::set<std::string, std::less<>> kStatuses = {"finalized", "approved", "returned", "rejected",
                                                                "has_issues"};
  if (!IsReviewer(who)) return Status::PermissionDenied("review_forbidden: only a supervisor can review records");
  if (field != "@status" && field != "@comment") {
    return Status::InvalidArgument("a reviewer sets @status or @comment, not " + std::string(field));
  }
  if (field == "@status" && (!value || kStatuses.count(*value) == 0)) {
    return Status::InvalidArgument("unknown review status '" + value.value_or("") + "'");
  }
  TIANYE_ASSIGN_OR_RETURN(Transaction tx, store_->Begin());
  Ledger ledger(*store_, forms_);
  std::string id(record_id);
  TIANYE_ASSIGN_OR_RETURN(bool visible, ledger.Visible(who, id));
  std::string author;
  Result<AreaCodes> area = ledger.AreaOf(id, &author);
  if (!area || !visible) return Status::NotFound("no record with id " + id);
  if (seen_version > 0) {
    TIANYE_ASSIGN_OR_RETURN(Stmt s, StoreAccess::Conn(*store_).Prepare(
                                        "SELECT version FROM server_records WHERE record_id = ?"));
    s.Bind(1, id);
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (row && s.Int(0) != seen_version) {
      return Status::Conflict("record_changed: the record changed since you opened it (version " +
                              std::to_string(seen_version) + ", now " + std::to_string(s.Int(0)) + "); reload");
    }
  }
  Candidate by{value, kServerDevice, who.username, Hlc::Pack(ledger.now(), 0), false, ledger.now()};
  TIANYE_ASSIGN_OR_RETURN(int64_t version, ledger.NextVersion());
  TIANYE_RETURN_IF_ERROR(ledger.Write(id, std::string(field), by, value, version, kServerDevice, std::nullopt, "review"));
  return ledger.Commit(tx);
}

Result<int64_t> SyncLedger::AckedThrough(std::string_view device_id) {
  TIANYE_ASSIGN_OR_RETURN(Stmt s, StoreAccess::Conn(*store_).Prepare(
                                      "SELECT last_push_seq FROM server_devices WHERE device_id = ?"));
  s.Bind(1, device_id);
  TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? s.Int(0) : int64_t{0};
}

Result<std::vector<Conflict>> SyncLedger::Conflicts(std::string_view record_id) {
  TIANYE_ASSIGN_OR_RETURN(Stmt s, StoreAccess::Conn(*store_).Prepare(
                                      "SELECT id, record_id, field, state, base_value, candidates, resolution, "
                                      "version, created_ms FROM conflicts WHERE (?1 = '' OR record_id = ?1) "
                                      "ORDER BY record_id, field, id"));
  s.Bind(1, record_id);
  std::vector<Conflict> out;
  while (true) {
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    TIANYE_ASSIGN_OR_RETURN(Conflict c, Ledger::ReadConflict(s));
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<Conflict>> SyncLedger::Conflicts(const Principal& who, std::string_view record_id) {
  TIANYE_ASSIGN_OR_RETURN(std::vector<Conflict> all, Conflicts(record_id));
  Ledger ledger(*store_, forms_);
  std::map<std::string, bool> visible;
  std::vector<Conflict> out;
  for (Conflict& c : all) {
    auto it = visible.find(c.record_id);
    if (it == visible.end()) {
      TIANYE_ASSIGN_OR_RETURN(bool v, ledger.Visible(who, c.record_id));
      it = visible.emplace(c.record_id, v).first;
    }
    if (it->second) out.push_back(std::move(c));
  }
  return out;
}

Result<std::optional<FieldMap>> internal::ServerFieldsOf(Connection& conn, std::string_view record_id) {
  TIANYE_ASSIGN_OR_RETURN(Stmt s, conn.Prepare("SELECT f.field, f.value FROM server_fields f JOIN server_records r "
                                               "ON r.rid = f.rid WHERE r.record_id = ?"));
  s.Bind(1, record_id);
  std::optional<FieldMap> out;
  while (true) {
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    if (!out) out.emplace();
    if (!s.IsNull(1)) (*out)[s.Text(0)] = s.Text(1);
  }
  return out;
}

Result<FieldMap> SyncLedger::Fields(std::string_view record_id) {
  TIANYE_ASSIGN_OR_RETURN(std::optional<FieldMap> fields,
                          internal::ServerFieldsOf(StoreAccess::Conn(*store_), record_id));
  if (!fields) return Status::NotFound("no record with id " + std::string(record_id));
  return *std::move(fields);
}

}  // namespace tianye
