// `tianye new|edit|finalize|delete|attach|export`: records from the terminal,
// through the same Field operations the web UI uses.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "cli.h"
#include "commands.h"
#include "field.h"
#include "tianye/csv.h"

namespace tianye::cli {
namespace {

using nlohmann::json;

Result<std::unique_ptr<Field>> OpenField(const Args& args) {
  TIANYE_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, OpenStore(args));
  FieldOptions fo;
  fo.username = args.Get("user").value_or("");
  fo.language = args.Get("lang").value_or("zh");
  fo.device_id = "tianye-" + std::to_string(::gethostid());
  return std::make_unique<Field>(std::move(store), fo);
}

const std::vector<std::string> kCommon = {"store", "passphrase-file", "lang", "user"};

std::vector<std::string> With(std::vector<std::string> v, std::initializer_list<const char*> more) {
  for (const char* m : more) v.emplace_back(m);
  return v;
}

// What a record command works with once its command line is understood.
struct Invocation {
  Args args;
  std::unique_ptr<Field> field;
};

// Handles --help, parses the options (the common ones plus `values` and
// `flags`), checks there are exactly `positionals` arguments and opens the
// store. On anything but success, *exit_code holds the code to exit with.
std::optional<Invocation> Begin(int argc, char** argv, int first, const char* usage, size_t positionals,
                                int* exit_code, std::initializer_list<const char*> values = {},
                                const std::vector<std::string>& flags = {}) {
  *exit_code = kExitOk;
  if (WantsHelp(argc, argv, first, usage)) return std::nullopt;
  auto args = ParseArgs(argc, argv, first, With(kCommon, values), flags);
  if (!args || args->positional.size() != positionals) {
    std::cerr << usage;
    *exit_code = kExitUsage;
    return std::nullopt;
  }
  auto field = OpenField(*args);
  if (!field) {
    *exit_code = ReportOpenError(field.error());
    return std::nullopt;
  }
  return Invocation{std::move(args).value(), std::move(field).value()};
}

bool Prompted(const QuestionType t) {
  switch (t) {
    case QuestionType::kCalculate: case QuestionType::kStart: case QuestionType::kEnd:
    case QuestionType::kToday: case QuestionType::kDeviceId: case QuestionType::kUsername:
    case QuestionType::kInstanceId: case QuestionType::kOtherMetadata: case QuestionType::kHidden:
    case QuestionType::kExternal: case QuestionType::kGroup:
      return false;
    default:
      return true;
  }
}

// Walks the questions of one scope ("" for the top, "problems[2]/" inside a
// repeat instance) in form order, asking for each shown question. Returns
// false when input ended (the draft is kept: every answer is already saved).
bool Interview(Field& f, const std::string& id, const std::string& prefix, std::istream& in) {
  const std::string& lang = f.options().language;
  bool zh = lang != "en";
  std::set<std::string> done;
  while (true) {
    auto s = f.Open(id);
    if (!s) return false;
    const FormDef& form = (*s)->form();
    // The next shown, unasked question directly in this scope.
    std::optional<NodeState> next;
    for (const NodeState& n : (*s)->States()) {
      if (n.path.compare(0, prefix.size(), prefix) != 0) continue;
      std::string rest = n.path.substr(prefix.size());
      if (rest.find('/') != std::string::npos) continue;  // inside a nested repeat instance
      if (!n.relevant || done.count(n.path) || n.read_only) continue;
      if (!Prompted(form.questions()[n.question].type)) continue;
      next = n;
      break;
    }
    if (!next) return true;
    done.insert(next->path);
    const Question& q = form.questions()[next->question];
    std::string label = form.Text(q.label, lang);
    if (label.empty()) label = q.name;
    if (q.type == QuestionType::kRepeat) {
      for (int k = 1;; ++k) {
        std::cout << "\n" << (zh ? "添加一组「" : "Add a \"") << label << (zh ? "」？(y/N) " : "\"? (y/N) ")
                  << std::flush;
        std::string yn;
        if (!std::getline(in, yn)) return false;
        if (yn != "y" && yn != "Y" && yn != "是") break;
        auto added = f.AddRepeat(id, next->path);
        if (!added) {
          std::cout << "  ! " << added.error().message() << "\n";
          break;
        }
        auto count = (*f.Open(id))->RepeatCount(next->path);
        if (!Interview(f, id, next->path + "[" + std::to_string(*count) + "]/", in)) return false;
      }
      continue;
    }
    if (q.type == QuestionType::kNote) {
      std::cout << "\n  " << label << "\n";
      continue;
    }
    std::vector<ChoiceOption> choices;
    if (auto c = (*s)->Choices(next->path); c.has_value()) choices = *c;
    while (true) {
      std::cout << "\n" << next->path << "  " << label << (next->required ? " *" : "") << "\n";
      std::string hint = form.Text(q.hint, lang);
      if (!hint.empty()) std::cout << "  (" << hint << ")\n";
      bool many = IsSelectMultiple(q.type);
      if (!choices.empty() && choices.size() <= 30) {
        for (size_t i = 0; i < choices.size(); ++i) std::cout << "  " << i + 1 << ") " << choices[i].label << "\n";
        if (many) std::cout << (zh ? "  (可多选，用空格分开编号)\n" : "  (several: numbers separated by spaces)\n");
      }
      if (!next->value.empty()) std::cout << (zh ? "  当前: " : "  now: ") << next->value << "\n";
      std::cout << "> " << std::flush;
      std::string line;
      if (!std::getline(in, line)) return false;
      if (line.empty()) {
        if (next->required) std::cout << (zh ? "  (此题必答，完成时会提示)\n" : "  (required; finalize will ask again)\n");
        break;
      }
      std::string value = line;
      if (!choices.empty() && choices.size() <= 30) {
        std::istringstream nums(line);
        std::string tok, picked;
        bool numeric = true;
        while (nums >> tok) {
          size_t k = 0;
          try { k = std::stoul(tok); } catch (...) { numeric = false; break; }
          if (k < 1 || k > choices.size()) { numeric = false; break; }
          picked += (picked.empty() ? "" : " ") + choices[k - 1].name;
        }
        if (numeric && !picked.empty()) value = picked;
      }
      auto changes = f.Answer(id, next->path, value);
      if (!changes) {
        std::cout << "  ! " << changes.error().message() << "\n";
        break;
      }
      std::string error;
      for (const NodeState& c : *changes) {
        if (c.path == next->path) error = c.error;
      }
      if (error.empty()) break;
      std::cout << "  ! " << error << "\n";  // re-ask
      next->value = value;
    }
  }
}

int RunInterview(Field& f, const std::string& id) {
  bool zh = f.options().language != "en";
  std::cout << (zh ? "记录 " : "Record ") << id
            << (zh ? "（每个答案都会立即保存；Ctrl-C 或 Ctrl-D 会保留草稿）\n"
                   : " (every answer is saved at once; Ctrl-C or Ctrl-D keeps the draft)\n");
  bool finished = Interview(f, id, "", std::cin);
  if (!finished) {
    std::cout << "\n" << (zh ? "草稿已保存：" : "Draft kept: ") << id << "\n";
    return kExitOk;
  }
  std::cout << "\n" << (zh ? "已答完。用 `tianye finalize " : "All asked. Finalize with `tianye finalize ") << id
            << "`" << (zh ? " 完成并检查。\n" : ".\n");
  return kExitOk;
}

}  // namespace

