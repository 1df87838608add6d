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

Result<int> RecordChecker::CheckChanged(int max_records) {
  Connection& conn = internal::StoreAccess::Conn(*store_);
  struct Due {
    std::string id, form_id, form_version;
    bool deleted;
    int64_t version;
  };
  std::vector<Due> batch;
  {  // read through the partial index of records changed since their check
    TIANYE_ASSIGN_OR_RETURN(Stmt due, conn.Prepare("SELECT record_id, form_id, form_version, deleted, version "
                                                   "FROM server_records WHERE checked_version < version "
                                                   "ORDER BY version LIMIT ?"));
    due.Bind(1, static_cast<int64_t>(max_records));
    while (true) {
      TIANYE_ASSIGN_OR_RETURN(bool row, due.Step());
      if (!row) break;
      batch.push_back({due.Text(0), due.Text(1), due.Text(2), due.Int(3) != 0, due.Int(4)});
    }
  }
  if (batch.empty()) return 0;

  // Checked outside the write transaction: a record changed meanwhile
  // keeps checked_version below its version and is checked again.
  struct Checked {
    int64_t problems = 0, photos_missing = 0;
  };
  std::vector<Checked> results(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    const Due& d = batch[i];
    if (d.deleted) continue;
    Result<std::shared_ptr<const FormDef>> form = forms_->Load(d.form_id, d.form_version);
    if (!form) {
      results[i].problems = -1;  // a form version the server does not have: nothing to check against
      continue;
    }
    TIANYE_ASSIGN_OR_RETURN(std::optional<FieldMap> fields, internal::ServerFieldsOf(conn, d.id));
    Record record;
    ApplyFields(fields.value_or(FieldMap{}), &record);
    const std::vector<FinalizeProblem> found = CheckAnswers(*form, record, "zh", &store_->clock());
    results[i].problems = static_cast<int64_t>(found.size());
    for (const FinalizeProblem& p : found) {
      // "problems[2]/prob_photo_after" names the question prob_photo_after.
      const Question* q = (*form)->Find(p.path.substr(p.path.rfind('/') + 1));
      results[i].photos_missing += p.missing && q != nullptr && q->type == QuestionType::kImage;
    }
  }

  TIANYE_ASSIGN_OR_RETURN(Transaction tx, store_->Begin());
  const bool sqlite = conn.dialect() == internal::Dialect::kSqlite;
  // A result lost in a crash is found again by the next check: PostgreSQL
  // need not wait for the disk (SQLite's commit is one fsync in any case).
  if (!sqlite) TIANYE_RETURN_IF_ERROR(conn.Exec("SET LOCAL synchronous_commit TO OFF"));
  for (size_t i = 0; i < batch.size(); ++i) {
    const Due& d = batch[i];
    // Never over a later check (another server's, on PostgreSQL).
    TIANYE_ASSIGN_OR_RETURN(Stmt keep, conn.Prepare("UPDATE server_records SET checked_version = ?1, "
                                                    "form_problems = ?2, photos_missing = ?3 "
                                                    "WHERE record_id = ?4 AND checked_version < ?1"));
    keep.Bind(1, d.version).Bind(2, results[i].problems).Bind(3, results[i].photos_missing).Bind(4, d.id);
    TIANYE_RETURN_IF_ERROR(keep.RunDeferred());
    // The dashboard reads the count beside the record's other figures (the
    // ledger gives every record its facts row).
    TIANYE_ASSIGN_OR_RETURN(Stmt fact, conn.Prepare("UPDATE server_facts SET form_problems = ?, photos_missing = ? "
                                                    "WHERE record_id = ?"));
    fact.Bind(1, results[i].problems).Bind(2, results[i].photos_missing).Bind(3, d.id);
    TIANYE_RETURN_IF_ERROR(fact.RunDeferred());
  }
  TIANYE_RETURN_IF_ERROR(tx.Commit());
  return static_cast<int>(batch.size());
}

Result<int64_t> RecordChecker::Waiting() {
  return internal::StoreAccess::Conn(*store_).QueryInt(
      "SELECT count(*) FROM server_records WHERE checked_version < version");
}

}  // namespace tianye
