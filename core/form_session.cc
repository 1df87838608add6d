#include "tianye/form_session.h"
#include "tianye/uuid.h"

#include "repeat_order.h"
#include "text.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

namespace tianye {

using nlohmann::json;

namespace {

// One stored answer or computed value, with its last evaluated state.
struct Cell {
  std::string value;
  bool self_relevant = true;
  bool required = false;
  bool read_only = false;
  std::string error;
};

// The root of the record or one repeat instance.
struct Instance {
  std::string id;      // "" for the root
  std::string order;   // its own order key; "" when it lists by id (see repeat_order.h)
  int repeat = -1;     // the repeat question this is an instance of; -1 for the root
  Instance* parent = nullptr;
  std::vector<Cell> cells;  // one per member question of the container
  std::map<int, std::vector<std::unique_ptr<Instance>>> children;  // repeat -> instances
  json extra = json::object();  // answers the form does not know, kept as they were
};

std::string NewId() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) {
    for (unsigned char& c : b) c = static_cast<unsigned char>(std::rand());
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 15];
  }
  return out;
}

bool IsInteger(std::string_view s) {
  size_t i = !s.empty() && s[0] == '-' ? 1 : 0;
  if (i == s.size() || s.size() - i > 15) return false;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

bool IsDecimal(std::string_view s) {
  size_t i = !s.empty() && s[0] == '-' ? 1 : 0;
  size_t digits = 0, dots = 0;
  for (; i < s.size(); ++i) {
    if (s[i] == '.') {
      ++dots;
    } else if (s[i] >= '0' && s[i] <= '9') {
      ++digits;
    } else {
      return false;
    }
  }
  return digits > 0 && dots <= 1;
}

bool IsTime(std::string_view s) {
  double d;
  return ParseDateTimeDays("1970-01-01T" + std::string(s), &d);
}

bool IsPoints(std::string_view s, size_t min_points) {
  size_t points = 0, start = 0;
  while (start <= s.size()) {
    size_t end = std::min(s.find(';', start), s.size());
    std::string_view part = s.substr(start, end - start);
    std::vector<double> nums;
    size_t i = 0;
    while (i < part.size()) {
      while (i < part.size() && part[i] == ' ') ++i;
      size_t b = i;
      while (i < part.size() && part[i] != ' ') ++i;
      if (i > b) nums.push_back(StringToNumber(part.substr(b, i - b)));
    }
    if (!nums.empty()) {
      if (nums.size() < 2 || nums.size() > 4) return false;
      for (double n : nums) {
        if (std::isnan(n)) return false;
      }
      if (std::fabs(nums[0]) > 90 || std::fabs(nums[1]) > 180) return false;
      ++points;
    }
    start = end + 1;
  }
  return points >= min_points;
}

struct Messages {
  const char* required;
  const char* constraint;
  const char* integer;
  const char* decimal;
  const char* date;
  const char* time;
  const char* datetime;
  const char* choice;
  const char* point;
  const char* acknowledge;
  const char* expression;
};

const Messages& MessagesFor(std::string_view lang) {
  static const Messages kZh = {"此题必答", "答案不符合要求", "请输入整数", "请输入数字",
                               "请输入日期（年-月-日）", "请输入时间（时:分）", "请输入日期和时间",
                               "不是可选的选项：", "定位无效，请重新定位", "请确认", "表达式出错："};
  static const Messages kEn = {"This question is required", "This answer is not allowed",
                               "Enter a whole number", "Enter a number",
                               "Enter a date (YYYY-MM-DD)", "Enter a time (HH:MM)",
                               "Enter a date and time", "Not one of the choices: ",
                               "Not a valid location; capture it again", "Please confirm",
                               "Expression error: "};
  return lang == "en" ? kEn : kZh;
}

}  // namespace

struct FormSession::Impl {
  std::shared_ptr<const FormDef> form;
  SessionOptions options;
  std::string lang;
  std::unique_ptr<Instance> root;
  // members[container + 1]: the questions stored in a container (-1 = root), in form order.
  std::vector<std::vector<int>> members;
  std::vector<int> slot;  // question -> index in its container's cells

  const Question& Q(int i) const { return form->questions()[i]; }
  int ContainerOf(int q) const { return Q(q).repeat; }
  Cell& CellOf(Instance& inst, int q) { return inst.cells[slot[q]]; }
  const Cell& CellOf(const Instance& inst, int q) const { return inst.cells[slot[q]]; }

  // Repeats from the outermost down to `container` (empty for the root).
  std::vector<int> Chain(int container) const {
    std::vector<int> chain;
    for (int r = container; r >= 0; r = Q(r).repeat) chain.insert(chain.begin(), r);
    return chain;
  }

  std::unique_ptr<Instance> MakeInstance(int repeat, Instance* parent) {
    auto inst = std::make_unique<Instance>();
    inst->repeat = repeat;
    inst->parent = parent;
    // Time-ordered ids: after a sync, instances are listed in the order they
    // were added, on every device.
    inst->id = repeat >= 0 ? NewUuidV7(options.clock != nullptr ? *options.clock : *SystemClock()) : "";
    inst->cells.resize(members[repeat + 1].size());
    return inst;
  }

