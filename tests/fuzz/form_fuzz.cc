// Fuzz target: load any bytes as a form; when it loads, open a session on
// it, answer every question with a fixed value and finalize.
#include <cstddef>
#include <cstdint>
#include <string>

#include "tianye/form_session.h"

namespace {
class FixedClock final : public tianye::Clock {
 public:
  int64_t NowMillis() const override { return 1764460800000; }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  tianye::FormLoadResult r = tianye::FormDef::Parse(text, {});
  if (!r.form) return 0;
  static FixedClock clock;
  tianye::SessionOptions options;
  options.clock = &clock;
  auto s = tianye::FormSession::Open(r.form, "", options);
  if (!s) return 0;
  for (const tianye::NodeState& n : (*s)->States()) {
    (void)(*s)->SetAnswer(n.path, "1");
    (void)(*s)->Choices(n.path);
  }
  for (const tianye::Question& q : r.form->questions()) {
    if (q.type == tianye::QuestionType::kRepeat && q.repeat < 0) (void)(*s)->AddRepeat(q.name);
  }
  (void)(*s)->Finalize();
  (void)(*s)->ValuesJson(true);
  return 0;
}
