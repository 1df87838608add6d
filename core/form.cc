// Loading and checking forms in Tianye's JSON form format.
#include "tianye/form.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "csv.h"
#include "text.h"

namespace tianye {

using nlohmann::json;

using internal::Lower;
using internal::Trim;

namespace {

struct TypeName {
  const char* name;
  QuestionType type;
};

// XLSForm type names (lower case); "begin group" and "begin_group" both work.
const TypeName kTypes[] = {
    {"text", QuestionType::kText},
    {"string", QuestionType::kText},
    {"integer", QuestionType::kInteger},
    {"int", QuestionType::kInteger},
    {"decimal", QuestionType::kDecimal},
    {"date", QuestionType::kDate},
    {"time", QuestionType::kTime},
    {"datetime", QuestionType::kDateTime},
    {"select_one", QuestionType::kSelectOne},
    {"select_multiple", QuestionType::kSelectMultiple},
    {"select_one_from_file", QuestionType::kSelectOneFromFile},
    {"select_multiple_from_file", QuestionType::kSelectMultipleFromFile},
    {"geopoint", QuestionType::kGeopoint},
    {"geotrace", QuestionType::kGeotrace},
    {"geoshape", QuestionType::kGeoshape},
    {"image", QuestionType::kImage},
    {"audio", QuestionType::kAudio},
    {"video", QuestionType::kVideo},
    {"file", QuestionType::kFile},
    {"note", QuestionType::kNote},
    {"calculate", QuestionType::kCalculate},
    {"acknowledge", QuestionType::kAcknowledge},
    {"barcode", QuestionType::kBarcode},
    {"hidden", QuestionType::kHidden},
    {"begin_group", QuestionType::kGroup},
    {"begin_repeat", QuestionType::kRepeat},
    {"start", QuestionType::kStart},
    {"end", QuestionType::kEnd},
    {"today", QuestionType::kToday},
    {"deviceid", QuestionType::kDeviceId},
    {"username", QuestionType::kUsername},
    {"instanceid", QuestionType::kInstanceId},
    {"range", QuestionType::kRange},
    {"rank", QuestionType::kRank},
    {"trigger", QuestionType::kAcknowledge},  // the older name
    {"csv-external", QuestionType::kExternal},
    {"xml-external", QuestionType::kExternal},
    {"imei", QuestionType::kDeviceId},
    {"email", QuestionType::kOtherMetadata},
    {"phonenumber", QuestionType::kOtherMetadata},
    {"audit", QuestionType::kOtherMetadata},
    {"start-geopoint", QuestionType::kOtherMetadata},
    {"background-geopoint", QuestionType::kOtherMetadata},
    {"background-audio", QuestionType::kOtherMetadata},
    {"simserial", QuestionType::kOtherMetadata},
    {"subscriberid", QuestionType::kOtherMetadata},
};

// "label::Chinese (zh)" -> {"label", "zh"}; "label::en" -> {"label", "en"}; "label" -> {"label", ""}.
std::pair<std::string, std::string> SplitLanguage(std::string_view key) {
  size_t sep = key.find("::");
  if (sep == std::string_view::npos) return {Lower(key), ""};
  std::string base = Lower(key.substr(0, sep));
  std::string lang = Trim(key.substr(sep + 2));
  size_t open = lang.rfind('('), close = lang.rfind(')');
  if (open != std::string::npos && close == lang.size() - 1 && close > open + 1) {
    lang = Trim(std::string_view(lang).substr(open + 1, close - open - 1));
  }
  return {base, lang};
}

// The canonical name of a survey column, following XLSForm's aliases.
std::string CanonicalColumn(const std::string& base) {
  static const std::map<std::string, std::string> kAliases = {
      {"relevance", "relevant"},          {"calculate", "calculation"},
      {"readonly", "read_only"},          {"jr:constraintmsg", "constraint_message"},
      {"constraining_message", "constraint_message"}, {"jr:requiredmsg", "required_message"},
      {"requiredmsg", "required_message"}, {"jr:count", "repeat_count"},
      {"count", "repeat_count"},          {"choice filter", "choice_filter"},
      {"repeat count", "repeat_count"},   {"list name", "list_name"},
      {"value", "name"}};
  auto it = kAliases.find(base);
  return it == kAliases.end() ? base : it->second;
}

bool IsTranslatable(const std::string& column) {
  return column == "label" || column == "hint" || column == "required_message" ||
         column == "constraint_message" || column == "guidance_hint" || column == "form_title";
}

const std::set<std::string> kSurveyColumns = {
    "type", "name", "label", "hint", "guidance_hint", "required", "required_message",
    "constraint", "constraint_message", "relevant", "calculation", "default", "choice_filter",
    "appearance", "repeat_count", "read_only", "parameters", "sensitive", "trigger"};

// The text of a cell: strings as they are, numbers and booleans spelled out.
std::string CellText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number()) {
    std::ostringstream os;
    os << v.get<double>();
    return os.str();
  }
  return "";
}

