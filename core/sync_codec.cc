// JSON encoding of the sync wire types (docs/protocol.md). The decoders take
// outside input: every field is type-checked and bounded, and the message
// says which op and which field is wrong.
#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <charconv>
#include <limits>
#include <string>

#include "sync_internal.h"
#include "tianye/sync.h"
#include "tianye/uuid.h"

namespace tianye {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxIdBytes = 128;
constexpr size_t kMaxFieldBytes = 512;

std::string HlcText(uint64_t hlc) { return std::to_string(hlc); }

// One member of a JSON object as the decoders check it: its type and, for
// integers and strings, its value. Read off a json tree (MemberOf) or
// straight off the text (the push batch's SAX reader).
struct Member {
  enum class Kind : uint8_t { kMissing, kInt, kUnsigned, kString, kNull, kBool, kArray, kOther };
  Kind kind = Kind::kMissing;
  // kInt, kUnsigned (as json's get<int64_t>() reads it), kBool (0 or 1),
  // kArray (its length, read off the text; 0 off a tree)
  int64_t i = 0;
  std::string_view text;  // kString
};

Member MemberOf(const json& obj, const char* key) {
  Member m;
  auto it = obj.find(key);
  if (it == obj.end()) return m;
  if (it->is_number_integer()) {
    m.kind = it->is_number_unsigned() ? Member::Kind::kUnsigned : Member::Kind::kInt;
    m.i = it->get<int64_t>();
  } else if (it->is_string()) {
    m.kind = Member::Kind::kString;
    m.text = it->get_ref<const std::string&>();
  } else if (it->is_null()) {
    m.kind = Member::Kind::kNull;
  } else if (it->is_boolean()) {
    m.kind = Member::Kind::kBool;
    m.i = it->get<bool>() ? 1 : 0;
  } else if (it->is_array()) {
    m.kind = Member::Kind::kArray;
  } else {
    m.kind = Member::Kind::kOther;
  }
  return m;
}

// Reads helpers over an object's members (`find` gives the Member of a
// key): each returns false and fills `why` when the member is missing or of
// the wrong type.
template <typename Find>
struct BasicReader {
  Find find;
  std::string where;
  std::string why;

