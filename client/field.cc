#include "field.h"

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>

namespace tianye::cli {
namespace {

constexpr size_t kOpenSessions = 8;

bool Editable(RecordStatus s) { return s == RecordStatus::kDraft || s == RecordStatus::kReturned; }

// The area codes of a record, from the header's county/town/village answers.
AreaCodes AreaOf(const std::string& values_json) {
  nlohmann::json v = nlohmann::json::parse(values_json, nullptr, false);
  AreaCodes a;
  if (!v.is_object()) return a;
  auto get = [&](const char* k) { return v.contains(k) && v[k].is_string() ? v[k].get<std::string>() : ""; };
  a.county = get("county");
  a.township = get("town");
  a.village = get("village");
  return a;
}

std::string Extension(const std::string& mime) {
  if (mime == "image/jpeg") return "jpg";
  if (mime == "image/png") return "png";
  if (mime == "image/webp") return "webp";
  if (mime == "image/heic") return "heic";
  if (mime == "image/bmp") return "bmp";
  return "bin";
}

}  // namespace

Field::Field(std::unique_ptr<Store> store, FieldOptions options)
    : store_(std::move(store)),
      options_(std::move(options)),
      forms_(store_.get()),
      records_(store_.get()),
      attachments_(store_.get()) {}

void Field::set_language(const std::string& lang) {
  options_.language = lang;
  for (Open_& o : open_) o.session->SetLanguage(lang);
}

std::string Field::Author() const {
  if (!options_.username.empty()) return options_.username;
  Result<std::optional<std::string>> user = store_->GetSetting("sync.user");
  return user && *user && !(*user)->empty() ? **user : "inspector";
}

SessionOptions Field::SessionFor() const {
  SessionOptions so;
  so.language = options_.language;
  so.username = Author();
  so.device_id = options_.device_id;
  so.clock = &store_->clock();
  return so;
}

Result<Record> Field::NewRecord(const std::string& form_id) {
  TIANYE_ASSIGN_OR_RETURN(std::shared_ptr<const FormDef> form, forms_.Latest(form_id));
  const SessionOptions so = SessionFor();
  TIANYE_ASSIGN_OR_RETURN(std::unique_ptr<FormSession> session, FormSession::Open(form, "", so));
  tianye::NewRecord nr;
  nr.form_id = form->id();
  nr.form_version = form->version();
  nr.author = so.username;
  nr.values_json = session->ValuesJson(false);
  TIANYE_ASSIGN_OR_RETURN(Record r, records_.Create(nr));
  open_.push_front({r.id, std::move(session)});
  if (open_.size() > kOpenSessions) open_.pop_back();
  return r;
}

Result<FormSession*> Field::Open(const std::string& record_id) {
  for (auto it = open_.begin(); it != open_.end(); ++it) {
    if (it->record_id == record_id) {
      open_.splice(open_.begin(), open_, it);
      return open_.front().session.get();
    }
  }
  TIANYE_ASSIGN_OR_RETURN(Record r, records_.Get(record_id));
  if (r.deleted_ms) return Status::FailedPrecondition("record " + record_id + " is deleted");
  TIANYE_ASSIGN_OR_RETURN(std::shared_ptr<const FormDef> form, forms_.Load(r.form_id, r.form_version));
  TIANYE_ASSIGN_OR_RETURN(std::unique_ptr<FormSession> session,
                          FormSession::Open(form, r.values_json, SessionFor()));
  open_.push_front({record_id, std::move(session)});
  if (open_.size() > kOpenSessions) open_.pop_back();
  return open_.front().session.get();
}

Result<std::vector<NodeState>> Field::Edit(
    const std::string& record_id, const std::string& resume_path,
    const std::function<Result<std::vector<NodeState>>(FormSession&)>& change) {
  TIANYE_ASSIGN_OR_RETURN(Record r, records_.Get(record_id));
  if (!Editable(r.status)) {
    return Status::FailedPrecondition("record " + record_id + " is " +
                                      std::string(RecordStatusName(r.status)) + " and cannot be changed");
  }
  TIANYE_ASSIGN_OR_RETURN(FormSession * s, Open(record_id));
  Result<std::vector<NodeState>> changes = change(*s);
  if (!changes) return changes;
  // Saved before returning (autosave), on the record read above.
  r.values_json = s->ValuesJson(false);
  r.area = AreaOf(r.values_json);
  if (!resume_path.empty()) r.resume_path = resume_path;
  TIANYE_RETURN_IF_ERROR(records_.Update(r).error());
  return changes;
}

Result<std::vector<NodeState>> Field::Answer(const std::string& record_id, const std::string& path,
                                             const std::string& value) {
  return Edit(record_id, path, [&](FormSession& s) { return s.SetAnswer(path, value); });
}

Result<std::vector<NodeState>> Field::AddRepeat(const std::string& record_id, const std::string& path) {
  return Edit(record_id, path, [&](FormSession& s) { return s.AddRepeat(path); });
}

Result<std::vector<NodeState>> Field::RemoveRepeat(const std::string& record_id,
                                                   const std::string& path) {
  return Edit(record_id, "", [&](FormSession& s) { return s.RemoveRepeat(path); });
}

Result<std::vector<NodeState>> Field::MoveRepeat(const std::string& record_id, const std::string& path,
                                                 int to) {
  return Edit(record_id, "", [&](FormSession& s) { return s.MoveRepeat(path, to); });
}

Result<std::vector<NodeState>> Field::AttachFile(const std::string& record_id, const std::string& path,
                                                 const std::string& file, const std::string& mime) {
  TIANYE_ASSIGN_OR_RETURN(FormSession * s, Open(record_id));
  TIANYE_ASSIGN_OR_RETURN(NodeState state, s->State(path));
  QuestionType type = s->form().questions()[state.question].type;
  if (type != QuestionType::kImage && type != QuestionType::kFile && type != QuestionType::kAudio &&
      type != QuestionType::kVideo) {
    return Status::InvalidArgument("'" + path + "' is not a photo or file question");
  }
  auto tx = store_->Begin();
  if (!tx) return tx.error();
  PutOptions put;
  put.mime = mime.empty() ? "application/octet-stream" : mime;
  TIANYE_ASSIGN_OR_RETURN(AttachmentInfo info, attachments_.PutFile(file, put));
  TIANYE_RETURN_IF_ERROR(attachments_.Link(record_id, path, info.sha256));
  TIANYE_ASSIGN_OR_RETURN(std::vector<NodeState> changes,
                          Answer(record_id, path, info.sha256 + "." + Extension(info.mime)));
  TIANYE_RETURN_IF_ERROR(tx->Commit());
  return changes;
}

Result<std::vector<FinalizeProblem>> Field::Finalize(const std::string& record_id) {
  TIANYE_ASSIGN_OR_RETURN(Record r, records_.Get(record_id));
  if (!Editable(r.status)) {
    return Status::FailedPrecondition("record " + record_id + " is already " +
                                      std::string(RecordStatusName(r.status)));
  }
  TIANYE_ASSIGN_OR_RETURN(FormSession * s, Open(record_id));
  std::vector<FinalizeProblem> problems = s->Finalize();
  r.values_json = s->ValuesJson(/*exclude_non_relevant=*/problems.empty());
  r.area = AreaOf(r.values_json);
  if (problems.empty()) r.status = RecordStatus::kFinalized;
  TIANYE_RETURN_IF_ERROR(records_.Update(r).error());
  if (problems.empty()) {
    open_.remove_if([&](const Open_& o) { return o.record_id == record_id; });
  }
  return problems;
}

Status Field::SetResumePath(const std::string& record_id, const std::string& path) {
  TIANYE_ASSIGN_OR_RETURN(Record r, records_.Get(record_id));
  r.resume_path = path;
  return records_.Update(r).error();
}

}  // namespace tianye::cli