  static const std::string& OrderKey(const Instance& inst) { return inst.order.empty() ? inst.id : inst.order; }

  // A new instance at the end of `list`. Its id sorts last unless this
  // device's clock is behind the one that made the last instance: then it
  // gets an order key after that instance's.
  Instance& Append(std::vector<std::unique_ptr<Instance>>& list, int repeat, Instance* parent) {
    list.push_back(MakeInstance(repeat, parent));
    Instance& added = *list.back();
    if (list.size() > 1 && added.id <= OrderKey(*list[list.size() - 2])) {
      added.order = internal::OrderKeyBetween(OrderKey(*list[list.size() - 2]), "");
    }
    return added;
  }

  // ------------------------------------------------------------ evaluation

  class Context final : public EvalContext {
   public:
    Context(const Impl& s, const Instance& inst, int q) : s_(s), inst_(inst), q_(q) {}

    Result<Value> Field(std::string_view name) const override {
      const Question* t = s_.form->Find(name);
      if (t == nullptr) return EvalContext::Field(name);
      bool fanned = false;
      std::vector<std::pair<const Instance*, std::string>> nodes = Visible(*t, &fanned);
      if (!fanned) return Value::String(nodes.empty() ? "" : nodes.front().second);
      Value::NodeSet out;
      for (auto& n : nodes) out.push_back(std::move(n.second));
      return Value::Nodes(std::move(out));
    }
    Result<Value> FilterNodes(std::string_view name, const NodeFilter& keep) const override {
      const Question* t = s_.form->Find(name);
      if (t == nullptr) return EvalContext::FilterNodes(name, keep);
      bool fanned = false;
      Value::NodeSet out;
      for (auto& [inst, value] : Visible(*t, &fanned)) {
        Context at(s_, *inst, t->index);
        at.current_override_ = value;
        TIANYE_ASSIGN_OR_RETURN(bool ok, keep(at));
        if (ok) out.push_back(value);
      }
      return Value::Nodes(std::move(out));
    }
    Value Current() const override {
      if (current_override_) return Value::String(*current_override_);
      return Value::String(s_.CellOf(inst_, q_).value);
    }
    int Position() const override {
      if (inst_.parent == nullptr) return 0;
      const auto& siblings = inst_.parent->children.at(inst_.repeat);
      for (size_t i = 0; i < siblings.size(); ++i) {
        if (siblings[i].get() == &inst_) return static_cast<int>(i) + 1;
      }
      return 0;
    }
    Result<Value> IndexedField(std::string_view field, std::string_view repeat,
                               int index) const override {
      const Question* f = s_.form->Find(field);
      const Question* r = s_.form->Find(repeat);
      if (f == nullptr || r == nullptr || r->type != QuestionType::kRepeat || f->repeat != r->index) {
        return Status::InvalidArgument("indexed-repeat(): ${" + std::string(field) +
                                       "} is not a question of repeat ${" + std::string(repeat) + "}");
      }
      const Instance* parent = Ancestor(r->repeat);
      if (parent == nullptr) return Value::String("");
      auto it = parent->children.find(r->index);
      if (it == parent->children.end() || index < 1 || index > static_cast<int>(it->second.size())) {
        return Value::String("");
      }
      return Value::String(s_.CellOf(*it->second[index - 1], f->index).value);
    }
    Result<Value> Column(std::string_view name) const override {
      if (column_lookup_ != nullptr) return (*column_lookup_)(name);
      return EvalContext::Column(name);
    }
    Result<std::string> ChoiceLabel(std::string_view question, std::string_view value) const override {
      const Question* q = s_.form->Find(question);
      if (q == nullptr) return EvalContext::ChoiceLabel(question, value);
      return s_.form->ChoiceLabel(*q, value, s_.lang);
    }
    Result<std::string> PullData(std::string_view file, std::string_view column,
                                 std::string_view key_column, std::string_view key) const override {
      return s_.form->PullData(file, column, key_column, key);
    }
    int64_t NowMillis() const override {
      return s_.options.clock != nullptr ? s_.options.clock->NowMillis() : SystemClock()->NowMillis();
    }
    int UtcOffsetMinutes() const override { return s_.options.utc_offset_minutes; }

    using ColumnLookup = std::function<Result<Value>(std::string_view)>;
    void set_column_lookup(const ColumnLookup* lookup) { column_lookup_ = lookup; }

   private:
    // The instance of repeat `r` on the path from the root to this context's
    // instance; the root for r = -1; null when the context is not inside r.
    const Instance* Ancestor(int r) const {
      for (const Instance* i = &inst_; i != nullptr; i = i->parent) {
        if (i->repeat == r) return i;
      }
      return nullptr;
    }
    // The nodes of `t` seen from here, with the instance holding each: inside
    // a repeat instance, the same instance's; elsewhere every instance's
    // (`fanned`). `${repeat}` itself is one node per instance, valued "".
    std::vector<std::pair<const Instance*, std::string>> Visible(const Question& t, bool* fanned) const {
      std::vector<int> chain = s_.Chain(t.type == QuestionType::kRepeat ? t.index : t.repeat);
      std::vector<std::pair<const Instance*, std::string>> out;
      Collect(*s_.root, chain, 0, t, &out, fanned);
      return out;
    }
    void Collect(const Instance& cur, const std::vector<int>& chain, size_t depth, const Question& t,
                 std::vector<std::pair<const Instance*, std::string>>* out, bool* fanned) const {
      if (depth == chain.size()) {
        out->emplace_back(&cur, t.type == QuestionType::kRepeat ? "" : s_.CellOf(cur, t.index).value);
        return;
      }
      int r = chain[depth];
      const Instance* mine = r == t.index ? nullptr : Ancestor(r);
      if (mine != nullptr && mine->parent == &cur) {
        Collect(*mine, chain, depth + 1, t, out, fanned);
        return;
      }
      *fanned = true;
      auto it = cur.children.find(r);
      if (it == cur.children.end()) return;
      for (const auto& inst : it->second) Collect(*inst, chain, depth + 1, t, out, fanned);
    }

