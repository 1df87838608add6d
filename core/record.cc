#include "tianye/record.h"

#include <nlohmann/json.hpp>

#include <array>
#include <string>
#include <utility>

#include "sqlite.h"
#include "store_impl.h"
#include "sync_internal.h"
#include "tianye/uuid.h"

namespace tianye {
namespace {

using internal::Stmt;
using internal::StoreAccess;

constexpr std::array<std::pair<RecordStatus, std::string_view>, 6> kStatusNames = {{
    {RecordStatus::kDraft, "draft"},
    {RecordStatus::kFinalized, "finalized"},
    {RecordStatus::kSynced, "synced"},
    {RecordStatus::kApproved, "approved"},
    {RecordStatus::kReturned, "returned"},
    {RecordStatus::kRejected, "rejected"},
}};

constexpr const char* kColumns =
    "id, form_id, form_version, county_code, township_code, village_code, author, status, data, "
    "created_ms, updated_ms, deleted_ms, resume_path, review_comment";

// Checks that `json` is a JSON object and returns it in compact form.
Result<std::string> NormalizeValues(std::string_view json) {
  nlohmann::json parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return Status::InvalidArgument("record values are not valid JSON");
  if (!parsed.is_object()) return Status::InvalidArgument("record values must be a JSON object");
  return parsed.dump();
}

Result<Record> ReadRow(Stmt& stmt) {
  Record r;
  r.id = stmt.Text(0);
  r.form_id = stmt.Text(1);
  r.form_version = stmt.Text(2);
  r.area = {stmt.Text(3), stmt.Text(4), stmt.Text(5)};
  r.author = stmt.Text(6);
  TIANYE_ASSIGN_OR_RETURN(r.status, ParseRecordStatus(stmt.Text(7)));
  r.values_json = stmt.Text(8);
  r.created_ms = stmt.Int(9);
  r.updated_ms = stmt.Int(10);
  r.deleted_ms = stmt.OptionalInt(11);
  r.resume_path = stmt.Text(12);
  r.review_comment = stmt.Text(13);
  return r;
}

Status NotFound(std::string_view id) {
  return Status::NotFound("no record with id " + std::string(id));
}

}  // namespace

std::string_view RecordStatusName(RecordStatus status) {
  for (const auto& [s, name] : kStatusNames) {
    if (s == status) return name;
  }
  return "unknown";
}

Result<RecordStatus> ParseRecordStatus(std::string_view name) {
  for (const auto& [s, n] : kStatusNames) {
    if (n == name) return s;
  }
  return Status::InvalidArgument("unknown record status '" + std::string(name) +
                                 "' (expected draft, finalized, synced, approved, returned or "
                                 "rejected)");
}

Result<Record> RecordStore::Create(const NewRecord& nr) {
  if (nr.form_id.empty()) return Status::InvalidArgument("a record needs a form id");
  if (!nr.id.empty() && !IsCanonicalUuid(nr.id)) {
    return Status::InvalidArgument("record id '" + nr.id + "' is not a lower-case UUID");
  }
  TIANYE_ASSIGN_OR_RETURN(std::string values, NormalizeValues(nr.values_json));
  const Clock& clock = StoreAccess::ClockOf(*store_);
  Record r;
  r.id = nr.id.empty() ? NewUuidV7(clock) : nr.id;
  r.form_id = nr.form_id;
  r.form_version = nr.form_version;
  r.area = nr.area;
  r.author = nr.author;
  r.status = nr.status;
  r.values_json = std::move(values);
  r.created_ms = r.updated_ms = clock.NowMillis();

  TIANYE_ASSIGN_OR_RETURN(Transaction tx, store_->Begin());
  TIANYE_ASSIGN_OR_RETURN(
      Stmt stmt,
      StoreAccess::Conn(*store_).Prepare(
          "INSERT INTO records (id, form_id, form_version, county_code, township_code, "
          "village_code, author, status, data, created_ms, updated_ms) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  stmt.Bind(1, r.id).Bind(2, r.form_id).Bind(3, r.form_version);
  stmt.Bind(4, r.area.county).Bind(5, r.area.township).Bind(6, r.area.village);
  stmt.Bind(7, r.author).Bind(8, RecordStatusName(r.status)).Bind(9, r.values_json);
  stmt.Bind(10, r.created_ms).Bind(11, r.updated_ms);
  Status s = stmt.Run();
  if (s.code() == StatusCode::kAlreadyExists) {
    return Status::AlreadyExists("a record with id " + r.id + " already exists");
  }
  TIANYE_RETURN_IF_ERROR(s);
  TIANYE_RETURN_IF_ERROR(internal::CaptureRecordChange(*store_, std::nullopt, r));
  TIANYE_RETURN_IF_ERROR(tx.Commit());
  return r;
}

Result<Record> RecordStore::Get(std::string_view id) {
  TIANYE_ASSIGN_OR_RETURN(Stmt stmt, StoreAccess::Conn(*store_).Prepare(
                                         std::string("SELECT ") + kColumns +
                                         " FROM records WHERE id = ?"));
  stmt.Bind(1, id);
  TIANYE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return NotFound(id);
  return ReadRow(stmt);
}

Result<Record> RecordStore::Update(const Record& record) {
  TIANYE_ASSIGN_OR_RETURN(std::string values, NormalizeValues(record.values_json));
  int64_t now = StoreAccess::ClockOf(*store_).NowMillis();
  TIANYE_ASSIGN_OR_RETURN(Transaction tx, store_->Begin());
  TIANYE_ASSIGN_OR_RETURN(Record before, Get(record.id));
  TIANYE_ASSIGN_OR_RETURN(
      Stmt stmt, StoreAccess::Conn(*store_).Prepare(
                     "UPDATE records SET form_version = ?, county_code = ?, township_code = ?, "
                     "village_code = ?, author = ?, status = ?, data = ?, updated_ms = ?, "
                     "resume_path = ?, review_comment = ? WHERE id = ?"));
  stmt.Bind(1, record.form_version).Bind(2, record.area.county).Bind(3, record.area.township);
  stmt.Bind(4, record.area.village).Bind(5, record.author).Bind(6, RecordStatusName(record.status));
  stmt.Bind(7, values).Bind(8, now).Bind(9, record.resume_path).Bind(10, record.review_comment);
  stmt.Bind(11, record.id);
  TIANYE_RETURN_IF_ERROR(stmt.Run());
  if (StoreAccess::Conn(*store_).Changes() == 0) return NotFound(record.id);
  TIANYE_ASSIGN_OR_RETURN(Record after, Get(record.id));
  TIANYE_RETURN_IF_ERROR(internal::CaptureRecordChange(*store_, before, after));
  TIANYE_RETURN_IF_ERROR(tx.Commit());
  return after;
}

namespace {

constexpr const char* kFilterWhere =
    " FROM records WHERE (?1 = '' OR form_id = ?1) AND (?2 IS NULL OR status = ?2) "
    "AND CASE ?3 WHEN 0 THEN deleted_ms IS NULL WHEN 2 THEN deleted_ms IS NOT NULL ELSE 1 END "
    "AND id > ?4";

void BindFilter(Stmt& stmt, const RecordFilter& f) {
  stmt.Bind(1, f.form_id);
  if (f.status) {
    stmt.Bind(2, RecordStatusName(*f.status));
  } else {
    stmt.BindNull(2);
  }
  int deleted = f.deleted == RecordFilter::Deleted::kExclude ? 0
                : f.deleted == RecordFilter::Deleted::kOnly  ? 2
                                                             : 1;
  stmt.Bind(3, static_cast<int64_t>(deleted));
  stmt.Bind(4, f.after_id);
}

}  // namespace

Result<std::vector<Record>> RecordStore::List(const RecordFilter& filter) {
  TIANYE_ASSIGN_OR_RETURN(Stmt stmt, StoreAccess::Conn(*store_).Prepare(
                                         std::string("SELECT ") + kColumns + kFilterWhere +
                                         " ORDER BY id LIMIT ?5"));
  BindFilter(stmt, filter);
  stmt.Bind(5, static_cast<int64_t>(filter.limit > 0 ? filter.limit : -1));
  std::vector<Record> out;
  while (true) {
    TIANYE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    TIANYE_ASSIGN_OR_RETURN(Record r, ReadRow(stmt));
    out.push_back(std::move(r));
  }
  return out;
}

Result<int64_t> RecordStore::Count(const RecordFilter& filter) {
  TIANYE_ASSIGN_OR_RETURN(Stmt stmt, StoreAccess::Conn(*store_).Prepare(
                                         std::string("SELECT count(*)") + kFilterWhere));
  BindFilter(stmt, filter);
  TIANYE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? stmt.Int(0) : 0;
}

namespace {

Status SetDeleted(RecordStore* records, Store* store, std::string_view id, bool deleted) {
  int64_t now = StoreAccess::ClockOf(*store).NowMillis();
  TIANYE_ASSIGN_OR_RETURN(Transaction tx, store->Begin());
  TIANYE_ASSIGN_OR_RETURN(Record before, records->Get(id));
  TIANYE_ASSIGN_OR_RETURN(
      Stmt stmt,
      StoreAccess::Conn(*store).Prepare(
          "UPDATE records SET deleted_ms = CASE WHEN ?1 THEN coalesce(deleted_ms, ?2) END, "
          "updated_ms = ?2 WHERE id = ?3"));
  stmt.Bind(1, static_cast<int64_t>(deleted)).Bind(2, now).Bind(3, id);
  TIANYE_RETURN_IF_ERROR(stmt.Run());
  TIANYE_ASSIGN_OR_RETURN(Record after, records->Get(id));
  TIANYE_RETURN_IF_ERROR(internal::CaptureRecordChange(*store, before, after));
  return tx.Commit();
}

}  // namespace

Status RecordStore::Delete(std::string_view id) { return SetDeleted(this, store_, id, true); }
Status RecordStore::Restore(std::string_view id) { return SetDeleted(this, store_, id, false); }

}  // namespace tianye
