// Evaluation of expressions against a stored record's answers.
#include <nlohmann/json.hpp>

#include "tianye/form.h"

namespace tianye {
namespace {

using nlohmann::json;

std::string Scalar(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number()) return NumberToString(v.get<double>());
  return v.dump();
}

class RecordContext final : public EvalContext {
 public:
  RecordContext(const FormDef& form, const json& values, std::string_view lang)
      : form_(form), values_(values), lang_(lang) {}

  Result<Value> Field(std::string_view name) const override {
    const Question* q = form_.Find(name);
    if (q == nullptr) return EvalContext::Field(name);
    // The chain of repeats from the outermost down to the question's own.
    std::vector<const Question*> chain;
    for (int r = q->type == QuestionType::kRepeat ? q->index : q->repeat; r >= 0;
         r = form_.questions()[r].repeat) {
      chain.insert(chain.begin(), &form_.questions()[r]);
    }
    if (chain.empty()) {
      auto it = values_.find(q->name);
      return Value::String(it == values_.end() ? "" : Scalar(*it));
    }
    Value::NodeSet out;
    Collect(values_, chain, 0, *q, &out);
    return Value::Nodes(std::move(out));
  }

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
  void Collect(const json& obj, const std::vector<const Question*>& chain, size_t depth,
               const Question& q, Value::NodeSet* out) const {
    auto it = obj.find(chain[depth]->name);
    if (it == obj.end() || !it->is_array()) return;
    for (const json& instance : *it) {
      if (!instance.is_object()) continue;
      if (depth + 1 < chain.size()) {
        Collect(instance, chain, depth + 1, q, out);
      } else if (q.type == QuestionType::kRepeat) {
        out->push_back("");  // one node per instance, for count()
      } else {
        auto v = instance.find(q.name);
        out->push_back(v == instance.end() ? "" : Scalar(*v));
      }
    }
  }

  const FormDef& form_;
  const json& values_;
  std::string lang_;
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