    const Impl& s_;
    const Instance& inst_;
    int q_;
    std::optional<std::string> current_override_;  // a filtered node's own value
    const ColumnLookup* column_lookup_ = nullptr;
  };

  std::string ExprError(const Status& s) const {
    return std::string(MessagesFor(lang).expression) + s.message();
  }

  // Type and constraint check of a non-empty answer; "" when it is fine.
  std::string Validate(const Instance& inst, const Question& q, const std::string& value) const {
    if (value.empty()) return "";
    const Messages& m = MessagesFor(lang);
    switch (q.type) {
      case QuestionType::kInteger:
        if (!IsInteger(value)) return m.integer;
        break;
      case QuestionType::kDecimal:
        if (!IsDecimal(value)) return m.decimal;
        break;
      case QuestionType::kDate: {
        double d;
        if (value.size() != 10 || !ParseDateDays(value, &d)) return m.date;
        break;
      }
      case QuestionType::kTime:
        if (!IsTime(value)) return m.time;
        break;
      case QuestionType::kDateTime: {
        double d;
        if (!ParseDateTimeDays(value, &d)) return m.datetime;
        break;
      }
      case QuestionType::kSelectOne:
      case QuestionType::kSelectOneFromFile:
        if (!form->IsChoice(q, value)) return m.choice + value;
        break;
      case QuestionType::kRange: {
        auto param = [&](const char* key, double fallback) {
          auto it = q.parameters.find(key);
          double d = it == q.parameters.end() ? fallback : StringToNumber(it->second);
          return std::isnan(d) ? fallback : d;
        };
        double v = StringToNumber(value), lo = param("start", 1), hi = param("end", 10);
        if (!IsDecimal(value) || v < std::min(lo, hi) || v > std::max(lo, hi)) return m.decimal;
        break;
      }
      case QuestionType::kRank:
      case QuestionType::kSelectMultiple:
      case QuestionType::kSelectMultipleFromFile: {
        size_t i = 0;
        while (i < value.size()) {
          while (i < value.size() && value[i] == ' ') ++i;
          size_t b = i;
          while (i < value.size() && value[i] != ' ') ++i;
          std::string item = value.substr(b, i - b);
          if (!item.empty() && !form->IsChoice(q, item)) return m.choice + item;
        }
        break;
      }
      case QuestionType::kGeopoint:
        if (!IsPoints(value, 1) || value.find(';') != std::string::npos) return m.point;
        break;
      case QuestionType::kGeotrace:
        if (!IsPoints(value, 2)) return m.point;
        break;
      case QuestionType::kGeoshape:
        if (!IsPoints(value, 3)) return m.point;
        break;
      case QuestionType::kAcknowledge:
        if (value != "OK") return m.acknowledge;
        break;
      default:
        break;
    }
    if (q.constraint) {
      Context ctx(*this, inst, q.index);
      Result<Value> ok = q.constraint->Evaluate(ctx);
      if (!ok) return ExprError(ok.error());
      if (!ok->AsBoolean()) {
        std::string msg = form->Text(q.constraint_message, lang);
        return msg.empty() ? m.constraint : msg;
      }
    }
    return "";
  }

  // Re-evaluates the calculation of (inst, q), if any.
  void EvaluateCalculation(Instance& inst, int q) {
    const Question& question = Q(q);
    if (!question.calculation) return;
    Context ctx(*this, inst, q);
    Result<Value> v = question.calculation->Evaluate(ctx);
    Cell& c = CellOf(inst, q);
    if (v) {
      c.value = v->kind() == Value::Kind::kNumber && std::isnan(v->AsNumber()) ? "" : v->AsString();
      c.error.clear();
    } else {
      c.value.clear();
      c.error = ExprError(v.error());
    }
  }

  bool EvalFlag(const std::optional<Expression>& e, const Instance& inst, int q, bool fallback,
                std::string* error) const {
    if (!e) return fallback;
    Context ctx(*this, inst, q);
    Result<Value> v = e->Evaluate(ctx);
    if (!v) {
      if (error->empty()) *error = ExprError(v.error());
      return fallback;
    }
    return v->AsBoolean();
  }

