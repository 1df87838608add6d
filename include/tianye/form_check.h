// The server's own check of synced records against their forms, with the
// same FormSession the devices fill records in. Each device checks its
// answers before it finalizes, but two devices' edits that each passed can
// fail together once merged (one moves the survey date past the deadline
// the other set for a rectification), and a record made under an older
// form version may fail the checks of its own version's expressions read
// with today's date. Supervisors filter the queue on such records
// ("constraint problems") and the record page lists the problems.
//
// A check costs a fraction of a millisecond per record, so pushes do not pay
// for it: the server checks records whose version moved past their last
// check a few at a time in the background (CheckChanged), and the queue
// tells how many still wait.
//
// Thread safety: RecordChecker as the Store (not thread-safe); the server
// serialises its calls. CheckBatch::Check reads no store, so a server runs
// it without holding the store's lock.
#ifndef TIANYE_FORM_CHECK_H_
#define TIANYE_FORM_CHECK_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tianye/clock.h"
#include "tianye/form.h"
#include "tianye/form_session.h"
#include "tianye/form_store.h"
#include "tianye/record.h"
#include "tianye/status.h"
#include "tianye/store.h"

namespace tianye {

// The problems of `record`'s answers against `form`, messages in `language`:
// failed constraints and answers of the wrong type, and, unless the record
// is a draft, required answers not given. Empty: the record passes.
// `clock` gives today() and now(); nullptr: SystemClock().
std::vector<FinalizeProblem> CheckAnswers(std::shared_ptr<const FormDef> form, const Record& record,
                                          std::string_view language, const Clock* clock);

// Records due for a check with their answers and forms, as
// RecordChecker::Take read them; Check finds their problems.
class CheckBatch {
 public:
  size_t size() const { return items_.size(); }
  // Checks each record against its form (`clock`: today() and now()).
  // Reads no store.
  void Check(const Clock* clock);

 private:
  friend class RecordChecker;
  struct Item {
    std::string record_id;
    int64_t version = 0;                   // the version checked
    std::shared_ptr<const FormDef> form;  // null: deleted, or its form version is not installed
    bool deleted = false;
    Record record;
    int64_t problems = 0, photos_missing = 0;
  };
  std::vector<Item> items_;
};

class RecordChecker {
 public:
  // `store` and `forms` are not owned and must outlive this object. Checks
  // read the time from the store's clock.
  RecordChecker(Store* store, FormStore* forms) : store_(store), forms_(forms) {}

  // Checks up to `max_records` records (of the server's records) changed
  // since their last check, and keeps how many problems each has: what
  // RecordRow::form_problems reads (-1 when its form version is not
  // installed on the server; 0 for a deleted record). Returns how many it
  // checked; 0 when none waits. The same as Take, CheckBatch::Check, Keep.
  Result<int> CheckChanged(int max_records);

  // CheckChanged in its steps, for a caller that locks the store only
  // around Take and Keep. Take reads up to `max_records` records due, in
  // the order they changed. Keep stores the batch's counts; a record
  // changed since Take keeps waiting (its count is of an older version, and
  // the dashboard does not show it).
  Result<CheckBatch> Take(int max_records);
  Status Keep(const CheckBatch& batch);

  // How many records wait for a check.
  Result<int64_t> Waiting();

 private:
  Store* store_;
  FormStore* forms_;
};

}  // namespace tianye

#endif  // TIANYE_FORM_CHECK_H_
