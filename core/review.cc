#include "tianye/review.h"

#include <algorithm>
#include <functional>
#include <map>
#include <sstream>
#include <variant>

#include "facts.h"
#include "search.h"
#include "sqlite.h"
#include "store_impl.h"
#include "sync_internal.h"
#include "text.h"

namespace tianye {
namespace {

using internal::Connection;
using internal::Dialect;
using internal::Stmt;
using internal::StoreAccess;

// The files record `r` names (its fields still holding them) that are not
// stored yet: photos still on their way from the device.
#define TIANYE_PENDING_FILES_SQL                                                                          \
  "(SELECT count(*) FROM server_file_refs fr JOIN server_fields sf ON sf.rid = r.rid "                  \
  "AND sf.field = fr.field WHERE fr.record_id = r.record_id AND substr(sf.value, 1, 64) = fr.sha256 "  \
  "AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.sha256 = fr.sha256))"

constexpr char kRowColumns[] =
    "r.record_id, r.form_id, r.form_version, r.county_code, r.township_code, r.village_code, r.status, r.author, "
    "r.deleted, r.open_conflicts, r.version, r.created_ms, r.updated_ms, r.form_problems, "
    "CASE WHEN r.checked_version >= r.version THEN 1 ELSE 0 END";

// How many files record `id` names that the server does not have yet.
Result<int64_t> PendingFiles(Connection& conn, const std::string& id) {
  TIANYE_ASSIGN_OR_RETURN(Stmt s, conn.Prepare("SELECT " TIANYE_PENDING_FILES_SQL
                                               " FROM server_records r WHERE r.record_id = ?"));
  s.Bind(1, id);
  TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? s.Int(0) : 0;
}

RecordRow ReadRow(const Stmt& s) {
  RecordRow row;
  row.record_id = s.Text(0);
  row.form_id = s.Text(1);
  row.form_version = s.Text(2);
  row.area = {s.Text(3), s.Text(4), s.Text(5)};
  row.status = s.Text(6);
  row.author = s.Text(7);
  row.deleted = s.Int(8) != 0;
  row.open_conflicts = s.Int(9);
  row.version = s.Int(10);
  row.created_ms = s.Int(11);
  row.updated_ms = s.Int(12);
  row.form_problems = s.Int(13);
  row.checked = s.Int(14) != 0;
  return row;
}

bool IsAreaCode(const std::string& code) {
  return code.size() == 12 && code.find_first_not_of("0123456789") == std::string::npos;
}

// `text` for a LIKE pattern with '\' as the escape character.
std::string LikeEscaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// The WHERE and ORDER BY of a query's records, with the values to bind to
// its ?N parameters (everything the user typed is bound, never pasted in).
struct SelectedRecords {
  std::string where;
  std::string order_by;
  std::vector<std::variant<int64_t, std::string>> params;

