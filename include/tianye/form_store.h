// FormStore: the forms installed in a Store, with their CSV lists, so that a
// device can fill them in with no files beside it.
//
// Thread safety: as the Store it uses (not thread-safe).
#ifndef TIANYE_FORM_STORE_H_
#define TIANYE_FORM_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tianye/form.h"
#include "tianye/status.h"
#include "tianye/store.h"

namespace tianye {

struct InstalledForm {
  std::string form_id;
  std::string version;
  Translations title;
  int64_t installed_ms = 0;
};

class FormStore {
 public:
  // `store` is not owned and must outlive this object.
  explicit FormStore(Store* store) : store_(store) {}

  // Checks the form (as FormDef::Parse does, with `files` as its CSV lists)
  // and installs it. Installing the same form_id and version again with the
  // same content is a no-op. Errors: kInvalidArgument listing the form's
  // problems; kAlreadyExists when that version is installed with different
  // content (a version is never reused).
  Result<InstalledForm> Install(std::string_view json,
                                const std::map<std::string, std::string>& files);
  // Reads a form file and the CSV files it lists from the same folder.
  Result<InstalledForm> InstallFile(const std::string& path);

  // Every installed version, ordered by form id, newest installed first.
  Result<std::vector<InstalledForm>> List();

  // The parsed form (cached after the first load). Errors: kNotFound.
  Result<std::shared_ptr<const FormDef>> Load(std::string_view form_id, std::string_view version);
  // The most recently installed version of a form. Errors: kNotFound.
  Result<std::shared_ptr<const FormDef>> Latest(std::string_view form_id);
  // The form as installed (its JSON text), for pages that show its labels.
  // Errors: kNotFound.
  Result<std::string> Definition(std::string_view form_id, std::string_view version);

 private:
  Store* store_;
  std::map<std::string, std::shared_ptr<const FormDef>> cache_;  // "id\nversion" -> form
};

}  // namespace tianye

#endif  // TIANYE_FORM_STORE_H_