  // Re-evaluates relevance, required, read-only and the answer's validity.
  void EvaluateState(Instance& inst, int q) {
    const Question& question = Q(q);
    Cell& c = CellOf(inst, q);
    std::string expr_error = question.calculation ? c.error : "";
    c.self_relevant = EvalFlag(question.relevant, inst, q, true, &expr_error);
    c.required = EvalFlag(question.required, inst, q, false, &expr_error);
    c.read_only = question.calculation.has_value() || IsMetadata(question) ||
                  EvalFlag(question.read_only, inst, q, false, &expr_error);
    c.error = !expr_error.empty() ? expr_error : Validate(inst, question, c.value);
  }

  static bool IsMetadata(const Question& q) {
    switch (q.type) {
      case QuestionType::kStart:
      case QuestionType::kEnd:
      case QuestionType::kToday:
      case QuestionType::kDeviceId:
      case QuestionType::kUsername:
      case QuestionType::kInstanceId:
      case QuestionType::kOtherMetadata:
        return true;
      default:
        return false;
    }
  }

  // ------------------------------------------------------------ tree walks

  // Calls fn(instance, question) for every node in form order.
  template <typename Fn>
  void ForEachNode(Instance& inst, Fn&& fn) {
    for (int q : members[inst.repeat + 1]) {
      fn(inst, q);
      if (Q(q).type == QuestionType::kRepeat) {
        for (auto& child : inst.children[q]) ForEachNode(*child, fn);
      }
    }
  }

  // Every instance of `container` below `base` (base itself when it is one).
  void InstancesOf(Instance& base, int container, std::vector<Instance*>* out) {
    if (base.repeat == container) {
      out->push_back(&base);
      return;
    }
    std::vector<int> chain = Chain(container);
    std::vector<int> base_chain = Chain(base.repeat);
    std::function<void(Instance&, size_t)> walk = [&](Instance& cur, size_t depth) {
      if (depth == chain.size()) {
        out->push_back(&cur);
        return;
      }
      for (auto& child : cur.children[chain[depth]]) walk(*child, depth + 1);
    };
    walk(base, base_chain.size());
  }

  // The effective relevance: its own and every enclosing group's and repeat's.
  bool Relevant(const Instance& inst, int q) const {
    const Instance* cur = &inst;
    for (int p = q; p >= 0;) {
      if (!CellOf(*cur, p).self_relevant) return false;
      int parent = Q(p).parent;
      if (parent >= 0 && Q(parent).type == QuestionType::kRepeat && cur->repeat == parent) {
        cur = cur->parent;  // the repeat's own relevance lives in the enclosing instance
      }
      p = parent;
    }
    return true;
  }

  std::string PathOf(const Instance& inst, int q) const {
    std::string prefix;
    for (const Instance* i = &inst; i->parent != nullptr; i = i->parent) {
      const auto& siblings = i->parent->children.at(i->repeat);
      size_t pos = std::find_if(siblings.begin(), siblings.end(),
                                [&](const auto& p) { return p.get() == i; }) - siblings.begin();
      prefix = Q(i->repeat).name + "[" + std::to_string(pos + 1) + "]/" + prefix;
    }
    return prefix + Q(q).name;
  }

  NodeState StateOf(const Instance& inst, int q) const {
    const Cell& c = CellOf(inst, q);
    NodeState s;
    s.path = PathOf(inst, q);
    s.question = q;
    s.relevant = Relevant(inst, q);
    s.required = c.required;
    s.read_only = c.read_only;
    s.value = c.value;
    s.error = c.error;
    return s;
  }

  // Resolves "a[1]/b[2]/x" (want_instance: the last segment has an index and
  // names an instance; otherwise it names a question).
  Result<std::pair<Instance*, int>> Resolve(std::string_view path, bool want_instance,
                                            int* instance_index = nullptr) {
    Instance* cur = root.get();
    std::string_view rest = path;
    while (true) {
      size_t slash = rest.find('/');
      std::string_view seg = rest.substr(0, slash);
      bool last = slash == std::string_view::npos;
      int index = 0;
      std::string_view name = seg;
      if (size_t open = seg.find('['); open != std::string_view::npos) {
        if (seg.back() != ']') return BadPath(path);
        std::string num(seg.substr(open + 1, seg.size() - open - 2));
        if (!IsInteger(num) || num[0] == '-') return BadPath(path);
        index = std::stoi(num);
        name = seg.substr(0, open);
      }
      const Question* q = form->Find(name);
      if (q == nullptr || q->repeat != cur->repeat) return BadPath(path);
      if (last && !(want_instance && index > 0)) {
        if (index != 0) return BadPath(path);
        return std::pair<Instance*, int>(cur, q->index);
      }
      if (q->type != QuestionType::kRepeat || index < 1) return BadPath(path);
      auto& list = cur->children[q->index];
      if (index > static_cast<int>(list.size())) return BadPath(path);
      if (last) {
        if (instance_index != nullptr) *instance_index = index;
        return std::pair<Instance*, int>(cur, q->index);
      }
      cur = list[index - 1].get();
      rest = rest.substr(slash + 1);
    }
  }

  static Status BadPath(std::string_view path) {
    return Status::NotFound("no question at '" + std::string(path) + "'");
  }

  // ------------------------------------------------------------ recompute

  void RecomputeAll() {
    for (int q : form->CalculationOrder()) {
      std::vector<Instance*> targets;
      InstancesOf(*root, ContainerOf(q), &targets);
      for (Instance* inst : targets) EvaluateCalculation(*inst, q);
    }
    ForEachNode(*root, [&](Instance& inst, int q) { EvaluateState(inst, q); });
  }