int CmdNew(int argc, char** argv, int first) {
  static const char kUsage[] =
      "Usage: tianye new FORM [--lang zh|en] [--user NAME]\n"
      "Starts a record of an installed form and asks its questions in the terminal:\n"
      "hidden questions are skipped, wrong answers are asked again, an empty line\n"
      "skips a question. Every answer is saved at once; Ctrl-C keeps the draft.\n"
      "The record's author is --user, else the user this device logged in to the\n"
      "server as (tianye sync), else \"inspector\".\n";
  int code;
  auto inv = Begin(argc, argv, first, kUsage, 1, &code);
  if (!inv) return code;
  auto r = inv->field->NewRecord(inv->args.positional[0]);
  if (!r) return ReportError(r.error());
  return RunInterview(*inv->field, r->id);
}

int CmdEdit(int argc, char** argv, int first) {
  static const char kUsage[] =
      "Usage: tianye edit ID [--lang zh|en]\n"
      "Asks the questions of a draft (or returned) record again, showing the current answers.\n";
  int code;
  auto inv = Begin(argc, argv, first, kUsage, 1, &code);
  if (!inv) return code;
  auto& field = inv->field;
  auto rec = field->records().Get(inv->args.positional[0]);
  if (!rec) return ReportError(rec.error());
  if (!rec->review_comment.empty()) std::cout << "审核意见 / reviewer: " << rec->review_comment << "\n";
  auto s = field->Open(rec->id);
  if (!s) return ReportError(s.error());
  if (rec->status != RecordStatus::kDraft && rec->status != RecordStatus::kReturned) {
    return ReportError(Status::FailedPrecondition("record " + rec->id + " is " +
                                                  std::string(RecordStatusName(rec->status)) +
                                                  " and cannot be edited"));
  }
  return RunInterview(*field, rec->id);
}