  bool Fail(const char* key, const char* what) {
    why = where + ": '" + key + "' " + what;
    return false;
  }
  bool Int(const char* key, int64_t* out, int64_t min = 0) {
    Member m = find(key);
    if (m.kind != Member::Kind::kInt && m.kind != Member::Kind::kUnsigned) return Fail(key, "must be an integer");
    *out = m.i;
    if (*out < min) return Fail(key, "is out of range");
    return true;
  }
  bool Text(const char* key, std::string* out, size_t max, bool allow_empty = false) {
    Member m = find(key);
    if (m.kind != Member::Kind::kString) return Fail(key, "must be a string");
    *out = m.text;
    if (out->size() > max) return Fail(key, "is too long");
    if (out->empty() && !allow_empty) return Fail(key, "must not be empty");
    return true;
  }
  bool OptText(const char* key, std::optional<std::string>* out, size_t max) {
    Member m = find(key);
    if (m.kind == Member::Kind::kMissing) return Fail(key, "is missing");
    if (m.kind == Member::Kind::kNull) {
      out->reset();
      return true;
    }
    if (m.kind != Member::Kind::kString) return Fail(key, "must be a string or null");
    if (m.text.size() > max) return Fail(key, "is too long");
    *out = std::string(m.text);
    return true;
  }
  bool Hlc(const char* key, uint64_t* out) {
    Member m = find(key);
    if (m.kind != Member::Kind::kString) return Fail(key, "must be a decimal string");
    auto [end, ec] = std::from_chars(m.text.data(), m.text.data() + m.text.size(), *out);
    if (ec != std::errc() || end != m.text.data() + m.text.size() || m.text.empty()) {
      return Fail(key, "must be a decimal string");
    }
    return true;
  }
  bool Bool(const char* key, bool* out) {
    Member m = find(key);
    if (m.kind != Member::Kind::kBool) return Fail(key, "must be true or false");
    *out = m.i != 0;
    return true;
  }
};

template <typename Find>
BasicReader<Find> ReaderOf(Find find, std::string where) {
  return BasicReader<Find>{std::move(find), std::move(where), {}};
}

// A reader of a json tree's object.
struct JsonMembers {
  const json& obj;
  Member operator()(const char* key) const { return MemberOf(obj, key); }
};
struct Reader : BasicReader<JsonMembers> {
  Reader(const json& obj, std::string where_, std::string why_)
      : BasicReader<JsonMembers>{JsonMembers{obj}, std::move(where_), std::move(why_)} {}
};

Status CheckProtocol(const Member& m) {
  if (m.kind != Member::Kind::kInt && m.kind != Member::Kind::kUnsigned) {
    return Status::InvalidArgument("malformed_batch: 'protocol' must be an integer");
  }
  if (m.i != kSyncProtocol) {
    std::string given = m.kind == Member::Kind::kUnsigned ? std::to_string(static_cast<uint64_t>(m.i))
                                                          : std::to_string(m.i);
    return Status::FailedPrecondition("unsupported_protocol: this server speaks sync protocol " +
                                      std::to_string(kSyncProtocol) + ", the request uses " + given +
                                      "; update Tianye on this device");
  }
  return Status::Ok();
}

// Appends `text` as a JSON string. Values reach the server's store only
// through the JSON decoder, which checks their UTF-8, so bytes above 0x7f
// are copied as they are.
void AppendJsonString(std::string* out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t plain = 0;  // start of the run copied as it is
  for (size_t i = 0; i < text.size(); ++i) {
    const auto ch = static_cast<unsigned char>(text[i]);
    if (ch >= 0x20 && ch != '"' && ch != '\\') continue;
    out->append(text.substr(plain, i - plain));
    plain = i + 1;
    switch (ch) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        out->append("\\u00");
        out->push_back(kHex[ch >> 4]);
        out->push_back(kHex[ch & 0xf]);
    }
  }
  out->append(text.substr(plain));
  out->push_back('"');
}

// Writes one JSON object, member by member, onto a string: the wire
// types' writers written out directly, without a json tree.
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string* out) : out_(out) { out_->push_back('{'); }
  ObjectWriter& Text(const char* key, std::string_view v) {
    Key(key);
    AppendJsonString(out_, v);
    return *this;
  }
  ObjectWriter& OptText(const char* key, const std::optional<std::string>& v) {
    if (!v) return Raw(key, "null");
    return Text(key, *v);
  }
  ObjectWriter& Int(const char* key, int64_t v) { return Raw(key, std::to_string(v)); }
  ObjectWriter& Hlc(const char* key, uint64_t v) { return Raw(key, "\"" + HlcText(v) + "\""); }
  ObjectWriter& Bool(const char* key, bool v) { return Raw(key, v ? "true" : "false"); }
  // `value` is JSON already, written as it is.
  ObjectWriter& Raw(const char* key, std::string_view value) {
    Key(key);
    out_->append(value);
    return *this;
  }
  void Close() { out_->push_back('}'); }

 private:
  void Key(const char* key) {
    if (!first_) out_->push_back(',');
    first_ = false;
    out_->push_back('"');
    out_->append(key);
    out_->append("\":");
  }
  std::string* out_;
  bool first_ = true;
};

// Appends `items` as a JSON array, each one written by write(out, item).
template <typename T, typename Write>
void AppendArray(std::string* out, const std::vector<T>& items, Write write) {
  out->push_back('[');
  for (const T& item : items) {
    if (&item != items.data()) out->push_back(',');
    write(out, item);
  }
  out->push_back(']');
}

