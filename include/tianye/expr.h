// Expression: one compiled XLSForm / ODK XForms expression.
//
// Parsed once into a syntax tree; evaluation never re-parses. Supports
// `${field}`, `.`, `..`, number and string literals, `+ - * div mod`,
// `= != < <= > >=`, `and or`, unary minus, `|`, parentheses and the ODK
// function library (see forms/README.md for the list and its semantics).
// Parse errors and evaluation errors are Status values, never crashes.
//
// Thread safety: a parsed Expression is immutable and may be evaluated from
// several threads at once, each with its own EvalContext.
#ifndef TIANYE_EXPR_H_
#define TIANYE_EXPR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tianye/status.h"
#include "tianye/value.h"

namespace tianye {

// Where an expression reads its data. The form session implements it; a
// bare expression can use the defaults (no fields, the system clock).
class EvalContext {
 public:
  virtual ~EvalContext() = default;

  // `${name}`: the value seen from the current position (a sibling in the
  // same repeat instance, or a node-set of all instances from outside).
  // kNotFound for an unknown name.
  virtual Result<Value> Field(std::string_view name) const;
  // `${name}[predicate]`: the nodes of `name` (a repeat's instances, or a
  // field's values) for which `keep` returns true. `keep` gets a context
  // placed at the node: its Field() resolves from that repeat instance (so
  // the predicate's bare child names read that instance's answers), its
  // Current() is the node's value and its Position() the instance's index.
  using NodeFilter = std::function<Result<bool>(const EvalContext& node)>;
  virtual Result<Value> FilterNodes(std::string_view name, const NodeFilter& keep) const;
  // A bare `name`: a column of the choice row a choice_filter is looking at.
  // kInvalidArgument outside a choice_filter.
  virtual Result<Value> Column(std::string_view name) const;
  // `.`: the value of the question the expression belongs to.
  virtual Value Current() const { return Value(); }
  // position(..): 1-based index of the enclosing repeat instance, 0 outside repeats.
  virtual int Position() const { return 0; }
  // indexed-repeat(): value of `field` in instance `index` (1-based) of `repeat`.
  virtual Result<Value> IndexedField(std::string_view field, std::string_view repeat,
                                     int index) const;
  // jr:choice-name(value, '${question}'): the label of `value` in the
  // question's choice list, in the current language; "" when unknown.
  virtual Result<std::string> ChoiceLabel(std::string_view question, std::string_view value) const;
  // pulldata(file, column, key_column, key): "" when no row matches.
  virtual Result<std::string> PullData(std::string_view file, std::string_view column,
                                       std::string_view key_column, std::string_view key) const;

  // Wall-clock time (ms since the epoch, UTC) and the local offset in minutes
  // (Shuozhou: +480). Defaults: the system clock, +08:00.
  virtual int64_t NowMillis() const;
  virtual int UtcOffsetMinutes() const { return 480; }
};

class Expression {
 public:
  // The longest expression accepted, in bytes, and the deepest nesting.
  static constexpr size_t kMaxLength = 64 * 1024;
  static constexpr int kMaxDepth = 256;

  // Parses `text`. Errors: kInvalidArgument naming the position and what was
  // expected, unknown functions and wrong argument counts included.
  static Result<Expression> Parse(std::string_view text);

  Expression(Expression&&) noexcept;
  Expression& operator=(Expression&&) noexcept;
  Expression(const Expression&);
  Expression& operator=(const Expression&);
  ~Expression();

  // Evaluates against `context`. Errors (e.g. an invalid regex) are returned,
  // never thrown.
  Result<Value> Evaluate(const EvalContext& context) const;

  // The `${name}` references, in order of first appearance, without duplicates.
  const std::vector<std::string>& references() const;
  // Bare names that are not function calls: columns of the choices sheet
  // (only meaningful in a choice_filter), in order, without duplicates.
  const std::vector<std::string>& columns() const;
  // Whether the expression uses `.` (its own question's value).
  bool uses_current() const;
  // Whether it calls a function whose value changes with time or randomness
  // (now, today, uuid, random), so that it must not be cached.
  bool is_volatile() const;
  const std::string& text() const;

  struct Node;  // the syntax tree; defined in core/

 private:
  Expression();
  std::string text_;
  std::shared_ptr<const Node> root_;
  std::vector<std::string> references_;
  std::vector<std::string> columns_;
  bool uses_current_ = false;
  bool volatile_ = false;
};

}  // namespace tianye

#endif  // TIANYE_EXPR_H_