  void BindAll(Stmt& s) const {
    for (size_t i = 0; i < params.size(); ++i) {
      if (const auto* n = std::get_if<int64_t>(&params[i])) {
        s.Bind(static_cast<int>(i + 1), *n);
      } else {
        s.Bind(static_cast<int>(i + 1), std::get<std::string>(params[i]));
      }
    }
  }
};

// Errors: kInvalidArgument for an unknown sort key or status word or a
// malformed area code. `problems_only` is left to the caller.
Result<SelectedRecords> SelectRecords(Dialect dialect, const Principal& who, const RecordQuery& q) {
  static const std::map<std::string, std::string> kSort = {
      {"updated", "r.updated_ms"}, {"created", "r.created_ms"}, {"status", "r.status"},
      {"author", "r.author"},      {"form", "r.form_id"},       {"area", "r.village_code"}};
  auto sort = kSort.find(q.sort);
  if (sort == kSort.end()) {
    return Status::InvalidArgument("unknown sort key '" + q.sort + "' (updated, created, status, author, form, area)");
  }
  if (!q.area.empty() && !IsAreaCode(q.area)) return Status::InvalidArgument("area is a 12-digit code");
  static const std::vector<std::string> kStatuses = {"draft",    "finalized", "returned", "approved",
                                                     "rejected", "has_issues"};
  if (!q.status.empty() && std::find(kStatuses.begin(), kStatuses.end(), q.status) == kStatuses.end()) {
    return Status::InvalidArgument("unknown status '" + q.status + "'");
  }

  std::vector<std::variant<int64_t, std::string>> params = {who.username};
  auto param = [&](std::variant<int64_t, std::string> v) {
    params.push_back(std::move(v));
    return "?" + std::to_string(params.size());
  };
  std::string where = "r.deleted = 0 AND (" + internal::ScopeSql(who, "r", "?1") + ")";
  if (!q.form_id.empty()) where += " AND r.form_id = " + param(q.form_id);
  if (!q.status.empty()) where += " AND r.status = " + param(q.status);
  if (!q.author.empty()) where += " AND r.author = " + param(q.author);
  if (q.conflicts_only) where += " AND r.open_conflicts > 0";
  if (q.photos_pending) where += " AND " TIANYE_PENDING_FILES_SQL " > 0";
  if (q.updated_from_ms > 0) where += " AND r.updated_ms >= " + param(q.updated_from_ms);
  if (q.updated_to_ms > 0) where += " AND r.updated_ms <= " + param(q.updated_to_ms);
  if (!q.area.empty()) {
    std::string like = param(internal::ScopePrefix(q.area) + "%");
    where += " AND (r.village_code LIKE " + like + " OR (r.village_code = '' AND (r.township_code LIKE " + like +
             " OR (r.township_code = '' AND r.county_code LIKE " + like + "))))";
  }
  if (const std::string match = internal::SearchMatch(dialect, q.text); !match.empty()) {
    where += " AND " + internal::SearchCondition(dialect, param(match));
  } else if (!q.text.empty()) {  // only punctuation: no words to look up, so read every answer
    where += " AND EXISTS (SELECT 1 FROM server_fields f WHERE f.rid = r.rid AND f.field NOT LIKE '@%' "
             "AND f.value LIKE " + param("%" + LikeEscaped(q.text) + "%") + " ESCAPE '\\')";
  }
  return SelectedRecords{std::move(where), std::string(" ORDER BY ") + sort->second + (q.descending ? " DESC" : " ASC") +
                                             ", r.record_id" + (q.descending ? " DESC" : " ASC"),
                         std::move(params)};
}

}  // namespace

Result<RecordList> ReviewQueries::List(const Principal& who, const RecordQuery& q) {
  if (q.page < 1) return Status::InvalidArgument("page starts at 1");
  if (q.per_page < 1 || q.per_page > 200) return Status::InvalidArgument("per_page is 1..200");
  Connection& conn = StoreAccess::Conn(*store_);
  TIANYE_ASSIGN_OR_RETURN(SelectedRecords sel, SelectRecords(conn.dialect(), who, q));
  std::string& where = sel.where;
  RecordList list;
  if (q.problems_only) {
    // Counted up to a cap: just after a bulk push nearly every record waits,
    // and an exact count would read them all on every page.
    TIANYE_ASSIGN_OR_RETURN(
        Stmt s, conn.Prepare("SELECT count(*) FROM (SELECT 1 FROM server_records r WHERE " + where +
                             " AND r.checked_version < r.version LIMIT " + std::to_string(kUncheckedCap) + ") AS capped"));
    sel.BindAll(s);
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    list.unchecked = row ? s.Int(0) : 0;
    where += " AND r.form_problems > 0";
  }
  {
    TIANYE_ASSIGN_OR_RETURN(Stmt count, conn.Prepare("SELECT count(*) FROM server_records r WHERE " + where));
    sel.BindAll(count);
    TIANYE_ASSIGN_OR_RETURN(bool row, count.Step());
    list.total = row ? count.Int(0) : 0;
  }
  std::string sql = std::string("SELECT ") + kRowColumns + " FROM server_records r WHERE " + where + sel.order_by +
                    " LIMIT " + std::to_string(q.per_page) + " OFFSET " +
                    std::to_string(static_cast<int64_t>(q.page - 1) * q.per_page);
  TIANYE_ASSIGN_OR_RETURN(Stmt s, conn.Prepare(sql));
  sel.BindAll(s);
  while (true) {
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    list.rows.push_back(ReadRow(s));
  }
  for (RecordRow& r : list.rows) {  // for the page's rows only: a subquery per record
    TIANYE_ASSIGN_OR_RETURN(r.photos_pending, PendingFiles(conn, r.record_id));
  }
  return list;
}

Status ReviewQueries::ForEach(const Principal& who, const RecordQuery& q,
                              const std::function<Status(const RecordRow&)>& each) {
  Connection& conn = StoreAccess::Conn(*store_);
  TIANYE_ASSIGN_OR_RETURN(SelectedRecords sel, SelectRecords(conn.dialect(), who, q));
  if (q.problems_only) sel.where += " AND r.form_problems > 0";
  TIANYE_ASSIGN_OR_RETURN(Stmt s, conn.Prepare(std::string("SELECT ") + kRowColumns + " FROM server_records r WHERE " +
                                               sel.where + sel.order_by));
  sel.BindAll(s);
  while (true) {
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return Status::Ok();
    RecordRow r = ReadRow(s);
    TIANYE_ASSIGN_OR_RETURN(r.photos_pending, PendingFiles(conn, r.record_id));
    TIANYE_RETURN_IF_ERROR(each(r));
  }
}

Result<RecordDetail> ReviewQueries::Get(const Principal& who, std::string_view record_id) {
  Connection& conn = StoreAccess::Conn(*store_);
  RecordDetail d;
  {
    TIANYE_ASSIGN_OR_RETURN(Stmt s, conn.Prepare(std::string("SELECT ") + kRowColumns +
                                                 " FROM server_records r WHERE r.record_id = ?2 AND (" +
                                                 internal::ScopeSql(who, "r", "?1") + ")"));
    s.Bind(1, who.username).Bind(2, record_id);
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return Status::NotFound("no record " + std::string(record_id) + " in your area");
    d.row = ReadRow(s);
    TIANYE_ASSIGN_OR_RETURN(d.row.photos_pending, PendingFiles(conn, d.row.record_id));
  }
  {
    TIANYE_ASSIGN_OR_RETURN(std::optional<FieldMap> fields, internal::ServerFieldsOf(conn, record_id));
    if (fields) d.fields = *std::move(fields);
  }
  TIANYE_ASSIGN_OR_RETURN(Stmt s, conn.Prepare("SELECT h.version, h.field, h.value, d.device_id, h.author, h.hlc, "
                                               "h.received_ms, h.kind FROM server_history h JOIN server_device_ids d "
                                               "ON d.dev = h.dev WHERE h.rid = (SELECT rid FROM server_records "
                                               "WHERE record_id = ?) ORDER BY h.version"));
  s.Bind(1, record_id);
  while (true) {
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    FieldHistoryEntry e;
    e.version = s.Int(0);
    e.field = s.Text(1);
    if (!s.IsNull(2)) e.value = s.Text(2);
    e.device_id = s.Text(3);
    e.author = s.Text(4);
    e.hlc = static_cast<uint64_t>(s.Int(5));
    e.received_ms = s.Int(6);
    e.kind = s.Text(7);
    d.history.push_back(std::move(e));
  }
  return d;
}

Result<int64_t> ReviewQueries::BuildSearchIndexIfStale() { return internal::BuildSearchIndexIfStale(*store_); }
Result<int64_t> ReviewQueries::BuildDashboardFactsIfStale() { return internal::BuildFactsIfStale(*store_); }

Result<std::map<std::string, int64_t>> ReviewQueries::CountByFormVersion() {
  TIANYE_ASSIGN_OR_RETURN(Stmt s, StoreAccess::Conn(*store_).Prepare(
                                      "SELECT form_id, form_version, count(*) FROM server_records GROUP BY 1, 2"));
  std::map<std::string, int64_t> out;
  while (true) {
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out[s.Text(0) + "\n" + s.Text(1)] = s.Int(2);
  }
  return out;
}

const Question* QuestionOfField(const FormDef& form, std::string_view field) {
  if (field.empty() || field[0] == '@') return nullptr;
  size_t slash = field.rfind('/');
  return form.Find(slash == std::string_view::npos ? field : field.substr(slash + 1));
}

namespace {

// A constraint seen from its own question only: `.` is the value; any
// reference to another field fails (the caller then refuses).
class OwnValueContext final : public EvalContext {
 public:
  explicit OwnValueContext(std::string value) : value_(std::move(value)) {}
  Value Current() const override { return Value::String(value_); }