// A conflict's candidates as a JSON array, members in name order (as the
// json library wrote them before, so older stored rows read the same).
void AppendCandidates(std::string* out, const std::vector<Candidate>& candidates) {
  AppendArray(out, candidates, [](std::string* o, const Candidate& c) {
    ObjectWriter(o)
        .Text("author", c.author)
        .Bool("clock_ahead", c.clock_ahead)
        .Text("device", c.device_id)
        .Hlc("hlc", c.hlc)
        .Int("received_ms", c.received_ms)
        .OptText("value", c.value)
        .Close();
  });
}

// A candidate's members, off a json tree or off simdjson's parse.
template <typename Find>
bool ReadCandidateMembers(BasicReader<Find>& r, Candidate* c) {
  return r.OptText("value", &c->value, kMaxValueBytes) && r.Text("device", &c->device_id, kMaxIdBytes) &&
         r.Text("author", &c->author, kMaxIdBytes, true) && r.Hlc("hlc", &c->hlc) &&
         r.Bool("clock_ahead", &c->clock_ahead) && r.Int("received_ms", &c->received_ms);
}

bool ReadCandidate(const json& j, const std::string& where, Candidate* c, std::string* why) {
  if (!j.is_object()) {
    *why = where + " must be an object";
    return false;
  }
  Reader r{j, where, {}};
  bool ok = ReadCandidateMembers(r, c);
  if (!ok) *why = r.why;
  return ok;
}

// Members looked up by name in a small fixed list: a key's index, or -1.
int IndexOf(const std::vector<const char*>& keys, std::string_view key) {
  for (size_t i = 0; i < keys.size(); ++i) {
    if (key == keys[i]) return static_cast<int>(i);
  }
  return -1;
}

// A value parsed by simdjson as the checks see it. `count_arrays`: an
// array's Member carries its length (else it is just not a scalar).
Member MemberOf(simdjson::dom::element e, bool count_arrays) {
  using Type = simdjson::dom::element_type;
  switch (e.type()) {
    case Type::INT64: return {Member::Kind::kInt, e.get_int64().value_unsafe(), {}};
    case Type::UINT64: return {Member::Kind::kUnsigned, static_cast<int64_t>(e.get_uint64().value_unsafe()), {}};
    case Type::STRING: return {Member::Kind::kString, 0, e.get_string().value_unsafe()};
    case Type::NULL_VALUE: return {Member::Kind::kNull, 0, {}};
    case Type::BOOL: return {Member::Kind::kBool, e.get_bool().value_unsafe() ? 1 : 0, {}};
    case Type::ARRAY: {
      if (!count_arrays) return {Member::Kind::kOther, 0, {}};
      int64_t n = 0;  // simdjson's own size() stops counting at 2^24 - 1
      simdjson::dom::array items;
      if (e.get_array().get(items) == simdjson::SUCCESS) {
        for ([[maybe_unused]] simdjson::dom::element item : items) ++n;
      }
      return {Member::Kind::kArray, n, {}};
    }
    default: return {Member::Kind::kOther, 0, {}};
  }
}

// The members of an object parsed by simdjson (a conflict, a candidate),
// looked up by name, the last one when a key repeats.
struct ElementMembers {
  simdjson::dom::object obj;
  std::optional<simdjson::dom::element> Element(std::string_view key) const {
    std::optional<simdjson::dom::element> found;
    for (simdjson::dom::key_value_pair member : obj) {
      if (member.key == key) found = member.value;
    }
    return found;
  }
  Member operator()(const char* key) const {
    std::optional<simdjson::dom::element> e = Element(key);
    return e ? MemberOf(*e, false) : Member{};
  }
};

// A JSON object read with simdjson, without a nlohmann tree: some members
// at the top, and one member that is an array of flat objects ("rows": a
// push batch's ops, a pull page's changes). A batch or a page holds
// thousands of rows: building a nlohmann tree was more than a quarter of
// the server's time for a push, and nlohmann's own event parser still took
// the device about as long as storing the pulled page (scripts/bench sync
// prints what decoding a page and a batch costs). simdjson checks the whole
// text (its UTF-8 too) before anything is read. What is kept is what a tree
// would give the checks: each named member's type and value (an array at
// the top with its length), the last one when a key repeats; other members,
// however deep, are ignored. A Member's text is a view into the parser's
// copy of the text: valid while the RowsText lives.
class RowsText {
 public:
  struct Row {
    bool is_object = false;
    size_t first = 0;  // its members: members_[first, first + row_keys.size())
  };
  // Reads a row's members for a BasicReader.
  struct RowMembers {
    const RowsText& t;
    const Row& row;
    Member operator()(const char* key) const {
      int k = IndexOf(t.row_keys_, key);
      return k < 0 ? Member{} : t.members_[row.first + static_cast<size_t>(k)];
    }
  };

