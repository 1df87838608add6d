// FormSession: fills in one record of a form. The CLI, the web UI and the
// server's validation all drive this one implementation; no UI evaluates
// expressions itself.
//
// Questions are addressed by path: the question name, preceded by the
// enclosing repeat instances with 1-based indices, e.g. "hh_head_name",
// "problems[2]/cost", "samples[1]/photos[3]/photo". Group names are not part
// of paths (answers are stored flat, as in the record JSON).
//
// Every change returns only the nodes whose state changed. A dependency
// graph limits re-evaluation to the questions that read what changed.
//
// ODK semantics: constraints run only on non-empty answers; required is
// checked at Finalize (and shown as a flag before); answers to questions that
// are not relevant stay in the session but are left out of the finalized record.
//
// Thread safety: a FormSession is not thread-safe.
#ifndef TIANYE_FORM_SESSION_H_
#define TIANYE_FORM_SESSION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tianye/clock.h"
#include "tianye/form.h"
#include "tianye/status.h"

namespace tianye {

struct NodeState {
  std::string path;        // e.g. "problems[2]/cost"
  int question = 0;        // index in FormDef::questions()
  bool relevant = true;    // shown: its own relevance and every enclosing group's
  bool required = false;
  bool read_only = false;  // read_only, or a calculation
  std::string value;       // the answer or computed value
  std::string error;       // why the answer is not accepted, in the session language; "" if fine
  friend bool operator==(const NodeState&, const NodeState&) = default;
};

struct ChoiceOption {
  std::string name;
  std::string label;  // in the session language
};

struct FinalizeProblem {
  std::string path;
  std::string message;   // in the session language
  bool missing = false;  // a required answer not given (else a failed constraint or type)
};

struct SessionOptions {
  std::string language = "zh";
  const Clock* clock = nullptr;   // today(), now(), start/end; default SystemClock()
  int utc_offset_minutes = 480;   // Shuozhou: UTC+8
  std::string device_id;          // for the deviceid metadata question
  std::string username;           // for the username metadata question
};

class FormSession {
 public:
  // Starts a session on `values_json` (a record's stored answers; "" or "{}"
  // for a new record). Answers the form does not know are kept and written
  // back unchanged. Errors: kInvalidArgument for answers that are not a JSON object.
  static Result<std::unique_ptr<FormSession>> Open(std::shared_ptr<const FormDef> form,
                                                   std::string_view values_json,
                                                   const SessionOptions& options);
  ~FormSession();

  // Sets the answer at `path` ("" clears it). Returns every node whose state
  // changed, the answered one included. Errors: kNotFound (no such path),
  // kFailedPrecondition (a calculation, read-only or not relevant).
  Result<std::vector<NodeState>> SetAnswer(std::string_view path, std::string_view value);

  // Adds an instance at the end of the repeat at `repeat_path` (e.g.
  // "problems" or "samples[1]/photos"). Returns the changed nodes, the new
  // instance's included. Errors: kNotFound, kFailedPrecondition (the repeat
  // has a repeat_count, or is not relevant).
  Result<std::vector<NodeState>> AddRepeat(std::string_view repeat_path);
  // Removes the instance at `instance_path` (e.g. "problems[2]"); later ones move up.
  Result<std::vector<NodeState>> RemoveRepeat(std::string_view instance_path);
  // Moves the instance at `instance_path` to 1-based position `to`.
  Result<std::vector<NodeState>> MoveRepeat(std::string_view instance_path, int to);
  // How many instances the repeat at `repeat_path` has.
  Result<int> RepeatCount(std::string_view repeat_path) const;

  // The state of every node, in form order (groups and repeats included).
  std::vector<NodeState> States() const;
  Result<NodeState> State(std::string_view path) const;
  // The choices a select question offers now (choice_filter applied).
  Result<std::vector<ChoiceOption>> Choices(std::string_view path) const;

  // Validates everything: required answers, constraints, types. Sets the
  // `end` metadata. Returns every problem (empty: the record can be finalized).
  std::vector<FinalizeProblem> Finalize();
  // The same problems of the answers as they stand, `end` left as it is:
  // a check of a record already finalized (the server's), with nothing to
  // evaluate again.
  std::vector<FinalizeProblem> Problems() const;

  // The answers as a record stores them. With `exclude_non_relevant`, the
  // answers to questions that are not shown are left out (what Finalize keeps).
  std::string ValuesJson(bool exclude_non_relevant) const;

  // Changes the language of labels and messages; returns nodes whose message changed.
  std::vector<NodeState> SetLanguage(std::string_view language);
  const std::string& language() const;
  const FormDef& form() const;

  struct Impl;

 private:
  explicit FormSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tianye

#endif  // TIANYE_FORM_SESSION_H_
