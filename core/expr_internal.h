// The expression syntax tree and function table. Private to the core.
#ifndef TIANYE_CORE_EXPR_INTERNAL_H_
#define TIANYE_CORE_EXPR_INTERNAL_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tianye/expr.h"

namespace tianye {
namespace internal {

enum class Fn {
  kSelected, kCountSelected, kSelectedAt, kChoiceName, kIf, kNot, kTrue, kFalse, kBoolean,
  kBooleanFromString, kCoalesce, kConcat, kString, kStringLength, kSubstr, kSubstringBefore,
  kSubstringAfter, kContains, kStartsWith, kEndsWith, kNormalizeSpace, kTranslate, kRegex,
  kNumber, kInt, kRound, kFloor, kCeiling, kPow, kAbs, kMin, kMax, kSum, kCount, kCountNonEmpty,
  kJoin, kPosition, kIndexedRepeat, kToday, kNow, kDate, kDecimalDateTime, kFormatDate,
  kFormatDateTime, kOnce, kUuid, kPullData, kDistance, kArea, kRandom, kSqrt, kExp, kExp10, kLog,
  kLog10, kPi, kSin, kCos, kTan, kAsin, kAcos, kAtan, kAtan2,
};

struct FunctionSpec {
  const char* name;
  Fn fn;
  int min_args;
  int max_args;  // -1: any number
  bool is_volatile;
};

// nullptr for an unknown name.
const FunctionSpec* FindFunction(std::string_view name);
// Every function, for documentation and form checks.
const std::vector<FunctionSpec>& AllFunctions();

enum class BinaryOp { kOr, kAnd, kEq, kNe, kLt, kLe, kGt, kGe, kAdd, kSub, kMul, kDiv, kMod, kUnion };

class CompiledRegex;  // PCRE2 pattern; defined in expr_eval.cc

}  // namespace internal

struct Expression::Node {
  enum class Type { kString, kNumber, kField, kColumn, kCurrent, kParent, kNegate, kBinary, kCall,
                    kFilter };  // kFilter: args[0] a kField, args[1] the predicate
  Type type;
  std::string text;  // string literal, field or column name
  double number = 0;
  internal::BinaryOp op = internal::BinaryOp::kOr;
  const internal::FunctionSpec* function = nullptr;
  std::vector<std::unique_ptr<Node>> args;  // operands or call arguments
  int depth = 1;  // height of this subtree; bounded by Expression::kMaxDepth
  std::shared_ptr<const internal::CompiledRegex> regex;  // regex() with a literal pattern
};

namespace internal {

// Compiles `pattern` (PCRE2, UTF-8). Errors: kInvalidArgument with PCRE2's message.
Result<std::shared_ptr<const CompiledRegex>> CompileRegex(std::string_view pattern);

// Evaluates a tree (expr_eval.cc).
Result<Value> Eval(const Expression::Node& node, const EvalContext& ctx);

}  // namespace internal
}  // namespace tianye

#endif  // TIANYE_CORE_EXPR_INTERNAL_H_