  // `max_rows`: rows past it are counted, not kept.
  RowsText(std::vector<const char*> top_keys, const char* rows_key, std::vector<const char*> row_keys,
           size_t max_rows = std::numeric_limits<size_t>::max())
      : top_keys_(std::move(top_keys)),
        rows_key_(rows_key),
        row_keys_(std::move(row_keys)),
        max_rows_(max_rows),
        top_(top_keys_.size()),
        top_elements_(top_keys_.size()) {}

  // false: not JSON.
  bool Parse(std::string_view text) {
    simdjson::dom::element root;
    if (parser_.parse(text.data(), text.size()).get(root) != simdjson::SUCCESS) return false;
    simdjson::dom::object top;
    top_is_object = root.get_object().get(top) == simdjson::SUCCESS;
    if (!top_is_object) return true;
    for (simdjson::dom::key_value_pair member : top) {
      if (member.key == rows_key_) {
        ReadRows(member.value);
      } else if (int k = IndexOf(top_keys_, member.key); k >= 0) {
        top_[static_cast<size_t>(k)] = MemberOf(member.value, true);
        top_elements_[static_cast<size_t>(k)] = member.value;
      }
    }
    return true;
  }

  Member Top(const char* key) const {
    int k = IndexOf(top_keys_, key);
    return k < 0 ? Member{} : top_[static_cast<size_t>(k)];
  }
  // A member at the top as parsed, for what is read in depth (a pull
  // page's conflicts); only after Top(key) says it is there.
  simdjson::dom::element TopElement(const char* key) const {
    return top_elements_[static_cast<size_t>(IndexOf(top_keys_, key))];
  }
  bool top_is_object = false;
  bool rows_is_array = false;
  size_t row_count = 0;  // every element of the rows' array; the first max_rows are kept
  std::vector<Row> rows;

 private:
  void ReadRows(simdjson::dom::element value) {
    rows.clear();
    members_.clear();
    row_count = 0;
    simdjson::dom::array list;
    rows_is_array = value.get_array().get(list) == simdjson::SUCCESS;
    if (!rows_is_array) return;
    for (simdjson::dom::element e : list) {
      ++row_count;
      if (rows.size() >= max_rows_) continue;
      Row& row = rows.emplace_back();
      row.first = members_.size();
      members_.resize(members_.size() + row_keys_.size());
      simdjson::dom::object o;
      row.is_object = e.get_object().get(o) == simdjson::SUCCESS;
      if (!row.is_object) continue;
      for (simdjson::dom::key_value_pair member : o) {
        if (int k = IndexOf(row_keys_, member.key); k >= 0) {
          members_[row.first + static_cast<size_t>(k)] = MemberOf(member.value, false);
        }
      }
    }
  }

  const std::vector<const char*> top_keys_;
  const char* const rows_key_;
  const std::vector<const char*> row_keys_;
  const size_t max_rows_;
  simdjson::dom::parser parser_;  // holds the text the members' views point into
  std::vector<Member> top_;
  std::vector<simdjson::dom::element> top_elements_;
  std::vector<Member> members_;  // every kept row's, row_keys_.size() each
};

}  // namespace