  std::vector<NodeState> AllStates() {
    std::vector<NodeState> out;
    ForEachNode(*root, [&](Instance& inst, int q) { out.push_back(StateOf(inst, q)); });
    return out;
  }

  // Questions to re-evaluate after `changed` changed: everything reading it,
  // and through calculations, everything reading those, transitively.
  std::vector<int> Closure(const std::vector<int>& changed) const {
    std::vector<int> out;
    std::vector<char> seen(form->questions().size(), 0);
    std::vector<int> work = changed;
    while (!work.empty()) {
      int q = work.back();
      work.pop_back();
      for (int d : form->Dependents(q)) {
        if (seen[d]) continue;
        seen[d] = 1;
        out.push_back(d);
        if (Q(d).calculation || Q(d).type == QuestionType::kRepeat) work.push_back(d);
      }
    }
    return out;
  }

  // The instances of question d's container that can see a change made in
  // `inst`: those under the deepest repeat instance both share.
  std::vector<Instance*> Targets(int d, Instance& inst) {
    std::vector<int> dc = Chain(ContainerOf(d)), qc = Chain(inst.repeat);
    size_t common = 0;
    while (common < dc.size() && common < qc.size() && dc[common] == qc[common]) ++common;
    Instance* base = &inst;
    while (base->parent != nullptr && static_cast<size_t>(Chain(base->repeat).size()) > common) {
      base = base->parent;
    }
    std::vector<Instance*> out;
    InstancesOf(*base, ContainerOf(d), &out);
    return out;
  }

  // Adds (inst, q) and, for groups and repeats, every node inside them.
  void Watch(Instance& inst, int q, std::vector<std::pair<Instance*, int>>* out) {
    out->emplace_back(&inst, q);
    const Question& question = Q(q);
    if (question.type == QuestionType::kGroup) {
      for (int c : question.children) Watch(inst, c, out);
    } else if (question.type == QuestionType::kRepeat) {
      for (auto& child : inst.children[q]) {
        ForEachNode(*child, [&](Instance& i, int n) { out->emplace_back(&i, n); });
      }
    }
  }

  // Re-evaluates every calculation and state inside `inst` (after it moved:
  // position() reads no field, so the dependency graph cannot see it).
  void Refresh(Instance& inst) {
    std::vector<Instance*> all;
    ForEachNode(inst, [&](Instance& i, int) {
      if (all.empty() || all.back() != &i) all.push_back(&i);
    });
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    for (int c : form->CalculationOrder()) {
      for (Instance* i : all) {
        if (i->repeat == ContainerOf(c)) EvaluateCalculation(*i, c);
      }
    }
    ForEachNode(inst, [&](Instance& i, int n) { EvaluateState(i, n); });
  }

  // Re-evaluates what depends on `changed` (seen from `inst`), plus the nodes
  // in `also`, and returns the states that differ from before.
  std::vector<NodeState> Propagate(Instance& inst, const std::vector<int>& changed,
                                   std::vector<std::pair<Instance*, int>> also,
                                   const std::function<void()>& mutate = [] {}) {
    std::vector<int> affected = Closure(changed);
    std::vector<std::pair<Instance*, int>> watch = std::move(also);
    std::map<int, std::vector<Instance*>> targets;
    for (int d : affected) {
      targets[d] = Targets(d, inst);
      for (Instance* t : targets[d]) Watch(*t, d, &watch);
    }
    std::sort(watch.begin(), watch.end());
    watch.erase(std::unique(watch.begin(), watch.end()), watch.end());
    std::vector<NodeState> before;
    before.reserve(watch.size());
    for (auto [i, q] : watch) before.push_back(StateOf(*i, q));
    mutate();

    std::set<int> affected_set(affected.begin(), affected.end());
    for (int q : form->CalculationOrder()) {
      if (affected_set.count(q) == 0) continue;
      for (Instance* t : targets[q]) EvaluateCalculation(*t, q);
    }
    for (int d : affected) {
      for (Instance* t : targets[d]) EvaluateState(*t, d);
    }
    for (auto [i, q] : watch) {
      if (std::find(affected.begin(), affected.end(), q) == affected.end()) EvaluateState(*i, q);
    }
    std::vector<NodeState> changed_states;
    for (size_t k = 0; k < watch.size(); ++k) {
      NodeState now = StateOf(*watch[k].first, watch[k].second);
      if (!(now == before[k])) changed_states.push_back(std::move(now));
    }
    return changed_states;
  }

  // ------------------------------------------------------------ creation

  void ApplyDefaults(Instance& inst) {
    for (int q : members[inst.repeat + 1]) {
      const Question& question = Q(q);
      Cell& c = CellOf(inst, q);
      if (!c.value.empty()) continue;
      Context ctx(*this, inst, q);
      switch (question.type) {
        case QuestionType::kStart:
          c.value = Expression::Parse("now()")->Evaluate(ctx)->AsString();
          break;
        case QuestionType::kToday:
          c.value = Expression::Parse("today()")->Evaluate(ctx)->AsString();
          break;
        case QuestionType::kDeviceId: c.value = options.device_id; break;
        case QuestionType::kUsername: c.value = options.username; break;
        case QuestionType::kInstanceId: c.value = "uuid:" + NewId(); break;
        default:
          if (question.default_expr) {
            Result<Value> v = question.default_expr->Evaluate(ctx);
            if (v) c.value = v->AsString();
          } else {
            c.value = question.default_value;
          }
      }
    }
  }

