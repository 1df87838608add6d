#include "tianye/form_check.h"

#include "sqlite.h"
#include "store_impl.h"
#include "sync_internal.h"
#include "tianye/sync.h"

namespace tianye {

using internal::Connection;
using internal::Stmt;

std::vector<FinalizeProblem> CheckAnswers(std::shared_ptr<const FormDef> form, const Record& record,
                                          std::string_view language, const Clock* clock) {
  SessionOptions options;
  options.language = std::string(language);
  options.clock = clock;
  Result<std::unique_ptr<FormSession>> session = FormSession::Open(std::move(form), record.values_json, options);
  if (!session) return {{"", session.error().message()}};  // answers that are not a JSON object
  // As stored: the device set `end` when it finalized the record.
  std::vector<FinalizeProblem> problems = (*session)->Problems();
  if (record.status == RecordStatus::kDraft) {  // a draft may still lack answers
    std::erase_if(problems, [](const FinalizeProblem& p) { return p.missing; });
  }
  return problems;
}

Result<CheckBatch> RecordChecker::Take(int max_records) {
  Connection& conn = internal::StoreAccess::Conn(*store_);
  CheckBatch batch;
  {  // read through the partial index of records changed since their check
    TIANYE_ASSIGN_OR_RETURN(Stmt due, conn.Prepare("SELECT record_id, form_id, form_version, deleted, version "
                                                   "FROM server_records WHERE checked_version < version "
                                                   "ORDER BY version LIMIT ?"));
    due.Bind(1, static_cast<int64_t>(max_records));
    while (true) {
      TIANYE_ASSIGN_OR_RETURN(bool row, due.Step());
      if (!row) break;
      CheckBatch::Item item;
      item.record_id = due.Text(0);
      item.record.form_id = due.Text(1);
      item.record.form_version = due.Text(2);
      item.deleted = due.Int(3) != 0;
      item.version = due.Int(4);
      batch.items_.push_back(std::move(item));
    }
  }
  for (CheckBatch::Item& item : batch.items_) {
    if (item.deleted) continue;
    Result<std::shared_ptr<const FormDef>> form = forms_->Load(item.record.form_id, item.record.form_version);
    if (!form) continue;  // a form version the server does not have: nothing to check against
    item.form = std::move(*form);
    TIANYE_ASSIGN_OR_RETURN(std::optional<FieldMap> fields, internal::ServerFieldsOf(conn, item.record_id));
    ApplyFields(fields.value_or(FieldMap{}), &item.record);
  }
  return batch;
}

void CheckBatch::Check(const Clock* clock) {
  for (Item& item : items_) {
    item.problems = item.photos_missing = 0;
    if (item.deleted) continue;
    if (item.form == nullptr) {
      item.problems = -1;
      continue;
    }
    const std::vector<FinalizeProblem> found = CheckAnswers(item.form, item.record, "zh", clock);
    item.problems = static_cast<int64_t>(found.size());
    for (const FinalizeProblem& p : found) {
      // "problems[2]/prob_photo_after" names the question prob_photo_after.
      const Question* q = item.form->Find(p.path.substr(p.path.rfind('/') + 1));
      item.photos_missing += p.missing && q != nullptr && q->type == QuestionType::kImage;
    }
  }
}

Status RecordChecker::Keep(const CheckBatch& batch) {
  if (batch.items_.empty()) return Status::Ok();
  Connection& conn = internal::StoreAccess::Conn(*store_);
  TIANYE_ASSIGN_OR_RETURN(Transaction tx, store_->Begin());
  const bool sqlite = conn.dialect() == internal::Dialect::kSqlite;
  // A result lost in a crash is found again by the next check: PostgreSQL
  // need not wait for the disk (SQLite's commit is one fsync in any case).
  if (!sqlite) TIANYE_RETURN_IF_ERROR(conn.Exec("SET LOCAL synchronous_commit TO OFF"));
  for (const CheckBatch::Item& item : batch.items_) {
    // Never over a later check (another server's, on PostgreSQL).
    TIANYE_ASSIGN_OR_RETURN(Stmt keep, conn.Prepare("UPDATE server_records SET checked_version = ?1, "
                                                    "form_problems = ?2, photos_missing = ?3 "
                                                    "WHERE record_id = ?4 AND checked_version < ?1"));
    keep.Bind(1, item.version).Bind(2, item.problems).Bind(3, item.photos_missing).Bind(4, item.record_id);
    TIANYE_RETURN_IF_ERROR(keep.RunDeferred());
    // The dashboard reads the count beside the record's other figures (the
    // ledger gives every record its facts row), unless the record changed
    // since Take: the ledger has set its figures anew, and it waits for
    // its next check.
    TIANYE_ASSIGN_OR_RETURN(Stmt fact, conn.Prepare("UPDATE server_facts SET form_problems = ?1, photos_missing = ?2 "
                                                    "WHERE record_id = ?3 AND (SELECT version FROM server_records r "
                                                    "WHERE r.record_id = ?3) = ?4"));
    fact.Bind(1, item.problems).Bind(2, item.photos_missing).Bind(3, item.record_id).Bind(4, item.version);
    TIANYE_RETURN_IF_ERROR(fact.RunDeferred());
  }
  return tx.Commit();
}

Result<int> RecordChecker::CheckChanged(int max_records) {
  TIANYE_ASSIGN_OR_RETURN(CheckBatch batch, Take(max_records));
  batch.Check(&store_->clock());
  TIANYE_RETURN_IF_ERROR(Keep(batch));
  return static_cast<int>(batch.size());
}

Result<int64_t> RecordChecker::Waiting() {
  return internal::StoreAccess::Conn(*store_).QueryInt(
      "SELECT count(*) FROM server_records WHERE checked_version < version");
}

}  // namespace tianye