 private:
  std::string value_;
};

}  // namespace

Result<std::string> KeepBothValue(const Question& q, std::vector<Candidate> candidates) {
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.hlc < b.hlc; });
  const bool multiple = IsSelectMultiple(q.type);
  // A text's constraint may only read the text itself (e.g. a length limit).
  const bool text = q.type == QuestionType::kText && (!q.constraint || q.constraint->references().empty());
  auto refuse = [&](const std::string& why) {
    return Status::InvalidArgument("keep_both_not_allowed: '" + q.name + "' " + why +
                                   "; take one of the values or enter the right one");
  };
  if (!multiple && !text) return refuse("holds one value (a number, date, choice, photo or checked text)");
  std::vector<std::string> parts;
  for (const Candidate& c : candidates) {
    if (!c.value) continue;
    std::vector<std::string> items;
    if (multiple) {
      items = internal::SplitSpaces(*c.value);
    } else if (!c.value->empty()) {
      items.push_back(*c.value);
    }
    for (std::string& item : items) {
      if (std::find(parts.begin(), parts.end(), item) == parts.end()) parts.push_back(std::move(item));
    }
  }
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : multiple ? " " : "\n") + p;
  if (text && q.constraint) {
    Result<Value> ok = q.constraint->Evaluate(OwnValueContext(out));
    if (!ok || !ok->AsBoolean()) return refuse("would not pass its constraint with both values (too long?)");
  }
  return out;
}

}  // namespace tianye