  Status Load(Instance& inst, const json& obj) {
    for (const auto& [key, value] : obj.items()) {
      if (inst.repeat >= 0 && key == "_id") {
        if (value.is_string() && !value.get<std::string>().empty()) inst.id = value.get<std::string>();
        continue;
      }
      if (inst.repeat >= 0 && key == internal::kOrderMember) {
        if (value.is_string()) inst.order = value.get<std::string>();
        continue;
      }
      const Question* q = form->Find(key);
      if (q == nullptr || q->repeat != inst.repeat || q->is_container() != value.is_array() ||
          q->type == QuestionType::kGroup || q->type == QuestionType::kNote) {
        inst.extra[key] = value;  // kept, never dropped
        continue;
      }
      if (q->type == QuestionType::kRepeat) {
        for (const json& item : value) {
          if (!item.is_object()) continue;
          auto child = MakeInstance(q->index, &inst);
          TIANYE_RETURN_IF_ERROR(Load(*child, item));
          inst.children[q->index].push_back(std::move(child));
        }
      } else {
        CellOf(inst, q->index).value = internal::AnswerText(value);
      }
    }
    return Status::Ok();
  }

  json Build(const Instance& inst, bool exclude) const {
    json obj = inst.extra;
    if (inst.repeat >= 0) obj["_id"] = inst.id;
    if (!inst.order.empty()) obj[internal::kOrderMember] = inst.order;
    for (int q : members[inst.repeat + 1]) {
      const Question& question = Q(q);
      if (exclude && !Relevant(inst, q)) continue;
      if (question.type == QuestionType::kRepeat) {
        auto it = inst.children.find(q);
        if (it == inst.children.end() || it->second.empty()) continue;
        json arr = json::array();
        for (const auto& child : it->second) arr.push_back(Build(*child, exclude));
        obj[question.name] = std::move(arr);
      } else if (question.holds_value() && !CellOf(inst, q).value.empty()) {
        obj[question.name] = CellOf(inst, q).value;
      }
    }
    return obj;
  }
};

FormSession::FormSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FormSession::~FormSession() = default;

Result<std::unique_ptr<FormSession>> FormSession::Open(std::shared_ptr<const FormDef> form,
                                                       std::string_view values_json,
                                                       const SessionOptions& options) {
  if (form == nullptr) return Status::InvalidArgument("no form");
  json values = json::object();
  if (!values_json.empty()) {
    values = json::parse(values_json, nullptr, /*allow_exceptions=*/false);
    if (values.is_discarded() || !values.is_object()) {
      return Status::InvalidArgument("the record's answers are not a JSON object");
    }
  }
  auto impl = std::make_unique<Impl>();
  impl->form = std::move(form);
  impl->options = options;
  impl->lang = options.language;
  const auto& qs = impl->form->questions();
  impl->members.assign(qs.size() + 1, {});
  impl->slot.assign(qs.size(), 0);
  for (const Question& q : qs) {
    auto& list = impl->members[q.repeat + 1];
    impl->slot[q.index] = static_cast<int>(list.size());
    list.push_back(q.index);
  }
  impl->root = impl->MakeInstance(-1, nullptr);
  bool is_new = values.empty();
  TIANYE_RETURN_IF_ERROR(impl->Load(*impl->root, values));
  if (is_new) impl->ApplyDefaults(*impl->root);
  impl->RecomputeAll();
  // Repeats driven by repeat_count get their instances.
  for (const Question& q : qs) {
    if (q.type == QuestionType::kRepeat && q.repeat_count) {
      std::vector<Instance*> parents;
      impl->InstancesOf(*impl->root, q.repeat, &parents);
      for (Instance* p : parents) {
        Impl::Context ctx(*impl, *p, q.index);
        Result<Value> n = q.repeat_count->Evaluate(ctx);
        double want = n ? n->AsNumber() : 0;
        if (std::isnan(want) || want < 0) want = 0;
        want = std::min(want, 1000.0);
        auto& list = p->children[q.index];
        while (list.size() < static_cast<size_t>(want)) impl->ApplyDefaults(impl->Append(list, q.index, p));
      }
    }
  }
  impl->RecomputeAll();
  return std::unique_ptr<FormSession>(new FormSession(std::move(impl)));
}

Result<std::vector<NodeState>> FormSession::SetAnswer(std::string_view path, std::string_view value) {
  TIANYE_ASSIGN_OR_RETURN(auto target, impl_->Resolve(path, false));
  auto [inst, q] = target;
  const Question& question = impl_->Q(q);
  if (!question.holds_value()) {
    return Status::FailedPrecondition("'" + std::string(path) + "' does not take an answer");
  }
  Cell& cell = impl_->CellOf(*inst, q);
  if (cell.read_only) {
    return Status::FailedPrecondition("'" + std::string(path) + "' is computed or read-only");
  }
  if (!impl_->Relevant(*inst, q)) {
    return Status::FailedPrecondition("'" + std::string(path) + "' is not shown");
  }
  std::string new_value(value);
  return impl_->Propagate(*inst, {q}, {{inst, q}}, [&] { cell.value = std::move(new_value); });
}