Result<PushBatch> DecodePushBatch(std::string_view text) {
  RowsText t({"protocol", "device_id", "answers_stored_through"}, "ops",
             {"push_seq", "txn", "record", "field", "value", "base", "hlc", "form", "form_version"}, kMaxOpsPerBatch);
  if (!t.Parse(text)) return Status::InvalidArgument("malformed_json: the push batch is not valid JSON");
  if (!t.top_is_object) return Status::InvalidArgument("malformed_json: the push batch must be a JSON object");
  TIANYE_RETURN_IF_ERROR(CheckProtocol(t.Top("protocol")));
  PushBatch b;
  auto top = ReaderOf([&](const char* key) { return t.Top(key); }, "batch");
  if (!top.Text("device_id", &b.device_id, kMaxIdBytes) ||
      (t.Top("answers_stored_through").kind != Member::Kind::kMissing &&
       !top.Int("answers_stored_through", &b.answers_stored_through))) {
    return Status::InvalidArgument("malformed_batch: " + top.why);
  }
  if (!t.rows_is_array) return Status::InvalidArgument("malformed_batch: 'ops' must be an array");
  if (t.row_count > kMaxOpsPerBatch) {
    return Status::ResourceExhausted("batch_too_large: at most " + std::to_string(kMaxOpsPerBatch) +
                                     " ops per push, got " + std::to_string(t.row_count));
  }
  b.ops.reserve(t.rows.size());
  for (size_t i = 0; i < t.rows.size(); ++i) {
    std::string where = "op " + std::to_string(i);
    if (!t.rows[i].is_object) return Status::InvalidArgument("malformed_batch: " + where + " must be an object");
    FieldOp op;
    auto r = ReaderOf(RowsText::RowMembers{t, t.rows[i]}, where);
    int64_t base = 0;
    bool ok = r.Int("push_seq", &op.push_seq, 1) && r.Int("txn", &op.txn_id) &&
              r.Text("record", &op.record_id, kMaxIdBytes) && r.Text("field", &op.field, kMaxFieldBytes) &&
              r.OptText("value", &op.value, kMaxValueBytes) && r.Int("base", &base) && r.Hlc("hlc", &op.hlc) &&
              r.Text("form", &op.form_id, kMaxIdBytes) && r.Text("form_version", &op.form_version, kMaxIdBytes, true);
    if (!ok) return Status::InvalidArgument("malformed_batch: " + r.why);
    op.base_version = base;
    if (!IsCanonicalUuid(op.record_id)) {
      return Status::InvalidArgument("malformed_batch: " + where + ": record '" + op.record_id +
                                     "' is not a lower-case UUID");
    }
    if (i > 0 && op.push_seq != b.ops.back().push_seq + 1) {
      return Status::InvalidArgument("malformed_batch: " + where + ": push_seq " + std::to_string(op.push_seq) +
                                     " does not follow " + std::to_string(b.ops.back().push_seq));
    }
    b.ops.push_back(std::move(op));
  }
  return b;
}

// Written out directly, as pull pages are: a batch holds up to 5,000 ops.
std::string EncodePushBatch(const PushBatch& b) {
  std::string ops;
  ops.reserve(b.ops.size() * 200);
  AppendArray(&ops, b.ops, [](std::string* o, const FieldOp& op) {
    ObjectWriter(o)
        .Int("push_seq", op.push_seq)
        .Int("txn", op.txn_id)
        .Text("record", op.record_id)
        .Text("field", op.field)
        .OptText("value", op.value)
        .Int("base", op.base_version)
        .Hlc("hlc", op.hlc)
        .Text("form", op.form_id)
        .Text("form_version", op.form_version)
        .Close();
  });
  std::string out;
  ObjectWriter w(&out);
  w.Int("protocol", b.protocol).Text("device_id", b.device_id);
  if (b.answers_stored_through > 0) w.Int("answers_stored_through", b.answers_stored_through);
  w.Raw("ops", ops).Close();
  return out;
}

std::string EncodePushResult(const PushResult& r) {
  std::string outcomes;
  outcomes.reserve(r.outcomes.size() * 60);
  AppendArray(&outcomes, r.outcomes, [](std::string* out, const OpOutcome& o) {
    ObjectWriter w(out);
    w.Int("push_seq", o.push_seq).Text("outcome", o.outcome).Int("version", o.version);
    if (!o.conflict_id.empty()) w.Text("conflict_id", o.conflict_id);
    if (!o.error.empty()) w.Text("error", o.error);
    w.Close();
  });
  std::string out;
  ObjectWriter(&out).Int("acked_through", r.acked_through).Raw("outcomes", outcomes).Close();
  return out;
}

