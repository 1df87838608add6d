// FormDef: a survey form, loaded from Tianye's JSON form format, which maps
// one-to-one onto XLSForm's survey, choices and settings sheets (see
// forms/README.md). Loading checks the whole form and reports every problem
// with its row and question name, rather than stopping at the first.
//
// Thread safety: a loaded FormDef is immutable and may be shared by threads.
#ifndef TIANYE_FORM_H_
#define TIANYE_FORM_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tianye/expr.h"
#include "tianye/status.h"

namespace tianye {

enum class QuestionType {
  kText, kInteger, kDecimal, kDate, kTime, kDateTime, kSelectOne, kSelectMultiple,
  kSelectOneFromFile, kSelectMultipleFromFile, kGeopoint, kGeotrace, kGeoshape, kImage, kAudio,
  kVideo, kFile, kNote, kCalculate, kAcknowledge, kBarcode, kHidden, kGroup, kRepeat,
  kRange,     // a number between parameters start and end (default 1..10), in steps of step
  kRank,      // an ordering of a choice list's names, space-separated
  kExternal,  // csv-external / xml-external: declares a data file, holds no answer
  // metadata, filled in by the client
  kStart, kEnd, kToday, kDeviceId, kUsername, kInstanceId,
  kOtherMetadata,  // email, phonenumber, audit, start-geopoint, ...: kept empty for now
};

// select_multiple, from a list or a file: the answer is choice names separated by spaces.
inline bool IsSelectMultiple(QuestionType t) {
  return t == QuestionType::kSelectMultiple || t == QuestionType::kSelectMultipleFromFile;
}

// Translated text: language code ("zh", "en", or "" for an unmarked column) -> text.
using Translations = std::map<std::string, std::string>;

struct Choice {
  std::string name;
  Translations label;
  std::map<std::string, std::string> columns;  // other columns, used by choice_filter
};

struct ChoiceList {
  std::string name;
  std::vector<Choice> choices;
  std::vector<std::string> columns;  // the extra column names
};

struct Question {
  int index = 0;        // position in FormDef::questions()
  int row = 0;          // 1-based row in the survey sheet (the header is row 1)
  QuestionType type = QuestionType::kText;
  std::string type_text;  // as written, e.g. "select_one yes_no"
  std::string name;
  Translations label, hint, required_message, constraint_message;
  std::optional<Expression> required, relevant, constraint, calculation, read_only,
      choice_filter, repeat_count, default_expr;
  std::string default_value;  // a static default (default_expr unset)
  std::string list_name;      // select_one / select_multiple / rank
  bool or_other = false;      // "select_one LIST or_other": 'other' is also accepted
  std::string file;           // *_from_file: the CSV file name
  std::string appearance;
  std::map<std::string, std::string> parameters;
  bool sensitive = false;     // masked in lists and exports unless the role may see it
  int parent = -1;            // enclosing group or repeat, -1 at the top
  int repeat = -1;            // nearest enclosing repeat, -1 outside repeats
  std::vector<int> children;  // for groups and repeats
  std::map<std::string, std::string> extra;  // unknown columns, kept as they were

  bool is_container() const { return type == QuestionType::kGroup || type == QuestionType::kRepeat; }
  // Whether an answer is stored for it (not a group, repeat or note).
  bool holds_value() const;
};

// A CSV list shipped with the form (select_one_from_file, pulldata).
struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  // Index of `column` in the header, -1 when absent.
  int Column(std::string_view column) const;
};

struct FormProblem {
  int row = 0;           // survey row, 0 when not about a row
  std::string sheet;     // "survey", "choices", "settings", "files"
  std::string name;      // question or choice name, if any
  std::string column;    // e.g. "constraint"
  std::string message;
  // "survey row 12 (tank_volume), constraint: at character 3: ..."
  std::string ToString() const;
};

struct FormLoadOptions {
  // Folder the form's CSV files are read from. Empty: the folder of the form
  // file for LoadFile, none for Parse.
  std::string files_dir;
  // CSV files given in memory (name -> content); used before files_dir.
  std::map<std::string, std::string> files;
};

class FormDef;

struct FormLoadResult {
  std::shared_ptr<const FormDef> form;  // null when there are errors
  std::vector<FormProblem> errors;
  std::vector<FormProblem> warnings;    // e.g. unknown columns (kept, not dropped)
};

class FormDef {
 public:
  // Parses a form from JSON text. Never throws; every problem is reported.
  static FormLoadResult Parse(std::string_view json, const FormLoadOptions& options);
  // Reads and parses a form file.
  static FormLoadResult LoadFile(const std::string& path, FormLoadOptions options = {});

  const std::string& id() const { return id_; }
  const std::string& version() const { return version_; }
  const std::string& default_language() const { return default_language_; }
  const Translations& title() const { return title_; }
  // The languages the labels are written in.
  const std::vector<std::string>& languages() const { return languages_; }

  const std::vector<Question>& questions() const { return questions_; }
  // nullptr when there is no question of that name.
  const Question* Find(std::string_view name) const;
  const ChoiceList* Choices(std::string_view list_name) const;
  // The CSV named `name` ("villages.csv" or "villages"); nullptr if absent.
  const CsvTable* File(std::string_view name) const;
  // The CSV files as read (name -> content), to store the form whole.
  const std::map<std::string, std::string>& raw_files() const { return raw_files_; }
  // The questions whose expressions read `question` (directly).
  const std::vector<int>& Dependents(int question) const { return dependents_[question]; }
  // Questions with a calculation, in an order where each comes after what it reads.
  const std::vector<int>& CalculationOrder() const { return calculation_order_; }

  // The label of choice `value` of a select question (its choice list or CSV
  // file) in `lang`; "" when the value is not a choice.
  std::string ChoiceLabel(const Question& question, std::string_view value,
                          std::string_view lang) const;
  // Whether `value` is one of the question's choices (ignoring choice_filter).
  bool IsChoice(const Question& question, std::string_view value) const;
  // pulldata(): the `column` of the first row of `file` whose `key_column` is
  // `key`; "" when none. Errors: kNotFound (no such file), kInvalidArgument
  // (no such column).
  Result<std::string> PullData(std::string_view file, std::string_view column,
                               std::string_view key_column, std::string_view key) const;

  // Picks `lang`, else the default language, else an unmarked label, else any.
  std::string Text(const Translations& t, std::string_view lang) const;

 private:
  friend class FormLoader;
  std::string id_, version_, default_language_ = "zh";
  Translations title_;
  std::vector<std::string> languages_;
  std::vector<Question> questions_;
  std::map<std::string, int, std::less<>> by_name_;
  std::map<std::string, ChoiceList, std::less<>> choices_;
  std::map<std::string, CsvTable, std::less<>> files_;
  std::map<std::string, std::string> raw_files_;
  std::vector<std::vector<int>> dependents_;
  std::vector<int> calculation_order_;
};

// Stable lower-case type name as XLSForm writes it ("select_one", "begin_group" for groups).
std::string_view QuestionTypeName(QuestionType type);

}  // namespace tianye

namespace tianye {

// Evaluates `expr` against a record's answers (the JSON object a record
// stores: groups flattened, repeats as arrays of objects), seen from the top
// of the form: a field inside a repeat reads as the node-set of its values
// in every instance. `lang` picks jr:choice-name labels. Errors: as
// Expression::Evaluate, plus kInvalidArgument for answers that are not a
// JSON object.
Result<Value> EvaluateOnRecord(const FormDef& form, const Expression& expr,
                               std::string_view values_json, std::string_view lang);

}  // namespace tianye

#endif  // TIANYE_FORM_H_
