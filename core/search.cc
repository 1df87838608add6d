#include "search.h"

#include <cctype>
#include <optional>
#include <vector>

#include "store_impl.h"
#include "sync_internal.h"
#include "text.h"
#include "tianye/attachment.h"
#include "tianye/review.h"

namespace tianye::internal {
namespace {

constexpr char kStaleKey[] = "server.search_stale";

// Han ideographs, kana, bopomofo and hangul: scripts written without spaces.
bool IsCjk(char32_t cp) {
  return (cp >= 0x2e80 && cp <= 0x2fdf) || (cp >= 0x3040 && cp <= 0x312f) || (cp >= 0x3400 && cp <= 0x4dbf) ||
         (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0xac00 && cp <= 0xd7af) || (cp >= 0xf900 && cp <= 0xfaff) ||
         (cp >= 0x20000 && cp <= 0x3ffff);
}

// Whether the tokenizer keeps `cp` in a word: ASCII letters and digits, and
// any other character outside the punctuation blocks (U+FFFD, what a byte
// that is not UTF-8 reads as, is not one).
bool IsWordChar(char32_t cp) {
  if (cp < 0x80) return std::isalnum(static_cast<int>(cp)) != 0;
  return !(cp <= 0xbf || cp == U'\uFFFD' || (cp >= 0x2000 && cp <= 0x206f) || (cp >= 0x3000 && cp <= 0x303f) ||
           (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff0f) || (cp >= 0xff1a && cp <= 0xff20) ||
           (cp >= 0xff3b && cp <= 0xff40) || (cp >= 0xff5b && cp <= 0xff65));
}

// `text` as the PostgreSQL index row holds it: its words (runs of word
// characters, each CJK character a word of its own), ASCII lower-cased,
// each followed by a space.
void AppendTokens(std::string_view text, std::string* out) {
  bool in_word = false;
  for (size_t i = 0; i < text.size();) {
    auto [cp, n] = Utf8At(text, i);
    const bool cjk = IsCjk(cp), word = IsWordChar(cp);
    if (!word || cjk) {
      if (in_word) *out += ' ';
      in_word = false;
    }
    if (word) {
      if (cp < 0x80) {
        *out += static_cast<char>(std::tolower(static_cast<int>(cp)));
      } else {
        out->append(text.substr(i, n));
      }
      in_word = !cjk;
      if (cjk) *out += ' ';
    }
    i += n;
  }
  if (in_word) *out += ' ';
}

bool HasWord(std::string_view typed) {
  for (size_t i = 0; i < typed.size();) {
    auto [cp, n] = Utf8At(typed, i);
    if (IsWordChar(cp)) return true;
    i += n;
  }
  return false;
}

}  // namespace

std::string SearchWords(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 2);
  for (size_t i = 0; i < text.size();) {
    auto [cp, n] = Utf8At(text, i);
    if (IsCjk(cp)) {
      out += ' ';
      out.append(text.substr(i, n));
      out += ' ';
    } else {
      out.append(text.substr(i, n));
    }
    i += n;
  }
  return out;
}

std::string SearchMatch(Dialect dialect, std::string_view typed) {
  if (!HasWord(typed)) return "";
  if (dialect == Dialect::kPostgres) {
    // Words are letters and digits only: nothing in them is special to LIKE.
    std::string words;
    AppendTokens(typed, &words);
    words.pop_back();  // the last word is a prefix
    return "% " + words + "%";
  }
  std::string phrase;
  for (char c : SearchWords(typed)) {
    if (c == '"') phrase += '"';  // a quote inside an FTS5 string is doubled
    // FTS5 reads its query as a C string: a NUL would end it mid-phrase
    // ("unterminated string"). Control characters separate words anyway.
    phrase += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
  }
  return "\"" + phrase + "\" *";
}

std::string SearchCondition(Dialect dialect, const std::string& param) {
  if (dialect == Dialect::kPostgres) return "r.rid IN (SELECT rid FROM server_search WHERE body LIKE " + param + ")";
  return "r.rid IN (SELECT rowid FROM server_search WHERE server_search MATCH " + param + ")";
}

Status RefreshSearch(Connection& conn, FormStore& forms, const std::string& record_id,
                     const std::vector<FactField>* answers) {
  const bool pg = conn.dialect() == Dialect::kPostgres;
  TIANYE_ASSIGN_OR_RETURN(Stmt rec,
                          conn.Prepare("SELECT rid, form_id, form_version FROM server_records WHERE record_id = ?"));
  rec.Bind(1, record_id);
  TIANYE_ASSIGN_OR_RETURN(bool found, rec.Step());
  if (!found) return Status::Ok();
  const int64_t rowid = rec.Int(0);
  auto form = forms.Load(rec.Text(1), rec.Text(2));  // not installed: values only
  const FormDef* def = form ? form->get() : nullptr;

  StoredAnswers stored;  // when the caller holds no answers
  if (answers == nullptr) {
    TIANYE_ASSIGN_OR_RETURN(stored, ReadAnswers(conn, record_id));
    answers = &stored.fields;
  }

  std::vector<std::string> langs = def != nullptr ? def->languages() : std::vector<std::string>{};
  if (langs.empty()) langs.push_back("");
  std::string body = pg ? " " : "";
  auto add = [&](std::string_view text) {
    if (pg) {
      AppendTokens(text, &body);
    } else {
      body += SearchWords(text) + "\n";
    }
  };
  auto index = [&](std::string_view field, const std::string& value) {
    if (value.empty() || field.starts_with('@')) return;  // the record's own columns
    if (IsFileAnswer(value)) return;  // a photo's hash is nothing to search for
    add(value);
    const Question* q = def != nullptr ? QuestionOfField(*def, field) : nullptr;
    if (q == nullptr) return;
    const bool multiple = IsSelectMultiple(q->type);
    if (!multiple && q->type != QuestionType::kSelectOne && q->type != QuestionType::kSelectOneFromFile) return;
    for (const std::string& choice : multiple ? SplitSpaces(value) : std::vector<std::string>{value}) {
      std::string last;
      for (const std::string& lang : langs) {
        std::string label = def->ChoiceLabel(*q, choice, lang);
        if (!label.empty() && label != last) add(label);
        last = label;
      }
    }
  };
  for (const FactField& a : *answers) {
    if (a.value != nullptr && a.value->has_value()) index(a.name, **a.value);
  }
  if (pg) {
    TIANYE_ASSIGN_OR_RETURN(Stmt put, conn.Prepare("INSERT INTO server_search (rid, body) VALUES (?, ?) "
                                                   "ON CONFLICT (rid) DO UPDATE SET body = excluded.body"));
    return put.Bind(1, rowid).Bind(2, body).RunDeferred();
  }
  // An FTS5 table has no upsert.
  TIANYE_ASSIGN_OR_RETURN(Stmt del, conn.Prepare("DELETE FROM server_search WHERE rowid = ?"));
  TIANYE_RETURN_IF_ERROR(del.Bind(1, rowid).Run());
  TIANYE_ASSIGN_OR_RETURN(Stmt ins, conn.Prepare("INSERT INTO server_search (rowid, body) VALUES (?, ?)"));
  return ins.Bind(1, rowid).Bind(2, body).Run();
}

Result<int64_t> BuildSearchIndexIfStale(Store& store) {
  FormStore forms(&store);
  Connection& conn = StoreAccess::Conn(store);
  return RefreshEveryRecordIfStale(store, kStaleKey,
                                   [&](const std::string& id) { return RefreshSearch(conn, forms, id); });
}

}  // namespace tianye::internal
