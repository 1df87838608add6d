// `tianye form check|show|eval`: tools for form authors. They need no store.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli.h"
#include "commands.h"
#include "tianye/expr.h"
#include "tianye/form.h"
#include "tianye/xlsform.h"

namespace tianye::cli {
namespace {

constexpr char kUsage[] =
    "Usage: tianye form check FILE            check a form; print every problem\n"
    "       tianye form show FILE [--lang L]  print the form's outline (zh or en)\n"
    "       tianye form eval FORM EXPR [--record REC.json] [--lang L]\n"
    "                                         print the value of one expression\n"
    "       tianye form import XLSFORM -o OUT.json\n"
    "                                         convert an XLSForm (.xlsx, or survey.csv with\n"
    "                                         choices.csv and settings.csv beside it)\n"
    "\n"
    "FILE is a form in Tianye's JSON format (forms/README.md); its CSV files are\n"
    "read from the same folder. For eval, REC.json holds a record's answers (or\n"
    "a record as `tianye show` prints it); without it the answers are empty.\n"
    "Exit codes: 0 ok, 1 the form has errors or the expression failed, 2 usage.\n";

int Usage() {
  std::cerr << kUsage;
  return kExitUsage;
}

bool LoadOrReport(const std::string& path, std::shared_ptr<const FormDef>* form, bool quiet_warnings) {
  FormLoadResult r = FormDef::LoadFile(path);
  if (!quiet_warnings) {
    for (const FormProblem& w : r.warnings) std::cerr << path << ": warning: " << w.ToString() << "\n";
  }
  for (const FormProblem& e : r.errors) std::cerr << path << ": " << e.ToString() << "\n";
  *form = r.form;
  return r.form != nullptr;
}

int Check(const Args& args) {
  if (args.positional.size() != 2) return Usage();
  const std::string& path = args.positional[1];
  FormLoadResult r = FormDef::LoadFile(path);
  for (const FormProblem& w : r.warnings) std::cout << path << ": warning: " << w.ToString() << "\n";
  for (const FormProblem& e : r.errors) std::cout << path << ": " << e.ToString() << "\n";
  if (!r.form) {
    std::cout << r.errors.size() << " error(s) in " << path << "\n";
    return kExitFailure;
  }
  int questions = 0;
  for (const Question& q : r.form->questions()) questions += q.holds_value() ? 1 : 0;
  std::cout << "OK: " << r.form->id() << " version " << r.form->version() << ", " << questions
            << " questions, " << r.warnings.size() << " warning(s)\n";
  return kExitOk;
}

int Show(const Args& args) {
  if (args.positional.size() != 2) return Usage();
  std::shared_ptr<const FormDef> form;
  if (!LoadOrReport(args.positional[1], &form, true)) return kExitFailure;
  std::string lang = args.Get("lang").value_or(form->default_language());
  std::cout << form->Text(form->title(), lang) << "  [" << form->id() << " " << form->version()
            << "]\n";
  for (const Question& q : form->questions()) {
    int depth = 0;
    for (int p = q.parent; p >= 0; p = form->questions()[p].parent) ++depth;
    std::string indent(2 * depth + 2, ' ');
    std::string label = form->Text(q.label, lang);
    std::cout << indent;
    if (q.type == QuestionType::kGroup) {
      std::cout << "▸ " << (label.empty() ? q.name : label) << " (" << q.name << ")";
    } else if (q.type == QuestionType::kRepeat) {
      std::cout << "⟳ " << (label.empty() ? q.name : label) << " (" << q.name << ", repeat)";
    } else {
      std::cout << (q.required ? "* " : "  ") << q.name << "  " << q.type_text;
      if (!label.empty()) std::cout << "  " << label;
      if (q.sensitive) std::cout << "  [sensitive]";
    }
    if (q.relevant) std::cout << "  [if " << q.relevant->text() << "]";
    if (q.calculation) std::cout << "  = " << q.calculation->text();
    std::cout << "\n";
  }
  return kExitOk;
}

int Eval(const Args& args) {
  if (args.positional.size() != 3) return Usage();
  std::shared_ptr<const FormDef> form;
  if (!LoadOrReport(args.positional[1], &form, true)) return kExitFailure;
  auto expr = Expression::Parse(args.positional[2]);
  if (!expr) {
    std::cerr << "tianye: " << expr.error().message() << "\n";
    return kExitFailure;
  }
  std::string values = "{}";
  if (auto rec = args.Get("record")) {
    std::ifstream in(*rec, std::ios::binary);
    if (!in) return ReportError(Status::NotFound("cannot read record file " + *rec));
    std::stringstream ss;
    ss << in.rdbuf();
    nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
    if (j.is_object() && j.contains("values") && j["values"].is_object()) {
      values = j["values"].dump();  // a record as `tianye show` prints it
    } else {
      values = ss.str();
    }
  }
  std::string lang = args.Get("lang").value_or(form->default_language());
  Result<Value> v = EvaluateOnRecord(*form, *expr, values, lang);
  if (!v) return ReportError(v.error());
  std::cout << v->AsString() << "\n";
  return kExitOk;
}

int Import(const Args& args) {
  if (args.positional.size() != 2) return Usage();
  const std::string& path = args.positional[1];
  XlsFormImport r = ImportXlsForm(path);
  for (const FormProblem& w : r.warnings) std::cerr << path << ": warning: " << w.ToString() << "\n";
  for (const FormProblem& e : r.errors) std::cerr << path << ": " << e.ToString() << "\n";
  if (!r.errors.empty()) {
    std::cerr << r.errors.size() << " error(s); nothing was written\n";
    return kExitFailure;
  }
  auto out = args.Get("output");
  if (!out) {
    std::cout << r.json << "\n";
    return kExitOk;
  }
  std::string tmp = *out + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << r.json << "\n";
    if (!f.flush()) return ReportError(Status::IOError("cannot write " + tmp));
  }
  if (std::rename(tmp.c_str(), out->c_str()) != 0) {
    return ReportError(Status::IOError("cannot write " + *out));
  }
  std::cout << "Wrote " << *out << " (" << r.warnings.size() << " warning(s))\n";
  return kExitOk;
}

}  // namespace

int CmdForm(int argc, char** argv, int first) {
  if (WantsHelp(argc, argv, first, kUsage)) return kExitOk;
  auto args = ParseArgs(argc, argv, first, {"lang", "record", "output"}, {});
  if (!args) {
    ReportError(args.error());
    return kExitUsage;
  }
  if (args->positional.empty()) return Usage();
  const std::string& sub = args->positional[0];
  if (sub == "check") return Check(*args);
  if (sub == "show") return Show(*args);
  if (sub == "eval") return Eval(*args);
  if (sub == "import") return Import(*args);
  std::cerr << "tianye: unknown form command '" << sub << "'\n";
  return Usage();
}

}  // namespace tianye::cli