Result<std::vector<NodeState>> FormSession::AddRepeat(std::string_view repeat_path) {
  TIANYE_ASSIGN_OR_RETURN(auto target, impl_->Resolve(repeat_path, false));
  auto [inst, q] = target;
  const Question& question = impl_->Q(q);
  if (question.type != QuestionType::kRepeat) {
    return Status::NotFound("'" + std::string(repeat_path) + "' is not a repeat");
  }
  if (question.repeat_count) {
    return Status::FailedPrecondition("the number of '" + question.name + "' is set by the form");
  }
  if (!impl_->Relevant(*inst, q)) {
    return Status::FailedPrecondition("'" + std::string(repeat_path) + "' is not shown");
  }
  auto& list = inst->children[q];
  if (list.size() >= 1000) return Status::ResourceExhausted("a repeat holds at most 1000 instances");
  Instance& added = impl_->Append(list, q, inst);
  impl_->ApplyDefaults(added);
  std::vector<int> changed{q};
  std::vector<std::pair<Instance*, int>> also{{inst, q}};
  impl_->ForEachNode(added, [&](Instance& i, int n) {
    also.emplace_back(&i, n);
    changed.push_back(n);
  });
  // The new instance's own calculations first, then whatever reads the repeat.
  for (int c : impl_->form->CalculationOrder()) {
    if (impl_->ContainerOf(c) == q) impl_->EvaluateCalculation(added, c);
  }
  impl_->ForEachNode(added, [&](Instance& i, int n) { impl_->EvaluateState(i, n); });
  std::vector<NodeState> out = impl_->Propagate(added, changed, also);
  // New nodes always count as changed: the caller has never seen them.
  impl_->ForEachNode(added, [&](Instance& i, int n) {
    NodeState s = impl_->StateOf(i, n);
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
  });
  return out;
}

Result<std::vector<NodeState>> FormSession::RemoveRepeat(std::string_view instance_path) {
  int index = 0;
  TIANYE_ASSIGN_OR_RETURN(auto target, impl_->Resolve(instance_path, true, &index));
  auto [inst, q] = target;
  if (index < 1) return Status::NotFound("'" + std::string(instance_path) + "' is not a repeat instance");
  if (impl_->Q(q).repeat_count) {
    return Status::FailedPrecondition("the number of '" + impl_->Q(q).name + "' is set by the form");
  }
  auto& list = inst->children[q];
  list.erase(list.begin() + (index - 1));
  // Later instances moved up: their paths changed, so report them whole.
  std::vector<int> changed{q};
  std::vector<std::pair<Instance*, int>> also{{inst, q}};
  for (const Question& member : impl_->form->questions()) {
    if (member.repeat == q) changed.push_back(member.index);
  }
  for (size_t k = static_cast<size_t>(index - 1); k < list.size(); ++k) impl_->Refresh(*list[k]);
  std::vector<NodeState> out = impl_->Propagate(*inst, changed, also);
  for (size_t k = static_cast<size_t>(index - 1); k < list.size(); ++k) {
    impl_->ForEachNode(*list[k], [&](Instance& i, int n) {
      NodeState s = impl_->StateOf(i, n);
      if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
    });
  }
  return out;
}

Result<std::vector<NodeState>> FormSession::MoveRepeat(std::string_view instance_path, int to) {
  int index = 0;
  TIANYE_ASSIGN_OR_RETURN(auto target, impl_->Resolve(instance_path, true, &index));
  auto [inst, q] = target;
  auto& list = inst->children[q];
  if (index < 1 || to < 1 || to > static_cast<int>(list.size())) {
    return Status::InvalidArgument("cannot move '" + std::string(instance_path) + "' to position " +
                                   std::to_string(to));
  }
  auto moved = std::move(list[index - 1]);
  list.erase(list.begin() + (index - 1));
  Instance& m = **list.insert(list.begin() + (to - 1), std::move(moved));
  // The moved instance's order key goes between its new neighbours' (its
  // id, when that fits), so the move syncs as one field.
  const size_t at = static_cast<size_t>(to - 1);
  const std::string before = at > 0 ? Impl::OrderKey(*list[at - 1]) : "";
  const std::string after = at + 1 < list.size() ? Impl::OrderKey(*list[at + 1]) : "";
  auto fits = [&](const std::string& key) { return key > before && (after.empty() || key < after); };
  if (fits(m.id)) {
    m.order.clear();
  } else if (!fits(m.order)) {
    m.order = internal::OrderKeyBetween(before, after);
  }
  std::vector<int> changed{q};
  for (const Question& member : impl_->form->questions()) {
    if (member.repeat == q) changed.push_back(member.index);
  }
  int lo = std::min(index, to), hi = std::max(index, to);
  for (int k = lo; k <= hi; ++k) impl_->Refresh(*list[k - 1]);
  std::vector<NodeState> out = impl_->Propagate(*inst, changed, {{inst, q}});
  for (int k = lo; k <= hi; ++k) {
    impl_->ForEachNode(*list[k - 1], [&](Instance& i, int n) {
      NodeState s = impl_->StateOf(i, n);
      if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
    });
  }
  return out;
}

