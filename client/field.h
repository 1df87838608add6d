// Field: what an inspector does with an unlocked store — start a record of an
// installed form, answer questions (each answer saved at once), add repeat
// instances, attach photos, finalize, delete. The CLI and the local web UI
// both call this, so they behave the same.
//
// Thread safety: not thread-safe (the UI server calls it from one worker).
#ifndef TIANYE_CLIENT_FIELD_H_
#define TIANYE_CLIENT_FIELD_H_

#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "tianye/attachment.h"
#include "tianye/form_session.h"
#include "tianye/form_store.h"
#include "tianye/record.h"
#include "tianye/store.h"

namespace tianye::cli {

struct FieldOptions {
  // Who makes new records ("" = the user this device last logged in to the
  // server as, else "inspector").
  std::string username;
  std::string device_id;
  std::string language = "zh";
};

class Field {
 public:
  Field(std::unique_ptr<Store> store, FieldOptions options);

  Store& store() { return *store_; }
  FormStore& forms() { return forms_; }
  RecordStore& records() { return records_; }
  AttachmentStore& attachments() { return attachments_; }
  const FieldOptions& options() const { return options_; }
  void set_language(const std::string& lang);

  // Starts a draft of the latest installed version of `form_id`.
  Result<Record> NewRecord(const std::string& form_id);

  // The session of a record (kept open for the few most recent records).
  // Errors: kNotFound; kFailedPrecondition when the record is not editable
  // (finalized, synced, approved or deleted).
  Result<FormSession*> Open(const std::string& record_id);

  // Each of these saves the record before returning (autosave): killing the
  // process afterwards loses nothing.
  Result<std::vector<NodeState>> Answer(const std::string& record_id, const std::string& path,
                                        const std::string& value);
  Result<std::vector<NodeState>> AddRepeat(const std::string& record_id, const std::string& path);
  Result<std::vector<NodeState>> RemoveRepeat(const std::string& record_id, const std::string& path);
  Result<std::vector<NodeState>> MoveRepeat(const std::string& record_id, const std::string& path, int to);

  // Stores a photo (streamed, encrypted, deduplicated), links it to the
  // record and answers `path` with its name "<sha256>.<ext>".
  Result<std::vector<NodeState>> AttachFile(const std::string& record_id, const std::string& path,
                                            const std::string& file, const std::string& mime);

  // Validates everything; with no problems the record becomes finalized and
  // keeps only the answers that are shown. Returns the problems (empty: done).
  Result<std::vector<FinalizeProblem>> Finalize(const std::string& record_id);

  // Drops the open sessions: after a sync changed records underneath them.
  void ForgetSessions() { open_.clear(); }

  // Where the record's UI position is kept.
  Status SetResumePath(const std::string& record_id, const std::string& path);

 private:
  // SessionOptions for a record, with the author as `username`.
  SessionOptions SessionFor() const;
  // options_.username, or the device's logged-in sync user, or "inspector".
  std::string Author() const;

  struct Open_ {
    std::string record_id;
    std::unique_ptr<FormSession> session;
  };
  // Checks the record is editable, applies `change` to its session and saves
  // the record before returning.
  Result<std::vector<NodeState>> Edit(
      const std::string& record_id, const std::string& resume_path,
      const std::function<Result<std::vector<NodeState>>(FormSession&)>& change);

  std::unique_ptr<Store> store_;
  FieldOptions options_;
  FormStore forms_;
  RecordStore records_;
  AttachmentStore attachments_;
  std::list<Open_> open_;  // most recent first
};

}  // namespace tianye::cli

#endif  // TIANYE_CLIENT_FIELD_H_