int CmdFinalize(int argc, char** argv, int first) {
  static const char kUsage[] =
      "Usage: tianye finalize ID\n"
      "Checks a record completely. With no problems it becomes finalized (waiting\n"
      "to sync); otherwise every problem is listed and the exit code is 1.\n";
  int code;
  auto inv = Begin(argc, argv, first, kUsage, 1, &code);
  if (!inv) return code;
  const std::string& id = inv->args.positional[0];
  auto problems = inv->field->Finalize(id);
  if (!problems) return ReportError(problems.error());
  if (problems->empty()) {
    std::cout << "Finalized " << id << "\n";
    return kExitOk;
  }
  for (const FinalizeProblem& p : *problems) std::cout << p.path << ": " << p.message << "\n";
  std::cout << problems->size() << " problem(s); the record stays a draft\n";
  return kExitFailure;
}

int CmdDelete(int argc, char** argv, int first) {
  static const char kUsage[] =
      "Usage: tianye delete ID [--restore]\n"
      "Deletes a record (kept and recoverable: `tianye list --deleted`), or restores it.\n";
  int code;
  auto inv = Begin(argc, argv, first, kUsage, 1, &code, {}, {"restore"});
  if (!inv) return code;
  const std::string& id = inv->args.positional[0];
  const bool restore = inv->args.Has("restore");
  Status s = restore ? inv->field->records().Restore(id) : inv->field->records().Delete(id);
  if (!s.ok()) return ReportError(s);
  std::cout << (restore ? "Restored " : "Deleted (recoverable) ") << id << "\n";
  return kExitOk;
}

int CmdAttach(int argc, char** argv, int first) {
  static const char kUsage[] =
      "Usage: tianye attach ID QUESTION FILE [--mime TYPE]\n"
      "Stores a photo or file (encrypted, in chunks) as the answer to a photo question,\n"
      "e.g. `tianye attach ID problems[1]/prob_photo_before photo.jpg`.\n";
  int code;
  auto inv = Begin(argc, argv, first, kUsage, 3, &code, {"mime"});
  if (!inv) return code;
  const Args& args = inv->args;
  std::string file = args.positional[2];
  std::string mime = args.Get("mime").value_or("");
  if (mime.empty()) {
    std::string lower = file;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    mime = lower.ends_with(".png") ? "image/png" : lower.ends_with(".jpg") || lower.ends_with(".jpeg") ? "image/jpeg"
                                                  : "application/octet-stream";
  }
  auto changes = inv->field->AttachFile(args.positional[0], args.positional[1], file, mime);
  if (!changes) return ReportError(changes.error());
  auto state = (*inv->field->Open(args.positional[0]))->State(args.positional[1]);
  std::cout << "Attached " << file << " as " << (state ? state->value : "") << "\n";
  return kExitOk;
}

