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
  std::vector<FinalizeProblem> problems = (*session)->Finalize();
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

  TIANYE_ASSIGN_OR_RETURN(Transaction tx, store_->Begin());
  for (const Due& d : batch) {
    int64_t problems = 0, photos_missing = 0;
    if (!d.deleted) {
      Result<std::shared_ptr<const FormDef>> form = forms_->Load(d.form_id, d.form_version);
      if (!form) {
        problems = -1;  // a form version the server does not have: nothing to check against
      } else {
        TIANYE_ASSIGN_OR_RETURN(std::optional<FieldMap> fields, internal::ServerFieldsOf(conn, d.id));
        Record record;
        ApplyFields(fields.value_or(FieldMap{}), &record);
        const std::vector<FinalizeProblem> found = CheckAnswers(*form, record, "zh", &store_->clock());
        problems = static_cast<int64_t>(found.size());
        for (const FinalizeProblem& p : found) {
          // "problems[2]/prob_photo_after" names the question prob_photo_after.
          const Question* q = (*form)->Find(p.path.substr(p.path.rfind('/') + 1));
          photos_missing += p.missing && q != nullptr && q->type == QuestionType::kImage;
        }
      }
    }
    TIANYE_ASSIGN_OR_RETURN(Stmt keep, conn.Prepare("UPDATE server_records SET checked_version = ?, "
                                                    "form_problems = ?, photos_missing = ? WHERE record_id = ?"));
    keep.Bind(1, d.version).Bind(2, problems).Bind(3, photos_missing).Bind(4, d.id);
    TIANYE_RETURN_IF_ERROR(keep.Run());
    // The dashboard reads the count beside the record's other figures (the
    // ledger gives every record its facts row; SQLite's only so far).
    if (conn.dialect() != internal::Dialect::kSqlite) continue;
    TIANYE_ASSIGN_OR_RETURN(Stmt fact, conn.Prepare("UPDATE server_facts SET form_problems = ?, photos_missing = ? "
                                                    "WHERE record_id = ?"));
    fact.Bind(1, problems).Bind(2, photos_missing).Bind(3, d.id);
    TIANYE_RETURN_IF_ERROR(fact.Run());
  }
  TIANYE_RETURN_IF_ERROR(tx.Commit());
  return static_cast<int>(batch.size());
}

Result<int64_t> RecordChecker::Waiting() {
  return internal::StoreAccess::Conn(*store_).QueryInt(
      "SELECT count(*) FROM server_records WHERE checked_version < version");
}

}  // namespace tianye
