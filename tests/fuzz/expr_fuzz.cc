// Fuzz target: parse any bytes as an expression and evaluate it against a
// small context with plain fields, repeats (node-sets) and filters.
#include <cstddef>
#include <cstdint>
#include <string>

#include "tianye/expr.h"

namespace {

class FuzzContext final : public tianye::EvalContext {
 public:
  tianye::Result<tianye::Value> Field(std::string_view name) const override {
    if (name == "a") return tianye::Value::String("3");
    if (name == "b") return tianye::Value::String("2025-11-30");
    if (name == "s") return tianye::Value::String("yes no  maybe");
    if (name == "r") return tianye::Value::Nodes({"1", "", "2.5", "x"});
    return tianye::Value::String("");
  }
  tianye::Result<tianye::Value> FilterNodes(std::string_view name,
                                            const NodeFilter& keep) const override {
    tianye::Value::NodeSet out;
    for (int i = 0; i < 3; ++i) {
      auto ok = keep(*this);
      if (!ok) return ok.error();
      if (*ok) out.push_back(std::string(name));
    }
    return tianye::Value::Nodes(out);
  }
  tianye::Value Current() const override { return tianye::Value::String("11010519491231002X"); }
  int Position() const override { return 2; }
  int64_t NowMillis() const override { return 1764460800000; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto e = tianye::Expression::Parse(text);
  if (!e) return 0;
  FuzzContext ctx;
  auto v = e->Evaluate(ctx);
  if (v) {
    (void)v->AsString();
    (void)v->AsNumber();
    (void)v->AsBoolean();
  }
  return 0;
}