bool IsName(std::string_view s) {
  if (s.empty()) return false;
  unsigned char c0 = static_cast<unsigned char>(s[0]);
  if (!(std::isalpha(c0) || c0 == '_' || c0 >= 0x80)) return false;
  for (unsigned char c : s) {
    if (!(std::isalnum(c) || c == '_' || c == '-' || c == '.' || c >= 0x80)) return false;
  }
  return true;
}

}  // namespace

bool Question::holds_value() const {
  return !is_container() && type != QuestionType::kNote && type != QuestionType::kExternal;
}

int CsvTable::Column(std::string_view column) const {
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == column) return static_cast<int>(i);
  }
  return -1;
}

std::string FormProblem::ToString() const {
  std::string out = sheet.empty() ? "form" : sheet;
  if (row > 0) out += " row " + std::to_string(row);
  if (!name.empty()) out += " (" + name + ")";
  if (!column.empty()) out += ", " + column;
  return out + ": " + message;
}

std::string_view QuestionTypeName(QuestionType type) {
  for (const TypeName& t : kTypes) {
    if (t.type == type) return t.name;
  }
  return "unknown";
}

const Question* FormDef::Find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &questions_[it->second];
}

const ChoiceList* FormDef::Choices(std::string_view list_name) const {
  auto it = choices_.find(list_name);
  return it == choices_.end() ? nullptr : &it->second;
}

const CsvTable* FormDef::File(std::string_view name) const {
  auto it = files_.find(name);
  if (it == files_.end()) it = files_.find(std::string(name) + ".csv");
  return it == files_.end() ? nullptr : &it->second;
}

std::string FormDef::Text(const Translations& t, std::string_view lang) const {
  for (std::string_view want : {lang, std::string_view(default_language_), std::string_view()}) {
    auto it = t.find(std::string(want));
    if (it != t.end() && !it->second.empty()) return it->second;
  }
  return t.empty() ? std::string() : t.begin()->second;
}

std::string FormDef::ChoiceLabel(const Question& q, std::string_view value,
                                 std::string_view lang) const {
  if (const ChoiceList* list = Choices(q.list_name)) {
    for (const Choice& c : list->choices) {
      if (c.name == value) return Text(c.label, lang);
    }
  }
  if (const CsvTable* t = File(q.file)) {
    int name = t->Column("name");
    int label = t->Column("label::" + std::string(lang));
    if (label < 0) label = t->Column("label::" + default_language_);
    if (label < 0) label = t->Column("label");
    for (const auto& row : t->rows) {
      if (name >= 0 && static_cast<size_t>(name) < row.size() && row[name] == value) {
        return label >= 0 && static_cast<size_t>(label) < row.size() ? row[label] : row[name];
      }
    }
  }
  return std::string();
}

bool FormDef::IsChoice(const Question& q, std::string_view value) const {
  if (q.or_other && value == "other") return true;
  if (const ChoiceList* list = Choices(q.list_name)) {
    for (const Choice& c : list->choices) {
      if (c.name == value) return true;
    }
  }
  if (const CsvTable* t = File(q.file)) {
    int name = t->Column("name");
    for (const auto& row : t->rows) {
      if (static_cast<size_t>(name) < row.size() && row[name] == value) return true;
    }
  }
  return false;
}