Result<int> FormSession::RepeatCount(std::string_view repeat_path) const {
  TIANYE_ASSIGN_OR_RETURN(auto target, impl_->Resolve(repeat_path, false));
  auto [inst, q] = target;
  if (impl_->Q(q).type != QuestionType::kRepeat) {
    return Status::NotFound("'" + std::string(repeat_path) + "' is not a repeat");
  }
  auto it = inst->children.find(q);
  return it == inst->children.end() ? 0 : static_cast<int>(it->second.size());
}

std::vector<NodeState> FormSession::States() const { return impl_->AllStates(); }

Result<NodeState> FormSession::State(std::string_view path) const {
  TIANYE_ASSIGN_OR_RETURN(auto target, impl_->Resolve(path, false));
  return impl_->StateOf(*target.first, target.second);
}

Result<std::vector<ChoiceOption>> FormSession::Choices(std::string_view path) const {
  TIANYE_ASSIGN_OR_RETURN(auto target, impl_->Resolve(path, false));
  auto [inst, q] = target;
  const Question& question = impl_->Q(q);
  const FormDef& form = *impl_->form;
  std::vector<ChoiceOption> out;
  Impl::Context ctx(*impl_, *inst, q);
  auto keep = [&](const Impl::Context::ColumnLookup& lookup) -> Result<bool> {
    if (!question.choice_filter) return true;
    ctx.set_column_lookup(&lookup);
    Result<Value> v = question.choice_filter->Evaluate(ctx);
    ctx.set_column_lookup(nullptr);
    if (!v) return v.error();
    return v->AsBoolean();
  };
  if (const ChoiceList* list = form.Choices(question.list_name)) {
    for (const Choice& c : list->choices) {
      Impl::Context::ColumnLookup lookup = [&](std::string_view col) -> Result<Value> {
        if (col == "name") return Value::String(c.name);
        if (col == "label") return Value::String(form.Text(c.label, impl_->lang));
        auto it = c.columns.find(std::string(col));
        return Value::String(it == c.columns.end() ? "" : it->second);
      };
      TIANYE_ASSIGN_OR_RETURN(bool ok, keep(lookup));
      if (ok) out.push_back({c.name, form.Text(c.label, impl_->lang)});
    }
  } else if (const CsvTable* t = form.File(question.file)) {
    int name = t->Column("name");
    for (const auto& row : t->rows) {
      Impl::Context::ColumnLookup lookup = [&](std::string_view col) -> Result<Value> {
        int i = t->Column(col);
        return Value::String(i >= 0 && static_cast<size_t>(i) < row.size() ? row[i] : "");
      };
      TIANYE_ASSIGN_OR_RETURN(bool ok, keep(lookup));
      if (ok && static_cast<size_t>(name) < row.size()) {
        out.push_back({row[name], form.ChoiceLabel(question, row[name], impl_->lang)});
      }
    }
  } else {
    return Status::InvalidArgument("'" + std::string(path) + "' is not a select question");
  }
  return out;
}

std::vector<FinalizeProblem> FormSession::Finalize() {
  Impl& s = *impl_;
  s.ForEachNode(*s.root, [&](Instance& inst, int q) {
    if (s.Q(q).type == QuestionType::kEnd) {
      Impl::Context ctx(s, inst, q);
      s.CellOf(inst, q).value = Expression::Parse("now()")->Evaluate(ctx)->AsString();
    }
  });
  s.RecomputeAll();
  return Problems();
}

std::vector<FinalizeProblem> FormSession::Problems() const {
  Impl& s = *impl_;
  std::vector<FinalizeProblem> problems;
  const Messages& m = MessagesFor(s.lang);
  s.ForEachNode(*s.root, [&](Instance& inst, int q) {
    const Question& question = s.Q(q);
    if (!s.Relevant(inst, q)) return;
    const Cell& c = s.CellOf(inst, q);
    std::string path = s.PathOf(inst, q);
    if (question.holds_value() && c.required && c.value.empty()) {
      std::string msg = s.form->Text(question.required_message, s.lang);
      problems.push_back({path, msg.empty() ? m.required : msg, /*missing=*/true});
    } else if (!c.error.empty()) {
      problems.push_back({path, c.error});
    }
  });
  return problems;
}

std::string FormSession::ValuesJson(bool exclude_non_relevant) const {
  return impl_->Build(*impl_->root, exclude_non_relevant).dump();
}

std::vector<NodeState> FormSession::SetLanguage(std::string_view language) {
  std::vector<NodeState> before = impl_->AllStates();
  impl_->lang = std::string(language);
  impl_->RecomputeAll();
  std::vector<NodeState> after = impl_->AllStates(), changed;
  for (size_t i = 0; i < after.size(); ++i) {
    if (!(after[i] == before[i])) changed.push_back(after[i]);
  }
  return changed;
}

const std::string& FormSession::language() const { return impl_->lang; }
const FormDef& FormSession::form() const { return *impl_->form; }

}  // namespace tianye
