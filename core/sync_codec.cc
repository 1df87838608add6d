// JSON encoding of the sync wire types (docs/protocol.md). The decoders take
// outside input: every field is type-checked and bounded, and the message
// says which op and which field is wrong.
#include <nlohmann/json.hpp>

#include <charconv>
#include <string>

#include "sync_internal.h"
#include "tianye/sync.h"
#include "tianye/uuid.h"

namespace tianye {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxIdBytes = 128;
constexpr size_t kMaxFieldBytes = 512;

json OptionalText(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }

std::string HlcText(uint64_t hlc) { return std::to_string(hlc); }

// Reads helpers: each returns false and fills `why` when the member is
// missing or of the wrong type.
struct Reader {
  const json& obj;
  std::string where;
  std::string why;

  bool Fail(const std::string& key, const char* what) {
    why = where + ": '" + key + "' " + what;
    return false;
  }
  bool Int(const char* key, int64_t* out, int64_t min = 0) {
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_number_integer()) return Fail(key, "must be an integer");
    *out = it->get<int64_t>();
    if (*out < min) return Fail(key, "is out of range");
    return true;
  }
  bool Text(const char* key, std::string* out, size_t max, bool allow_empty = false) {
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_string()) return Fail(key, "must be a string");
    *out = it->get<std::string>();
    if (out->size() > max) return Fail(key, "is too long");
    if (out->empty() && !allow_empty) return Fail(key, "must not be empty");
    return true;
  }
  bool OptText(const char* key, std::optional<std::string>* out, size_t max) {
    auto it = obj.find(key);
    if (it == obj.end()) return Fail(key, "is missing");
    if (it->is_null()) {
      out->reset();
      return true;
    }
    if (!it->is_string()) return Fail(key, "must be a string or null");
    if (it->get_ref<const std::string&>().size() > max) return Fail(key, "is too long");
    *out = it->get<std::string>();
    return true;
  }
  bool Hlc(const char* key, uint64_t* out) {
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_string()) return Fail(key, "must be a decimal string");
    const std::string& s = it->get_ref<const std::string&>();
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return Fail(key, "must be a decimal string");
    return true;
  }
  bool Bool(const char* key, bool* out) {
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_boolean()) return Fail(key, "must be true or false");
    *out = it->get<bool>();
    return true;
  }
};

Result<json> ParseObject(std::string_view text, const char* what) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument(std::string("malformed_json: the ") + what + " is not valid JSON");
  if (!j.is_object()) return Status::InvalidArgument(std::string("malformed_json: the ") + what + " must be a JSON object");
  return j;
}

Status CheckProtocol(const json& j) {
  auto it = j.find("protocol");
  if (it == j.end() || !it->is_number_integer()) {
    return Status::InvalidArgument("malformed_batch: 'protocol' must be an integer");
  }
  if (it->get<int64_t>() != kSyncProtocol) {
    return Status::FailedPrecondition("unsupported_protocol: this server speaks sync protocol " +
                                      std::to_string(kSyncProtocol) + ", the request uses " +
                                      it->dump() + "; update Tianye on this device");
  }
  return Status::Ok();
}

json CandidateJson(const Candidate& c) {
  return {{"value", OptionalText(c.value)}, {"device", c.device_id},     {"author", c.author},
          {"hlc", HlcText(c.hlc)},          {"clock_ahead", c.clock_ahead}, {"received_ms", c.received_ms}};
}

bool ReadCandidate(const json& j, const std::string& where, Candidate* c, std::string* why) {
  if (!j.is_object()) {
    *why = where + " must be an object";
    return false;
  }
  Reader r{j, where, {}};
  bool ok = r.OptText("value", &c->value, kMaxValueBytes) && r.Text("device", &c->device_id, kMaxIdBytes) &&
            r.Text("author", &c->author, kMaxIdBytes, true) && r.Hlc("hlc", &c->hlc) &&
            r.Bool("clock_ahead", &c->clock_ahead) && r.Int("received_ms", &c->received_ms);
  if (!ok) *why = r.why;
  return ok;
}

}  // namespace