Result<PushResult> DecodePushResult(std::string_view text) {
  RowsText t({"acked_through"}, "outcomes", {"push_seq", "outcome", "version", "conflict_id", "error"});
  if (!t.Parse(text)) return Status::InvalidArgument("malformed_json: the push result is not valid JSON");
  if (!t.top_is_object) return Status::InvalidArgument("malformed_json: the push result must be a JSON object");
  PushResult res;
  auto top = ReaderOf([&](const char* key) { return t.Top(key); }, "push result");
  if (!top.Int("acked_through", &res.acked_through)) return Status::InvalidArgument(top.why);
  if (!t.rows_is_array) return Status::InvalidArgument("push result: 'outcomes' must be an array");
  res.outcomes.reserve(t.rows.size());
  for (const RowsText::Row& row : t.rows) {
    if (!row.is_object) return Status::InvalidArgument("push result: an outcome must be an object");
    OpOutcome out;
    RowsText::RowMembers members{t, row};
    auto r = ReaderOf(members, "outcome");
    if (!r.Int("push_seq", &out.push_seq, 1) || !r.Text("outcome", &out.outcome, 32) ||
        !r.Int("version", &out.version)) {
      return Status::InvalidArgument(r.why);
    }
    auto given = [&](const char* key) { return members(key).kind != Member::Kind::kMissing; };
    if (given("conflict_id") && !r.Text("conflict_id", &out.conflict_id, kMaxIdBytes)) {
      return Status::InvalidArgument(r.why);
    }
    if (given("error") && !r.Text("error", &out.error, 1000)) return Status::InvalidArgument(r.why);
    res.outcomes.push_back(std::move(out));
  }
  return res;
}

// Written out directly rather than built as a json tree: a page holds up to
// 5,000 changes, and building the tree cost more than the pull's queries.
std::string EncodePullPage(const PullPage& p) {
  std::string changes;
  changes.reserve(p.changes.size() * 200);
  AppendArray(&changes, p.changes, [](std::string* out, const FieldChange& c) {
    ObjectWriter(out)
        .Text("record", c.record_id)
        .Text("field", c.field)
        .OptText("value", c.value)
        .Int("version", c.version)
        .Text("device", c.device_id)
        .Text("author", c.author)
        .Hlc("hlc", c.hlc)
        .Close();
  });
  std::string conflicts;
  AppendArray(&conflicts, p.conflicts, [](std::string* out, const Conflict& c) {
    std::string candidates;
    AppendCandidates(&candidates, c.candidates);
    ObjectWriter(out)
        .Text("id", c.id)
        .Text("record", c.record_id)
        .Text("field", c.field)
        .Text("state", c.state)
        .OptText("base_value", c.base_value)
        .Raw("candidates", candidates)
        .Raw("resolution", json::accept(c.resolution_json) ? std::string_view(c.resolution_json) : "{}")
        .Int("version", c.version)
        .Int("created_ms", c.created_ms)
        .Close();
  });
  std::string out;
  ObjectWriter(&out)
      .Raw("changes", changes)
      .Raw("conflicts", conflicts)
      .Text("cursor", p.cursor)
      .Bool("has_more", p.has_more)
      .Int("acked_through", p.acked_through)
      .Close();
  return out;
}