Result<std::string> FormDef::PullData(std::string_view file, std::string_view column,
                                      std::string_view key_column, std::string_view key) const {
  const CsvTable* t = File(file);
  if (t == nullptr) return Status::NotFound("pulldata(): the form has no file '" + std::string(file) + "'");
  int c = t->Column(column), k = t->Column(key_column);
  if (c < 0 || k < 0) {
    return Status::InvalidArgument("pulldata(): file '" + std::string(file) + "' has no column '" +
                                   std::string(c < 0 ? column : key_column) + "'");
  }
  for (const auto& row : t->rows) {
    if (static_cast<size_t>(std::max(c, k)) < row.size() && row[k] == key) return row[c];
  }
  return std::string();
}

// Builds a FormDef row by row, collecting every problem on the way.
class FormLoader {
 public:
  explicit FormLoader(const FormLoadOptions& options) : options_(options) {}

  FormLoadResult Run(std::string_view text) {
    json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object()) {
      Error({0, "", "", "", "the form is not a JSON object (see forms/README.md for the format)"});
      return Finish();
    }
    try {
      LoadSettings(doc);
      LoadFiles(doc);
      LoadChoices(doc);
      LoadSurvey(doc);
      Link();
    } catch (const json::exception& e) {
      Error({0, "", "", "", std::string("malformed form: ") + e.what()});
    }
    return Finish();
  }

 private:
  void Error(FormProblem p) { result_.errors.push_back(std::move(p)); }
  void Warn(FormProblem p) { result_.warnings.push_back(std::move(p)); }

  FormLoadResult Finish() {
    // Languages: the default first, then the others alphabetically.
    auto& langs = form_.languages_;
    std::sort(langs.begin(), langs.end(), [&](const std::string& a, const std::string& b) {
      bool da = a == form_.default_language_, db = b == form_.default_language_;
      return da != db ? da : a < b;
    });
    auto rank = [](const FormProblem& p) {
      static const char* kOrder[] = {"", "settings", "files", "survey", "choices"};
      for (int i = 0; i < 5; ++i) {
        if (p.sheet == kOrder[i]) return i;
      }
      return 5;
    };
    for (auto* list : {&result_.errors, &result_.warnings}) {
      std::stable_sort(list->begin(), list->end(), [&](const FormProblem& a, const FormProblem& b) {
        return std::pair(rank(a), a.row) < std::pair(rank(b), b.row);
      });
    }
    if (result_.errors.empty()) {
      form_.raw_files_ = std::move(raw_files_);
      result_.form = std::make_shared<const FormDef>(std::move(form_));
    }
    return std::move(result_);
  }

  void NoteLanguage(const std::string& lang) {
    if (!lang.empty() && std::find(form_.languages_.begin(), form_.languages_.end(), lang) ==
                             form_.languages_.end()) {
      form_.languages_.push_back(lang);
    }
  }

  void LoadSettings(const json& doc) {
    auto it = doc.find("settings");
    if (it == doc.end() || !it->is_object()) {
      Error({0, "settings", "", "", "the form has no settings object (form_id, version)"});
      return;
    }
    for (const auto& [key, value] : it->items()) {
      auto [base, lang] = SplitLanguage(key);
      std::string v = CellText(value);
      if (base == "form_id") {
        form_.id_ = v;
      } else if (base == "version") {
        form_.version_ = v;
      } else if (base == "default_language") {
        form_.default_language_ = SplitLanguage("x::" + v).second;
      } else if (base == "form_title" || base == "title") {
        form_.title_[lang] = v;
      }
    }
    if (!IsName(form_.id_)) {
      Error({0, "settings", "", "form_id", "form_id '" + form_.id_ + "' must be a name such as toilet"});
    }
    if (form_.version_.empty()) Error({0, "settings", "", "version", "the form needs a version"});
  }

  void LoadFiles(const json& doc) {
    auto it = doc.find("files");
    if (it == doc.end()) return;
    if (!it->is_array()) {
      Error({0, "files", "", "", "files must be a list of CSV file names"});
      return;
    }
    for (const json& f : *it) {
      std::string name = CellText(f);
      if (name.empty() || name.find('/') != std::string::npos || name.find("..") != std::string::npos) {
        Error({0, "files", name, "", "a file must be a plain file name next to the form"});
        continue;
      }
      std::string content;
      if (auto given = options_.files.find(name); given != options_.files.end()) {
        content = given->second;
      } else if (options_.files_dir.empty()) {
        Error({0, "files", name, "", "no folder to read form files from"});
        continue;
      } else {
        std::ifstream in(options_.files_dir + "/" + name, std::ios::binary);
        if (!in) {
          Error({0, "files", name, "", "cannot read " + options_.files_dir + "/" + name});
          continue;
        }
        std::stringstream ss;
        ss << in.rdbuf();
        content = ss.str();
      }
      raw_files_[name] = content;
      auto rows = internal::ParseCsv(content);
      if (!rows || rows->empty()) {
        Error({0, "files", name, "", rows ? "the file is empty" : rows.error().message()});
        continue;
      }
      CsvTable table;
      table.header = std::move(rows->front());
      for (std::string& h : table.header) h = Trim(h);
      rows->erase(rows->begin());
      table.rows = std::move(*rows);
      if (table.Column("name") < 0) {
        Error({0, "files", name, "", "the file has no 'name' column"});
        continue;
      }
      form_.files_[name] = std::move(table);
    }
  }

  void LoadChoices(const json& doc) {
    auto it = doc.find("choices");
    if (it == doc.end()) return;
    if (!it->is_array()) {
      Error({0, "choices", "", "", "choices must be a list of rows"});
      return;
    }
    int row = 1;
    std::set<std::pair<std::string, std::string>> seen;
    for (const json& r : *it) {
      ++row;
      if (!r.is_object()) {
        Error({row, "choices", "", "", "a choice row must be an object"});
        continue;
      }
      std::string list;
      Choice choice;
      for (const auto& [key, value] : r.items()) {
        auto [base, lang] = SplitLanguage(key);
        base = CanonicalColumn(base);
        std::string v = CellText(value);
        if (base == "list_name") {
          list = Trim(v);
        } else if (base == "name") {
          choice.name = Trim(v);
        } else if (base == "label") {
          choice.label[lang] = v;
          NoteLanguage(lang);
        } else {
          choice.columns[key] = v;
        }
      }
      if (list.empty()) {
        Error({row, "choices", choice.name, "list_name", "the choice has no list_name"});
        continue;
      }
      if (choice.name.empty()) {
        Error({row, "choices", "", "name", "a choice of list '" + list + "' has no name"});
        continue;
      }
      if (!seen.insert({list, choice.name}).second) {
        Error({row, "choices", choice.name, "name",
               "choice '" + choice.name + "' appears twice in list '" + list + "'"});
        continue;
      }
      ChoiceList& cl = form_.choices_[list];
      cl.name = list;
      for (const auto& [col, v] : choice.columns) {
        if (std::find(cl.columns.begin(), cl.columns.end(), col) == cl.columns.end()) {
          cl.columns.push_back(col);
        }
      }
      cl.choices.push_back(std::move(choice));
    }
  }

  std::optional<Expression> ParseExpr(const std::string& text, const Question& q,
                                      const std::string& column) {
    if (Trim(text).empty()) return std::nullopt;
    auto e = Expression::Parse(text);
    if (!e) {
      Error({q.row, "survey", q.name, column, e.error().message()});
      return std::nullopt;
    }
    return std::move(e).value();
  }

  // "yes"/"true" -> true(), "no"/"false"/"" -> nothing, else an expression.
  std::optional<Expression> ParseFlag(const std::string& text, const Question& q,
                                      const std::string& column) {
    std::string t = Lower(Trim(text));
    if (t.empty() || t == "no" || t == "false" || t == "false()" || t == "0") return std::nullopt;
    if (t == "yes" || t == "true" || t == "true()" || t == "1") return *Expression::Parse("true()");
    return ParseExpr(text, q, column);
  }

  void LoadSurvey(const json& doc) {
    auto it = doc.find("survey");
    if (it == doc.end() || !it->is_array() || it->empty()) {
      Error({0, "survey", "", "", "the form has no survey rows"});
      return;
    }
    std::vector<int> open;  // indices of open groups and repeats
    int row = 1;
    for (const json& r : *it) {
      ++row;
      if (!r.is_object()) {
        Error({row, "survey", "", "", "a survey row must be an object"});
        continue;
      }
      std::map<std::string, std::string> cells;
      Question q;
      q.row = row;
      Translations guidance;  // guidance_hint: accepted, not shown yet
      for (const auto& [key, value] : r.items()) {
        auto [base, lang] = SplitLanguage(key);
        base = CanonicalColumn(base);
        std::string v = CellText(value);
        if (IsTranslatable(base)) {
          Translations& t = base == "label"              ? q.label
                            : base == "hint"             ? q.hint
                            : base == "required_message" ? q.required_message
                            : base == "constraint_message" ? q.constraint_message
                                                           : guidance;
          t[lang] = v;
          NoteLanguage(lang);
        } else if (kSurveyColumns.count(base) != 0 && lang.empty()) {
          cells[base] = v;
        } else {
          q.extra[key] = v;
          Warn({row, "survey", CellText(r.value("name", json())), key,
                "unknown column '" + key + "' is kept but not used"});
        }
      }
      std::string type_text = Trim(cells["type"]);
      q.type_text = type_text;
      q.name = Trim(cells["name"]);
      std::string type_lower = Lower(type_text);
      // "begin group" / "end repeat" etc.: normalise the space to '_'.
      for (const char* word : {"begin ", "end "}) {
        if (type_lower.rfind(word, 0) == 0) type_lower[std::string(word).size() - 1] = '_';
      }
      if (type_lower.empty()) {
        if (r.empty() || (q.name.empty() && q.label.empty())) continue;  // a blank row
        Error({row, "survey", q.name, "type", "the row has no type"});
        continue;
      }
      if (type_lower == "end_group" || type_lower == "end_repeat") {
        bool repeat = type_lower == "end_repeat";
        if (open.empty()) {
          Error({row, "survey", q.name, "type", type_text + " has no matching begin"});
        } else if ((form_.questions_[open.back()].type == QuestionType::kRepeat) != repeat) {
          Error({row, "survey", form_.questions_[open.back()].name, "type",
                 type_text + " closes a " + (repeat ? "group" : "repeat")});
          open.pop_back();
        } else {
          open.pop_back();
        }
        continue;
      }
      if (!q.name.empty()) seen_names_.insert(q.name);
      // "select one LIST" is an old spelling of "select_one LIST".
      for (const char* spaced : {"select one ", "select multiple "}) {
        std::string sp(spaced);
        if (type_lower.rfind(sp, 0) == 0) {
          type_lower[sp.find(' ')] = '_';
          type_text[sp.find(' ')] = '_';
        }
      }
      std::string word = type_lower.substr(0, type_lower.find(' '));
      std::string arg = Trim(type_text.substr(std::min(type_text.size(), word.size())));
      const TypeName* found = nullptr;
      for (const TypeName& t : kTypes) {
        if (word == t.name) found = &t;
      }
      if (found == nullptr) {
        Error({row, "survey", q.name, "type", "unknown type '" + type_text + "'"});
        continue;
      }
      q.type = found->type;
      bool is_select = q.type == QuestionType::kSelectOne || q.type == QuestionType::kSelectMultiple ||
                       q.type == QuestionType::kRank;
      if (is_select && arg.size() > 9 && Lower(arg.substr(arg.size() - 9)) == " or_other") {
        q.or_other = true;
        arg = Trim(arg.substr(0, arg.size() - 9));
      }
      bool from_file = q.type == QuestionType::kSelectOneFromFile ||
                       q.type == QuestionType::kSelectMultipleFromFile;
      if ((is_select || from_file) && arg.empty()) {
        Error({row, "survey", q.name, "type", type_text + " needs " + (from_file ? "a file" : "a choice list")});
      } else if (!is_select && !from_file && !arg.empty()) {
        Error({row, "survey", q.name, "type", "unknown type '" + type_text + "'"});
      }
      if (is_select) q.list_name = arg;
      if (from_file) q.file = arg;
      if (!IsName(q.name)) {
        Error({row, "survey", q.name, "name",
               q.name.empty() ? "the row has no name" : "'" + q.name + "' is not a valid name"});
        continue;
      }
      if (form_.by_name_.count(q.name) != 0) {
        Error({row, "survey", q.name, "name",
               "duplicate name: also used on survey row " +
                   std::to_string(form_.questions_[form_.by_name_[q.name]].row)});
        continue;
      }
      q.required = ParseFlag(cells["required"], q, "required");
      q.read_only = ParseFlag(cells["read_only"], q, "read_only");
      q.relevant = ParseExpr(cells["relevant"], q, "relevant");
      q.constraint = ParseExpr(cells["constraint"], q, "constraint");
      q.calculation = ParseExpr(cells["calculation"], q, "calculation");
      q.choice_filter = ParseExpr(cells["choice_filter"], q, "choice_filter");
      q.repeat_count = ParseExpr(cells["repeat_count"], q, "repeat_count");
      const std::string& def = cells["default"];
      if (def.find("${") != std::string::npos || def.find('(') != std::string::npos) {
        q.default_expr = ParseExpr(def, q, "default");
      } else {
        q.default_value = def;
      }
      q.appearance = Trim(cells["appearance"]);
      q.sensitive = ParseFlag(cells["sensitive"], q, "sensitive").has_value();
      for (const std::string& p : SplitParameters(cells["parameters"])) {
        size_t eq = p.find('=');
        if (eq == std::string::npos || eq == 0) {
          Error({row, "survey", q.name, "parameters", "'" + p + "' is not key=value"});
        } else {
          q.parameters[Trim(p.substr(0, eq))] = Trim(p.substr(eq + 1));
        }
      }
      if (q.type == QuestionType::kCalculate && !q.calculation) {
        Error({row, "survey", q.name, "calculation", "a calculate row needs a calculation"});
      }
      q.index = static_cast<int>(form_.questions_.size());
      if (!open.empty()) {
        q.parent = open.back();
        const Question& parent = form_.questions_[q.parent];
        q.repeat = parent.type == QuestionType::kRepeat ? parent.index : parent.repeat;
        form_.questions_[q.parent].children.push_back(q.index);
      }
      form_.by_name_[q.name] = q.index;
      if (q.is_container()) open.push_back(q.index);
      form_.questions_.push_back(std::move(q));
    }
    for (int idx : open) {
      const Question& q = form_.questions_[idx];
      Error({q.row, "survey", q.name, "type", q.type_text + " is never closed"});
    }
  }

  static std::vector<std::string> SplitParameters(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string word;
    while (in >> word) out.push_back(word);
    return out;
  }

  // Cross-row checks: choice lists and files exist, references resolve,
  // calculations have no cycles; then the dependency graph.
  void Link() {
    auto& qs = form_.questions_;
    for (const Question& q : qs) {
      if (!q.list_name.empty() && form_.Choices(q.list_name) == nullptr) {
        Error({q.row, "survey", q.name, "type",
               "choice list '" + q.list_name + "' is missing from the choices sheet"});
      }
      if (!q.file.empty() && form_.File(q.file) == nullptr) {
        Error({q.row, "survey", q.name, "type",
               "file '" + q.file + "' is not among the form's files"});
      }
      for (const auto& [column, e] : Expressions(q)) {
        for (const std::string& ref : e->references()) {
          // A name whose own row failed was reported there already.
          if (form_.Find(ref) == nullptr && seen_names_.count(ref) == 0) {
            Error({q.row, "survey", q.name, column, "refers to ${" + ref + "}, which does not exist"});
          }
        }
        if (column == "choice_filter") {
          CheckFilterColumns(q, *e);
        } else if (!e->columns().empty()) {
          Error({q.row, "survey", q.name, column,
                 "'" + e->columns().front() + "' is not a function or a field; fields are written ${" +
                     e->columns().front() + "}"});
        }
        if (column == "relevant" &&
            std::count(e->references().begin(), e->references().end(), q.name) != 0) {
          Error({q.row, "survey", q.name, column, "a question cannot depend on itself to be shown"});
        }
      }
    }
    OrderCalculations();
    if (!result_.errors.empty()) return;

    form_.dependents_.assign(qs.size(), {});
    for (const Question& q : qs) {
      std::set<int> reads;
      for (const auto& [column, e] : Expressions(q)) {
        for (const std::string& ref : e->references()) reads.insert(form_.by_name_[ref]);
      }
      for (int r : reads) form_.dependents_[r].push_back(q.index);
    }
  }

  void CheckFilterColumns(const Question& q, const Expression& e) {
    std::vector<std::string> known = {"name", "label"};
    if (const ChoiceList* cl = form_.Choices(q.list_name)) {
      known.insert(known.end(), cl->columns.begin(), cl->columns.end());
    }
    if (const CsvTable* t = form_.File(q.file)) known.insert(known.end(), t->header.begin(), t->header.end());
    for (const std::string& col : e.columns()) {
      if (std::find(known.begin(), known.end(), col) == known.end()) {
        Error({q.row, "survey", q.name, "choice_filter",
               "'" + col + "' is not a column of " +
                   (q.file.empty() ? "choice list '" + q.list_name + "'" : "file '" + q.file + "'")});
      }
    }
  }

  static std::vector<std::pair<std::string, const Expression*>> Expressions(const Question& q) {
    std::vector<std::pair<std::string, const Expression*>> out;
    auto add = [&](const char* column, const std::optional<Expression>& e) {
      if (e) out.emplace_back(column, &*e);
    };
    add("required", q.required);
    add("relevant", q.relevant);
    add("constraint", q.constraint);
    add("calculation", q.calculation);
    add("read_only", q.read_only);
    add("choice_filter", q.choice_filter);
    add("repeat_count", q.repeat_count);
    add("default", q.default_expr);
    return out;
  }

  // Depth-first topological order of calculations; a back edge is a cycle.
  void OrderCalculations() {
    const auto& qs = form_.questions_;
    std::vector<int> state(qs.size(), 0);  // 0 new, 1 on the stack, 2 done
    std::vector<int> stack;
    std::function<bool(int)> visit = [&](int i) -> bool {
      if (state[i] == 2) return true;
      if (state[i] == 1) {
        std::string cycle;
        auto from = std::find(stack.begin(), stack.end(), i);
        for (auto s = from; s != stack.end(); ++s) cycle += qs[*s].name + " -> ";
        Error({qs[i].row, "survey", qs[i].name, "calculation", "calculation cycle: " + cycle + qs[i].name});
        return false;
      }
      state[i] = 1;
      stack.push_back(i);
      for (const std::string& ref : qs[i].calculation->references()) {
        auto found = form_.by_name_.find(ref);
        if (found == form_.by_name_.end()) continue;  // reported as a missing reference
        if (qs[found->second].calculation && !visit(found->second)) return false;
      }
      stack.pop_back();
      state[i] = 2;
      form_.calculation_order_.push_back(i);
      return true;
    };
    for (const Question& q : qs) {
      if (q.calculation && !visit(q.index)) return;
    }
  }

  FormLoadOptions options_;
  std::map<std::string, std::string> raw_files_;
  std::set<std::string> seen_names_;  // every name on a survey row, loaded or not
  FormDef form_;
  FormLoadResult result_;
};

FormLoadResult FormDef::Parse(std::string_view json_text, const FormLoadOptions& options) {
  return FormLoader(options).Run(json_text);
}

FormLoadResult FormDef::LoadFile(const std::string& path, FormLoadOptions options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    FormLoadResult r;
    r.errors.push_back({0, "", "", "", "cannot read form file " + path});
    return r;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (options.files_dir.empty()) {
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    options.files_dir = parent.empty() ? "." : parent.string();
  }
  return Parse(ss.str(), options);
}

}  // namespace tianye