std::string EncodePushBatch(const PushBatch& b) {
  json ops = json::array();
  for (const FieldOp& op : b.ops) {
    ops.push_back({{"push_seq", op.push_seq},
                   {"txn", op.txn_id},
                   {"record", op.record_id},
                   {"field", op.field},
                   {"value", OptionalText(op.value)},
                   {"base", op.base_version},
                   {"hlc", HlcText(op.hlc)},
                   {"form", op.form_id},
                   {"form_version", op.form_version}});
  }
  return json{{"protocol", b.protocol}, {"device_id", b.device_id}, {"ops", std::move(ops)}}.dump();
}

Result<PushBatch> DecodePushBatch(std::string_view text) {
  TIANYE_ASSIGN_OR_RETURN(json j, ParseObject(text, "push batch"));
  TIANYE_RETURN_IF_ERROR(CheckProtocol(j));
  PushBatch b;
  Reader top{j, "batch", {}};
  if (!top.Text("device_id", &b.device_id, kMaxIdBytes)) {
    return Status::InvalidArgument("malformed_batch: " + top.why);
  }
  auto ops = j.find("ops");
  if (ops == j.end() || !ops->is_array()) return Status::InvalidArgument("malformed_batch: 'ops' must be an array");
  if (ops->size() > kMaxOpsPerBatch) {
    return Status::ResourceExhausted("batch_too_large: at most " + std::to_string(kMaxOpsPerBatch) +
                                     " ops per push, got " + std::to_string(ops->size()));
  }
  b.ops.reserve(ops->size());
  for (size_t i = 0; i < ops->size(); ++i) {
    const json& o = (*ops)[i];
    std::string where = "op " + std::to_string(i);
    if (!o.is_object()) return Status::InvalidArgument("malformed_batch: " + where + " must be an object");
    FieldOp op;
    Reader r{o, where, {}};
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

std::string EncodePushResult(const PushResult& r) {
  json outcomes = json::array();
  for (const OpOutcome& o : r.outcomes) {
    json item = {{"push_seq", o.push_seq}, {"outcome", o.outcome}, {"version", o.version}};
    if (!o.conflict_id.empty()) item["conflict_id"] = o.conflict_id;
    if (!o.error.empty()) item["error"] = o.error;
    outcomes.push_back(std::move(item));
  }
  return json{{"acked_through", r.acked_through}, {"outcomes", std::move(outcomes)}}.dump();
}

Result<PushResult> DecodePushResult(std::string_view text) {
  TIANYE_ASSIGN_OR_RETURN(json j, ParseObject(text, "push result"));
  PushResult res;
  Reader top{j, "push result", {}};
  if (!top.Int("acked_through", &res.acked_through)) return Status::InvalidArgument(top.why);
  auto outcomes = j.find("outcomes");
  if (outcomes == j.end() || !outcomes->is_array()) {
    return Status::InvalidArgument("push result: 'outcomes' must be an array");
  }
  for (const json& o : *outcomes) {
    if (!o.is_object()) return Status::InvalidArgument("push result: an outcome must be an object");
    OpOutcome out;
    Reader r{o, "outcome", {}};
    if (!r.Int("push_seq", &out.push_seq, 1) || !r.Text("outcome", &out.outcome, 32) ||
        !r.Int("version", &out.version)) {
      return Status::InvalidArgument(r.why);
    }
    if (o.contains("conflict_id") && !r.Text("conflict_id", &out.conflict_id, kMaxIdBytes)) {
      return Status::InvalidArgument(r.why);
    }
    if (o.contains("error") && !r.Text("error", &out.error, 1000)) return Status::InvalidArgument(r.why);
    res.outcomes.push_back(std::move(out));
  }
  return res;
}

namespace {

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

}  // namespace

// Written out directly rather than built as a json tree: a page holds up to
// 5,000 changes, and building the tree cost more than the pull's queries.
std::string EncodePullPage(const PullPage& p) {
  std::string out = "{\"changes\":[";
  out.reserve(p.changes.size() * 200);
  for (const FieldChange& c : p.changes) {
    if (&c != p.changes.data()) out.push_back(',');
    out.append("{\"record\":");
    AppendJsonString(&out, c.record_id);
    out.append(",\"field\":");
    AppendJsonString(&out, c.field);
    out.append(",\"value\":");
    if (c.value) {
      AppendJsonString(&out, *c.value);
    } else {
      out.append("null");
    }
    out.append(",\"version\":").append(std::to_string(c.version));
    out.append(",\"device\":");
    AppendJsonString(&out, c.device_id);
    out.append(",\"author\":");
    AppendJsonString(&out, c.author);
    out.append(",\"hlc\":\"").append(HlcText(c.hlc)).append("\"}");
  }
  json conflicts = json::array();
  for (const Conflict& c : p.conflicts) {
    json cands = json::array();
    for (const Candidate& k : c.candidates) cands.push_back(CandidateJson(k));
    json resolution = json::parse(c.resolution_json, nullptr, false);
    conflicts.push_back({{"id", c.id},
                         {"record", c.record_id},
                         {"field", c.field},
                         {"state", c.state},
                         {"base_value", OptionalText(c.base_value)},
                         {"candidates", std::move(cands)},
                         {"resolution", resolution.is_discarded() ? json::object() : resolution},
                         {"version", c.version},
                         {"created_ms", c.created_ms}});
  }
  out.append("],\"conflicts\":").append(conflicts.dump());
  out.append(",\"cursor\":");
  AppendJsonString(&out, p.cursor);
  out.append(",\"has_more\":").append(p.has_more ? "true" : "false");
  out.append(",\"acked_through\":").append(std::to_string(p.acked_through)).append("}");
  return out;
}

Result<PullPage> DecodePullPage(std::string_view text) {
  TIANYE_ASSIGN_OR_RETURN(json j, ParseObject(text, "pull page"));
  PullPage p;
  Reader top{j, "pull page", {}};
  if (!top.Text("cursor", &p.cursor, kMaxIdBytes) || !top.Bool("has_more", &p.has_more) ||
      !top.Int("acked_through", &p.acked_through)) {
    return Status::InvalidArgument(top.why);
  }
  auto changes = j.find("changes");
  auto conflicts = j.find("conflicts");
  if (changes == j.end() || !changes->is_array() || conflicts == j.end() || !conflicts->is_array()) {
    return Status::InvalidArgument("pull page: 'changes' and 'conflicts' must be arrays");
  }
  for (const json& o : *changes) {
    if (!o.is_object()) return Status::InvalidArgument("pull page: a change must be an object");
    FieldChange c;
    Reader r{o, "change", {}};
    if (!r.Text("record", &c.record_id, kMaxIdBytes) || !r.Text("field", &c.field, kMaxFieldBytes) ||
        !r.OptText("value", &c.value, kMaxValueBytes) || !r.Int("version", &c.version, 1) ||
        !r.Text("device", &c.device_id, kMaxIdBytes) || !r.Text("author", &c.author, kMaxIdBytes, true) ||
        !r.Hlc("hlc", &c.hlc)) {
      return Status::InvalidArgument(r.why);
    }
    p.changes.push_back(std::move(c));
  }
  for (const json& o : *conflicts) {
    if (!o.is_object()) return Status::InvalidArgument("pull page: a conflict must be an object");
    Conflict c;
    Reader r{o, "conflict", {}};
    if (!r.Text("id", &c.id, kMaxIdBytes) || !r.Text("record", &c.record_id, kMaxIdBytes) ||
        !r.Text("field", &c.field, kMaxFieldBytes) || !r.Text("state", &c.state, 16) ||
        !r.OptText("base_value", &c.base_value, kMaxValueBytes) || !r.Int("version", &c.version, 1) ||
        !r.Int("created_ms", &c.created_ms)) {
      return Status::InvalidArgument(r.why);
    }
    auto cands = o.find("candidates");
    if (cands == o.end() || !cands->is_array()) return Status::InvalidArgument("conflict: 'candidates' must be an array");
    for (const json& k : *cands) {
      Candidate cand;
      std::string why;
      if (!ReadCandidate(k, "candidate", &cand, &why)) return Status::InvalidArgument(why);
      c.candidates.push_back(std::move(cand));
    }
    auto res = o.find("resolution");
    c.resolution_json = res != o.end() && res->is_object() ? res->dump() : "{}";
    p.conflicts.push_back(std::move(c));
  }
  return p;
}

namespace internal {

std::string CandidatesJson(const std::vector<Candidate>& candidates) {
  json arr = json::array();
  for (const Candidate& c : candidates) arr.push_back(CandidateJson(c));
  return arr.dump();
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