Result<PullPage> DecodePullPage(std::string_view text) {
  RowsText t({"cursor", "has_more", "acked_through", "conflicts"}, "changes",
             {"record", "field", "value", "version", "device", "author", "hlc"});
  if (!t.Parse(text)) return Status::InvalidArgument("malformed_json: the pull page is not valid JSON");
  if (!t.top_is_object) return Status::InvalidArgument("malformed_json: the pull page must be a JSON object");
  PullPage p;
  auto top = ReaderOf([&](const char* key) { return t.Top(key); }, "pull page");
  if (!top.Text("cursor", &p.cursor, kMaxIdBytes) || !top.Bool("has_more", &p.has_more) ||
      !top.Int("acked_through", &p.acked_through)) {
    return Status::InvalidArgument(top.why);
  }
  const Member conflict_list = t.Top("conflicts");
  if (!t.rows_is_array || conflict_list.kind != Member::Kind::kArray) {
    return Status::InvalidArgument("pull page: 'changes' and 'conflicts' must be arrays");
  }
  p.changes.reserve(t.rows.size());
  for (const RowsText::Row& row : t.rows) {
    if (!row.is_object) return Status::InvalidArgument("pull page: a change must be an object");
    FieldChange c;
    auto r = ReaderOf(RowsText::RowMembers{t, row}, "change");
    if (!r.Text("record", &c.record_id, kMaxIdBytes) || !r.Text("field", &c.field, kMaxFieldBytes) ||
        !r.OptText("value", &c.value, kMaxValueBytes) || !r.Int("version", &c.version, 1) ||
        !r.Text("device", &c.device_id, kMaxIdBytes) || !r.Text("author", &c.author, kMaxIdBytes, true) ||
        !r.Hlc("hlc", &c.hlc)) {
      return Status::InvalidArgument(r.why);
    }
    p.changes.push_back(std::move(c));
  }
  simdjson::dom::array conflicts;
  if (t.TopElement("conflicts").get_array().get(conflicts) != simdjson::SUCCESS) {
    return Status::InvalidArgument("pull page: 'changes' and 'conflicts' must be arrays");
  }
  for (simdjson::dom::element e : conflicts) {
    simdjson::dom::object o;
    if (e.get_object().get(o) != simdjson::SUCCESS) {
      return Status::InvalidArgument("pull page: a conflict must be an object");
    }
    Conflict c;
    ElementMembers members{o};
    auto r = ReaderOf(members, "conflict");
    if (!r.Text("id", &c.id, kMaxIdBytes) || !r.Text("record", &c.record_id, kMaxIdBytes) ||
        !r.Text("field", &c.field, kMaxFieldBytes) || !r.Text("state", &c.state, 16) ||
        !r.OptText("base_value", &c.base_value, kMaxValueBytes) || !r.Int("version", &c.version, 1) ||
        !r.Int("created_ms", &c.created_ms)) {
      return Status::InvalidArgument(r.why);
    }
    simdjson::dom::array cands;
    std::optional<simdjson::dom::element> given = members.Element("candidates");
    if (!given || given->get_array().get(cands) != simdjson::SUCCESS) {
      return Status::InvalidArgument("conflict: 'candidates' must be an array");
    }
    for (simdjson::dom::element k : cands) {
      simdjson::dom::object ko;
      if (k.get_object().get(ko) != simdjson::SUCCESS) return Status::InvalidArgument("candidate must be an object");
      Candidate cand;
      auto cr = ReaderOf(ElementMembers{ko}, "candidate");
      if (!ReadCandidateMembers(cr, &cand)) return Status::InvalidArgument(cr.why);
      c.candidates.push_back(std::move(cand));
    }
    std::optional<simdjson::dom::element> res = members.Element("resolution");
    c.resolution_json = res && res->is_object() ? simdjson::minify(*res) : "{}";
    p.conflicts.push_back(std::move(c));
  }
  return p;
}

namespace internal {

std::string CandidatesJson(const std::vector<Candidate>& candidates) {
  std::string out;
  AppendCandidates(&out, candidates);
  return out;
}

Result<std::vector<Candidate>> ParseCandidates(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_array()) return Status::Corruption("stored conflict candidates are not a JSON array");
  std::vector<Candidate> out;
  for (const json& k : j) {
    Candidate c;
    std::string why;
    if (!ReadCandidate(k, "stored candidate", &c, &why)) return Status::Corruption(why);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace internal
}  // namespace tianye