int CmdExport(int argc, char** argv, int first) {
  static const char kUsage[] =
      "Usage: tianye export --format csv|geojson [--form F] [--status S] [-o FILE]\n"
      "Writes the records: CSV (UTF-8 with a byte-order mark, so Excel shows Chinese;\n"
      "one row per record, repeats as JSON in their cell) or GeoJSON (the records'\n"
      "GPS points). Without -o, to standard output.\n";
  if (WantsHelp(argc, argv, first, kUsage)) return kExitOk;
  auto args = ParseArgs(argc, argv, first, With(kCommon, {"format", "form", "status", "output"}), {});
  std::string format = args ? args->Get("format").value_or("") : "";
  if (!args || (format != "csv" && format != "geojson")) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  RecordFilter filter;
  filter.form_id = args->Get("form").value_or("");
  if (auto st = args->Get("status")) {
    auto parsed = ParseRecordStatus(*st);
    if (!parsed) {
      ReportError(parsed.error());
      return kExitUsage;
    }
    filter.status = *parsed;
  }
  auto field = OpenField(*args);
  if (!field) return ReportOpenError(field.error());
  auto records = (*field)->records().List(filter);
  if (!records) return ReportError(records.error());

  std::ostringstream out;
  if (format == "geojson") {
    json fc = {{"type", "FeatureCollection"}, {"features", json::array()}};
    for (const Record& r : *records) {
      json v = json::parse(r.values_json, nullptr, false);
      if (!v.is_object() || !v.contains("gps") || !v["gps"].is_string()) continue;
      double lat = 0, lon = 0;
      std::istringstream pt(v["gps"].get<std::string>());
      if (!(pt >> lat >> lon)) continue;
      fc["features"].push_back({{"type", "Feature"},
                                {"geometry", {{"type", "Point"}, {"coordinates", {lon, lat}}}},
                                {"properties", {{"id", r.id}, {"form_id", r.form_id},
                                                {"status", RecordStatusName(r.status)},
                                                {"village", r.area.village}}}});
    }
    out << fc.dump(1) << "\n";
  } else {
    std::vector<std::string> keys;
    std::set<std::string> seen;
    std::vector<json> values;
    for (const Record& r : *records) {
      values.push_back(json::parse(r.values_json, nullptr, false));
      for (const auto& [k, v] : values.back().items()) {
        if (seen.insert(k).second) keys.push_back(k);
      }
    }
    std::vector<std::string> header = {"id",      "form_id", "form_version", "status",     "county",
                                       "township", "village", "author",       "created_ms", "updated_ms"};
    header.insert(header.end(), keys.begin(), keys.end());
    out << kUtf8Bom << CsvLine(header);
    for (size_t i = 0; i < records->size(); ++i) {
      const Record& r = (*records)[i];
      std::vector<std::string> row = {r.id,          r.form_id,       r.form_version,
                                      std::string(RecordStatusName(r.status)), r.area.county, r.area.township,
                                      r.area.village, r.author,       std::to_string(r.created_ms),
                                      std::to_string(r.updated_ms)};
      for (const std::string& k : keys) {
        const json* v = values[i].contains(k) ? &values[i][k] : nullptr;
        row.push_back(v == nullptr ? "" : v->is_string() ? v->get<std::string>() : v->dump());
      }
      out << CsvLine(row);
    }
  }
  if (auto o = args->Get("output")) {
    std::ofstream f(*o, std::ios::binary | std::ios::trunc);
    f << out.str();
    if (!f.flush()) return ReportError(Status::IOError("cannot write " + *o));
    std::cerr << "Wrote " << records->size() << " record(s) to " << *o << "\n";
  } else {
    std::cout << out.str();
  }
  return kExitOk;
}

}  // namespace tianye::cli
