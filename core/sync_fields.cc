// Records as field maps, and the merge rules: pure functions shared by the
// device and the server.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "repeat_order.h"
#include "sync_internal.h"
#include "tianye/sync.h"

namespace tianye {
namespace {

using json = nlohmann::json;

constexpr char kJsonSuffix[] = "#json";

bool IsRepeatArray(const json& value) {
  if (!value.is_array() || value.empty()) return false;
  return std::all_of(value.begin(), value.end(), [](const json& v) { return v.is_object(); });
}

// One repeat instance's order field: "1" when the instance lists by its
// id, ">KEY" when it has a key of its own (see repeat_order.h).
std::string OrderField(const std::string& own_key) { return own_key.empty() ? "1" : ">" + own_key; }

void Flatten(const json& obj, const std::string& prefix, FieldMap* out) {
  for (const auto& [key, value] : obj.items()) {
    // An instance's id is in its key, and its order key in its order field.
    if ((key == "_id" || key == internal::kOrderMember) && !prefix.empty()) continue;
    const std::string name = prefix + key;
    if (value.is_string()) {
      (*out)[name] = value.get<std::string>();
    } else if (value.is_number() || value.is_boolean()) {
      (*out)[name] = value.dump();
    } else if (IsRepeatArray(value)) {
      auto text = [](const json& item, const char* member) {
        auto it = item.find(member);
        return it != item.end() && it->is_string() ? it->get<std::string>() : std::string();
      };
      std::vector<std::string> ids, own_keys;
      for (size_t i = 0; i < value.size(); ++i) {
        std::string id = text(value[i], "_id");
        ids.push_back(id.empty() ? "i" + std::to_string(i + 1) : id);
        own_keys.push_back(text(value[i], internal::kOrderMember));
      }
      auto key_of = [&](size_t i) -> const std::string& { return own_keys[i].empty() ? ids[i] : own_keys[i]; };
      // Listed by (key, id), as Unflatten sorts them: instances given the
      // same key on two devices stay in order without new keys.
      std::string previous;
      for (size_t i = 0; i < value.size(); ++i) {
        if (i > 0 && std::tie(key_of(i), ids[i]) <= std::tie(previous, ids[i - 1])) {
          // Out of order (a list put together elsewhere, or ids "i9", "i10"):
          // a key of its own between its neighbours, the same every time.
          std::string next = i + 1 < value.size() ? key_of(i + 1) : std::string();
          own_keys[i] = internal::OrderKeyBetween(previous, next > previous ? next : std::string());
        }
        previous = key_of(i);
        std::string instance = name + "[" + ids[i] + "]";
        (*out)[instance] = OrderField(own_keys[i]);
        Flatten(value[i], instance + "/", out);
      }
    } else if (value.is_array() && value.empty()) {
      // No instances (or an empty list): nothing to keep.
    } else if (!value.is_null()) {
      (*out)[name + kJsonSuffix] = value.dump();  // kept as it came, never dropped
    }
  }
}

// Entries relative to one object: "name" -> value, "rep[id]" -> its order
// field, "rep[id]/child..." -> value.
json Unflatten(const std::vector<std::pair<std::string, const std::string*>>& entries) {
  json obj = json::object();
  struct Instance {
    std::string position;  // the order field; empty: removed
    std::vector<std::pair<std::string, const std::string*>> children;
  };
  std::map<std::string, std::map<std::string, Instance>> repeats;
  for (const auto& [key, value] : entries) {
    size_t open = key.find('[');
    if (open == std::string::npos) {
      if (key.size() > sizeof kJsonSuffix - 1 &&
          key.compare(key.size() - (sizeof kJsonSuffix - 1), std::string::npos, kJsonSuffix) == 0) {
        json parsed = json::parse(*value, nullptr, false);
        std::string name = key.substr(0, key.size() - (sizeof kJsonSuffix - 1));
        obj[name] = parsed.is_discarded() ? json(*value) : parsed;
      } else {
        obj[key] = *value;
      }
      continue;
    }
    size_t close = key.find(']', open);
    if (close == std::string::npos || close == open + 1) {  // "x[" or "x[]": no instance id, a plain name
      obj[key] = *value;
      continue;
    }
    Instance& inst = repeats[key.substr(0, open)][key.substr(open + 1, close - open - 1)];
    std::string rest = key.substr(close + 1);
    if (rest.empty()) {
      inst.position = *value;
    } else if (rest[0] == '/') {
      inst.children.emplace_back(rest.substr(1), value);
    }
  }
  for (auto& [name, instances] : repeats) {
    std::vector<std::tuple<std::string, std::string, bool>> order;  // (order key, id, key of its own)
    for (const auto& [id, inst] : instances) {
      if (inst.position.empty()) continue;
      // "1" (or anything else an older version wrote): listed by id.
      const bool own = inst.position.size() > 1 && inst.position[0] == '>';
      order.emplace_back(own ? inst.position.substr(1) : id, id, own);
    }
    if (order.empty()) continue;
    std::sort(order.begin(), order.end());
    json arr = json::array();
    for (const auto& [key, id, own] : order) {
      json item = Unflatten(instances[id].children);
      item["_id"] = id;
      if (own) item[internal::kOrderMember] = key;
      arr.push_back(std::move(item));
    }
    obj[name] = std::move(arr);
  }
  return obj;
}

}  // namespace

FieldMap RecordFields(const Record& r) {
  FieldMap f;
  f["@form"] = r.form_id;
  f["@form_version"] = r.form_version;
  f["@status"] = r.status == RecordStatus::kSynced ? "finalized" : std::string(RecordStatusName(r.status));
  if (!r.author.empty()) f["@author"] = r.author;
  if (!r.area.county.empty()) f["@county"] = r.area.county;
  if (!r.area.township.empty()) f["@township"] = r.area.township;
  if (!r.area.village.empty()) f["@village"] = r.area.village;
  if (r.deleted_ms) f["@deleted"] = "1";
  if (!r.review_comment.empty()) f["@comment"] = r.review_comment;
  json values = json::parse(r.values_json, nullptr, false);
  if (values.is_object()) Flatten(values, "", &f);
  return f;
}

void ApplyFields(const FieldMap& fields, Record* r) {
  auto get = [&](const char* key) -> std::string {
    auto it = fields.find(key);
    return it == fields.end() ? std::string() : it->second;
  };
  if (fields.count("@form")) r->form_id = get("@form");
  if (fields.count("@form_version")) r->form_version = get("@form_version");
  if (Result<RecordStatus> s = ParseRecordStatus(get("@status"))) {
    bool synced_here = r->status == RecordStatus::kSynced && *s == RecordStatus::kFinalized;
    if (!synced_here) r->status = *s;
  }
  r->author = get("@author");
  r->area = {get("@county"), get("@township"), get("@village")};
  r->review_comment = get("@comment");
  if (fields.count("@deleted") == 0) {
    r->deleted_ms.reset();
  } else if (!r->deleted_ms) {
    r->deleted_ms = r->updated_ms;
  }
  std::vector<std::pair<std::string, const std::string*>> entries;
  for (const auto& [key, value] : fields) {
    if (!key.empty() && key[0] != '@') entries.emplace_back(key, &value);
  }
  r->values_json = Unflatten(entries).dump();
}

size_t PickWinner(const std::vector<Candidate>& c) {
  size_t best = 0;
  for (size_t i = 1; i < c.size(); ++i) {
    if (std::tie(c[i].hlc, c[i].device_id, c[i].value) > std::tie(c[best].hlc, c[best].device_id, c[best].value)) {
      best = i;
    }
  }
  return best;
}

MergeKind DecideMerge(const std::optional<std::string>& op_value, const std::string& op_device,
                      const std::vector<FieldChangeRef>& since_base,
                      const std::optional<std::string>& current) {
  if (since_base.empty()) return MergeKind::kFastForward;
  if (op_value == current) return MergeKind::kConvergent;
  // Only this device's own later-pushed edits came between: they are older
  // than this op in the device's own order, so this op saw them.
  bool only_own = std::all_of(since_base.begin(), since_base.end(),
                              [&](const FieldChangeRef& c) { return c.device_id == op_device; });
  return only_own ? MergeKind::kFastForward : MergeKind::kConflict;
}

namespace internal {

std::string ScopePrefix(const std::string& code) {
  // 12-digit codes: PPCCDDTTTVVV. A code covers what starts with it once its
  // zero village, township, county and city groups are removed.
  std::string prefix = code;
  for (size_t group : {3, 3, 2, 2}) {
    if (prefix.size() > group && prefix.compare(prefix.size() - group, group, std::string(group, '0')) == 0) {
      prefix.resize(prefix.size() - group);
    } else {
      break;
    }
  }
  return prefix;
}

std::string ScopeSql(const Principal& who, const std::string& alias, const std::string& user_param) {
  // Everywhere: true, still naming the parameter so that binding it is valid.
  if (std::find(who.scope.begin(), who.scope.end(), "*") != who.scope.end()) {
    return "CAST(" + user_param + " AS TEXT) IS NOT NULL";  // typed: PostgreSQL infers nothing from IS NULL
  }
  const std::string r = alias + ".";
  std::string any = "(" + r + "county_code = '' AND " + r + "township_code = '' AND " + r + "village_code = '' AND (" +
                    r + "author = '' OR " + r + "author = " + user_param + "))";
  for (const std::string& code : who.scope) {
    std::string p = ScopePrefix(code);
    if (p.empty() || p.find_first_not_of("0123456789") != std::string::npos) continue;
    any += " OR (" + r + "village_code <> '' AND " + r + "village_code LIKE '" + p + "%') OR (" + r +
           "village_code = '' AND " + r + "township_code <> '' AND " + r + "township_code LIKE '" + p + "%') OR (" +
           r + "village_code = '' AND " + r + "township_code = '' AND " + r + "county_code LIKE '" + p + "%')";
  }
  return any;
}

Result<int64_t> RefreshEveryRecordIfStale(Store& store, const char* stale_key,
                                          const std::function<Status(const std::string& record_id)>& refresh) {
  TIANYE_ASSIGN_OR_RETURN(std::optional<std::string> stale, store.GetSetting(stale_key));
  if (!stale) return 0;
  Connection& conn = StoreAccess::Conn(store);
  std::vector<std::string> ids;
  {
    TIANYE_ASSIGN_OR_RETURN(Stmt s, conn.Prepare("SELECT record_id FROM server_records"));
    while (true) {
      TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      ids.push_back(s.Text(0));
    }
  }
  constexpr size_t kPerTransaction = 2000;
  for (size_t at = 0; at < ids.size(); at += kPerTransaction) {
    TIANYE_ASSIGN_OR_RETURN(Transaction tx, store.Begin());
    for (size_t i = at; i < ids.size() && i < at + kPerTransaction; ++i) TIANYE_RETURN_IF_ERROR(refresh(ids[i]));
    TIANYE_RETURN_IF_ERROR(tx.Commit());
  }
  TIANYE_RETURN_IF_ERROR(store.DeleteSetting(stale_key));
  return static_cast<int64_t>(ids.size());
}

}  // namespace internal

bool IsReviewer(const Principal& who) { return who.role == "supervisor" || who.role == "admin"; }

bool InScope(const std::vector<std::string>& scope, const AreaCodes& area) {
  const std::string& most_specific =
      !area.village.empty() ? area.village : !area.township.empty() ? area.township : area.county;
  for (const std::string& code : scope) {
    if (code == "*") return true;
    if (most_specific.empty()) continue;
    std::string prefix = internal::ScopePrefix(code);
    if (most_specific.compare(0, prefix.size(), prefix) == 0) return true;
  }
  return false;
}

}  // namespace tianye
