// Evaluation of expressions against a stored record's answers. Name
// resolution matches FormSession's: inside a repeat instance a field means
// that instance's answer; elsewhere, every instance's (a node-set).
#include <nlohmann/json.hpp>

#include "text.h"
#include "tianye/form.h"

namespace tianye {
namespace {

using nlohmann::json;

// One repeat instance on the way from the record's root to the context.
struct Scope {
  int repeat;         // question index of the repeat
  const json* object;  // the instance's answers
  int position;       // 1-based
};

class RecordContext final : public EvalContext {
 public:
  RecordContext(const FormDef& form, const json& root, std::string_view lang)
      : form_(form), root_(root), lang_(lang) {}

  Result<Value> Field(std::string_view name) const override {
    const Question* q = form_.Find(name);
    if (q == nullptr) return EvalContext::Field(name);
    bool fanned = false;
    std::vector<Node> nodes = Visible(*q, &fanned);
    if (!fanned) return Value::String(nodes.empty() ? "" : nodes.front().value);
    Value::NodeSet out;
    for (Node& n : nodes) out.push_back(std::move(n.value));
    return Value::Nodes(std::move(out));
  }

  Result<Value> FilterNodes(std::string_view name, const NodeFilter& keep) const override {
    const Question* q = form_.Find(name);
    if (q == nullptr) return EvalContext::FilterNodes(name, keep);
    bool fanned = false;
    Value::NodeSet out;
    for (Node& n : Visible(*q, &fanned)) {
      RecordContext at(form_, root_, lang_);
      at.scopes_ = std::move(n.scopes);
      at.current_ = n.value;
      TIANYE_ASSIGN_OR_RETURN(bool ok, keep(at));
      if (ok) out.push_back(std::move(n.value));
    }
    return Value::Nodes(std::move(out));
  }

  Value Current() const override { return Value::String(current_); }
  int Position() const override { return scopes_.empty() ? 0 : scopes_.back().position; }

  Result<std::string> ChoiceLabel(std::string_view question, std::string_view value) const override {
    const Question* q = form_.Find(question);
    if (q == nullptr) return EvalContext::ChoiceLabel(question, value);
    return form_.ChoiceLabel(*q, value, lang_);
  }

  Result<std::string> PullData(std::string_view file, std::string_view column,
                               std::string_view key_column, std::string_view key) const override {
    return form_.PullData(file, column, key_column, key);
  }

 private:
  struct Node {
    std::vector<Scope> scopes;  // down to the instance holding the node
    std::string value;
  };

  std::vector<Node> Visible(const Question& q, bool* fanned) const {
    std::vector<int> chain;
    for (int r = q.type == QuestionType::kRepeat ? q.index : q.repeat; r >= 0;
         r = form_.questions()[r].repeat) {
      chain.insert(chain.begin(), r);
    }
    std::vector<Node> out;
    std::vector<Scope> path;
    Collect(root_, chain, 0, q, &path, &out, fanned);
    return out;
  }

  void Collect(const json& obj, const std::vector<int>& chain, size_t depth, const Question& q,
               std::vector<Scope>* path, std::vector<Node>* out, bool* fanned) const {
    if (depth == chain.size()) {
      std::string value;
      if (q.type != QuestionType::kRepeat) {
        auto v = obj.find(q.name);
        if (v != obj.end()) value = internal::AnswerText(*v);
      }
      out->push_back({*path, std::move(value)});
      return;
    }
    int r = chain[depth];
    // Inside an instance of r already (and not asking for r's instances)?
    if (r != q.index && depth < scopes_.size() && scopes_[depth].repeat == r) {
      path->push_back(scopes_[depth]);
      Collect(*scopes_[depth].object, chain, depth + 1, q, path, out, fanned);
      path->pop_back();
      return;
    }
    *fanned = true;
    auto it = obj.find(form_.questions()[r].name);
    if (it == obj.end() || !it->is_array()) return;
    int position = 0;
    for (const json& instance : *it) {
      ++position;
      if (!instance.is_object()) continue;
      path->push_back({r, &instance, position});
      Collect(instance, chain, depth + 1, q, path, out, fanned);
      path->pop_back();
    }
  }

  const FormDef& form_;
  const json& root_;
  std::string lang_;
  std::vector<Scope> scopes_;  // the instances the context sits in, outermost first
  std::string current_;
};

}  // namespace

Result<Value> EvaluateOnRecord(const FormDef& form, const Expression& expr,
                               std::string_view values_json, std::string_view lang) {
  json values = json::parse(values_json, nullptr, /*allow_exceptions=*/false);
  if (values.is_discarded() || !values.is_object()) {
    return Status::InvalidArgument("the record's answers are not a JSON object");
  }
  RecordContext ctx(form, values, lang);
  return expr.Evaluate(ctx);
}

}  // namespace tianye
