// Lexer and recursive-descent parser for XLSForm / XPath expressions.
//
// Grammar (lowest precedence first), XPath 1.0 as ODK uses it:
//   or  :=  and ('or' and)*
//   and :=  eq ('and' eq)*
//   eq  :=  rel (('=' | '!=') rel)*
//   rel :=  add (('<' | '<=' | '>' | '>=') add)*
//   add :=  mul (('+' | '-') mul)*
//   mul :=  unary (('*' | 'div' | 'mod') unary)*
//   unary := '-' unary | union
//   union := primary ('|' primary)*
//   primary := number | string | '${' name '}' | '.' | '..' | name '(' args ')' | name | '(' or ')'
// A bare `name` (not a call) is a column of the choices sheet, used in choice_filter.
#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <unordered_set>

#include "expr_internal.h"

namespace tianye {
namespace {

using internal::BinaryOp;
using Node = Expression::Node;
using NodePtr = std::unique_ptr<Node>;

enum class Tok { kEnd, kNumber, kString, kField, kName, kDot, kDotDot, kLParen, kRParen, kComma,
                 kLBracket, kRBracket,
                 kPlus, kMinus, kStar, kPipe, kEq, kNe, kLt, kLe, kGt, kGe, kSlash };

struct Token {
  Tok type = Tok::kEnd;
  std::string text;
  size_t pos = 0;
};

bool IsNameStart(unsigned char c) { return std::isalpha(c) || c == '_' || c >= 0x80; }
bool IsNameChar(unsigned char c) {
  return IsNameStart(c) || std::isdigit(c) || c == '-' || c == '.' || c == ':';
}

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  Result<NodePtr> ParseAll() {
    TIANYE_RETURN_IF_ERROR(Advance());
    TIANYE_ASSIGN_OR_RETURN(NodePtr root, ParseOr());
    if (tok_.type != Tok::kEnd) return Error("unexpected '" + tok_.text + "'");
    return root;
  }
  std::vector<std::string> references;
  std::vector<std::string> columns;
  bool uses_current = false;
  bool is_volatile = false;

 private:
  Status Error(const std::string& what) const {
    return Status::InvalidArgument("at character " + std::to_string(tok_.pos + 1) + ": " + what);
  }

  Status Advance() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    tok_ = Token{Tok::kEnd, "", pos_};
    if (pos_ >= s_.size()) return Status::Ok();
    char c = s_[pos_];
    auto single = [&](Tok t, size_t n) {
      tok_.type = t;
      tok_.text = std::string(s_.substr(pos_, n));
      pos_ += n;
      return Status::Ok();
    };
    auto peek = [&](size_t k) { return pos_ + k < s_.size() ? s_[pos_ + k] : '\0'; };
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '.' && std::isdigit(static_cast<unsigned char>(peek(1))))) {
      size_t start = pos_;
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
      if (pos_ < s_.size() && s_[pos_] == '.') {
        ++pos_;
        while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
      }
      tok_.type = Tok::kNumber;
      tok_.text = std::string(s_.substr(start, pos_ - start));
      return Status::Ok();
    }
    if (c == '\'' || c == '"') {
      size_t end = s_.find(c, pos_ + 1);
      if (end == std::string_view::npos) return Error("string is not closed with " + std::string(1, c));
      tok_.type = Tok::kString;
      tok_.text = std::string(s_.substr(pos_ + 1, end - pos_ - 1));
      pos_ = end + 1;
      return Status::Ok();
    }
    if (c == '$' && peek(1) == '{') {
      size_t end = s_.find('}', pos_ + 2);
      if (end == std::string_view::npos) return Error("${ is not closed with }");
      std::string name(s_.substr(pos_ + 2, end - pos_ - 2));
      if (name.empty() || !IsNameStart(static_cast<unsigned char>(name[0]))) {
        return Error("'${" + name + "}' is not a field name");
      }
      for (unsigned char ch : name) {
        if (!IsNameChar(ch) || ch == ':') {
          if (ch == '#') return Error("'${" + name + "}': last-saved references are not supported");
          return Error("'${" + name + "}' is not a field name");
        }
      }
      tok_.type = Tok::kField;
      tok_.text = std::move(name);
      pos_ = end + 1;
      return Status::Ok();
    }
    if (IsNameStart(static_cast<unsigned char>(c))) {
      size_t start = pos_;
      while (pos_ < s_.size() && IsNameChar(static_cast<unsigned char>(s_[pos_]))) ++pos_;
      // A name never ends in '.', '-' or ':' (e.g. "x -1" vs "x-1" is XPath's own rule).
      tok_.type = Tok::kName;
      tok_.text = std::string(s_.substr(start, pos_ - start));
      return Status::Ok();
    }
    switch (c) {
      case '.': return peek(1) == '.' ? single(Tok::kDotDot, 2) : single(Tok::kDot, 1);
      case '(': return single(Tok::kLParen, 1);
      case '[': return single(Tok::kLBracket, 1);
      case ']': return single(Tok::kRBracket, 1);
      case ')': return single(Tok::kRParen, 1);
      case ',': return single(Tok::kComma, 1);
      case '+': return single(Tok::kPlus, 1);
      case '-': return single(Tok::kMinus, 1);
      case '*': return single(Tok::kStar, 1);
      case '|': return single(Tok::kPipe, 1);
      case '/': return single(Tok::kSlash, 1);
      case '=': return single(Tok::kEq, 1);
      case '!': if (peek(1) == '=') return single(Tok::kNe, 2); break;
      case '<': return peek(1) == '=' ? single(Tok::kLe, 2) : single(Tok::kLt, 1);
      case '>': return peek(1) == '=' ? single(Tok::kGe, 2) : single(Tok::kGt, 1);
      default: break;
    }
    tok_.text = std::string(1, c);
    return Error("unexpected character '" + tok_.text + "'");
  }

  bool IsOperatorName(const char* word) const { return tok_.type == Tok::kName && tok_.text == word; }

  // Tracks recursion and tree depth so hostile input cannot exhaust the stack.
  struct DepthGuard {
    explicit DepthGuard(int* d) : depth(d) { ++*depth; }
    ~DepthGuard() { --*depth; }
    int* depth;
  };
  Status CheckDepth() const {
    if (depth_ > Expression::kMaxDepth) return Error("expression is nested too deeply");
    return Status::Ok();
  }

  // Sets n's height from its children; fails when the tree grows too tall
  // (long left-leaning chains grow it without deep parser recursion).
  Status Seal(Node& n) const {
    for (const auto& a : n.args) n.depth = std::max(n.depth, a->depth + 1);
    if (n.depth > Expression::kMaxDepth) return Error("expression is nested too deeply");
    return Status::Ok();
  }

  Result<NodePtr> MakeBinary(BinaryOp op, NodePtr l, NodePtr r) {
    auto n = std::make_unique<Node>();
    n->type = Node::Type::kBinary;
    n->op = op;
    n->args.push_back(std::move(l));
    n->args.push_back(std::move(r));
    TIANYE_RETURN_IF_ERROR(Seal(*n));
    return n;
  }

  template <typename Next>
  Result<NodePtr> ParseLevel(Next next, std::initializer_list<std::pair<Tok, BinaryOp>> ops,
                             std::initializer_list<std::pair<const char*, BinaryOp>> words) {
    TIANYE_ASSIGN_OR_RETURN(NodePtr left, (this->*next)());
    while (true) {
      std::optional<BinaryOp> op;
      for (const auto& [t, o] : ops) {
        if (tok_.type == t) op = o;
      }
      for (const auto& [w, o] : words) {
        if (IsOperatorName(w)) op = o;
      }
      if (!op) break;
      TIANYE_RETURN_IF_ERROR(Advance());
      TIANYE_ASSIGN_OR_RETURN(NodePtr right, (this->*next)());
      TIANYE_ASSIGN_OR_RETURN(left, MakeBinary(*op, std::move(left), std::move(right)));
    }
    return left;
  }

  Result<NodePtr> ParseOr() {
    DepthGuard g(&depth_);
    TIANYE_RETURN_IF_ERROR(CheckDepth());
    return ParseLevel(&Parser::ParseAnd, {}, {{"or", BinaryOp::kOr}});
  }
  Result<NodePtr> ParseAnd() { return ParseLevel(&Parser::ParseEq, {}, {{"and", BinaryOp::kAnd}}); }
  Result<NodePtr> ParseEq() {
    return ParseLevel(&Parser::ParseRel, {{Tok::kEq, BinaryOp::kEq}, {Tok::kNe, BinaryOp::kNe}}, {});
  }
  Result<NodePtr> ParseRel() {
    return ParseLevel(&Parser::ParseAdd,
                      {{Tok::kLt, BinaryOp::kLt}, {Tok::kLe, BinaryOp::kLe},
                       {Tok::kGt, BinaryOp::kGt}, {Tok::kGe, BinaryOp::kGe}},
                      {});
  }
  Result<NodePtr> ParseAdd() {
    return ParseLevel(&Parser::ParseMul, {{Tok::kPlus, BinaryOp::kAdd}, {Tok::kMinus, BinaryOp::kSub}},
                      {});
  }
  Result<NodePtr> ParseMul() {
    return ParseLevel(&Parser::ParseUnary, {{Tok::kStar, BinaryOp::kMul}},
                      {{"div", BinaryOp::kDiv}, {"mod", BinaryOp::kMod}});
  }
  Result<NodePtr> ParseUnary() {
    if (tok_.type == Tok::kMinus) {
      DepthGuard g(&depth_);
      TIANYE_RETURN_IF_ERROR(CheckDepth());
      TIANYE_RETURN_IF_ERROR(Advance());
      TIANYE_ASSIGN_OR_RETURN(NodePtr operand, ParseUnary());
      auto n = std::make_unique<Node>();
      n->type = Node::Type::kNegate;
      n->args.push_back(std::move(operand));
      TIANYE_RETURN_IF_ERROR(Seal(*n));
      return n;
    }
    return ParseLevel(&Parser::ParsePrimary, {{Tok::kPipe, BinaryOp::kUnion}}, {});
  }

  Result<NodePtr> ParsePrimary() {
    auto n = std::make_unique<Node>();
    switch (tok_.type) {
      case Tok::kNumber:
        n->type = Node::Type::kNumber;
        n->number = StringToNumber(tok_.text);
        TIANYE_RETURN_IF_ERROR(Advance());
        return n;
      case Tok::kString:
        n->type = Node::Type::kString;
        n->text = tok_.text;
        TIANYE_RETURN_IF_ERROR(Advance());
        return n;
      case Tok::kField:
        n->type = Node::Type::kField;
        n->text = tok_.text;
        AddReference(n->text);
        TIANYE_RETURN_IF_ERROR(Advance());
        if (tok_.type == Tok::kLBracket) return ParsePredicates(std::move(n));
        return n;
      case Tok::kDot:
        n->type = Node::Type::kCurrent;
        uses_current = true;
        TIANYE_RETURN_IF_ERROR(Advance());
        return n;
      case Tok::kDotDot:
        n->type = Node::Type::kParent;
        TIANYE_RETURN_IF_ERROR(Advance());
        if (tok_.type == Tok::kSlash) return Error("paths are not supported; refer to fields as ${name}");
        return n;
      case Tok::kLParen: {
        TIANYE_RETURN_IF_ERROR(Advance());
        TIANYE_ASSIGN_OR_RETURN(NodePtr inner, ParseOr());
        if (tok_.type != Tok::kRParen) return Error("expected ')'");
        TIANYE_RETURN_IF_ERROR(Advance());
        return inner;
      }
      case Tok::kName: {
        std::string name = tok_.text;
        size_t name_pos = tok_.pos;
        TIANYE_RETURN_IF_ERROR(Advance());
        if (tok_.type != Tok::kLParen && in_predicate_ > 0) {
          // Inside ${repeat}[...], a bare name is a field of each instance;
          // "group/field" steps through a group (answers are stored flat).
          while (tok_.type == Tok::kSlash) {
            TIANYE_RETURN_IF_ERROR(Advance());
            if (tok_.type != Tok::kName) return Error("expected a field name after '/'");
            name = tok_.text;
            TIANYE_RETURN_IF_ERROR(Advance());
          }
          n->type = Node::Type::kField;
          n->text = std::move(name);
          AddReference(n->text);
          return n;
        }
        if (tok_.type != Tok::kLParen) {
          if (tok_.type == Tok::kSlash) return Error("paths are not supported; refer to fields as ${name}");
          n->type = Node::Type::kColumn;
          n->text = std::move(name);
          if (seen_columns_.insert(n->text).second) columns.push_back(n->text);
          return n;
        }
        return ParseCall(std::move(name), name_pos);
      }
      case Tok::kSlash:
        return Error("paths are not supported; refer to fields as ${name}");
      case Tok::kEnd:
        return Error("the expression ends where a value was expected");
      default:
        return Error("expected a value but found '" + tok_.text + "'");
    }
  }

  void AddReference(const std::string& name) {
    if (seen_refs_.insert(name).second) references.push_back(name);
  }

  // ${name}[p1][p2]...: one filter whose predicate is p1 and p2 and ...
  Result<NodePtr> ParsePredicates(NodePtr base) {
    DepthGuard g(&depth_);
    TIANYE_RETURN_IF_ERROR(CheckDepth());
    NodePtr predicate;
    while (tok_.type == Tok::kLBracket) {
      TIANYE_RETURN_IF_ERROR(Advance());
      ++in_predicate_;
      Result<NodePtr> p = ParseOr();
      --in_predicate_;
      if (!p) return p.error();
      if (tok_.type != Tok::kRBracket) return Error("expected ']'");
      TIANYE_RETURN_IF_ERROR(Advance());
      if (predicate == nullptr) {
        predicate = std::move(p).value();
      } else {
        TIANYE_ASSIGN_OR_RETURN(predicate, MakeBinary(BinaryOp::kAnd, std::move(predicate), std::move(p).value()));
      }
    }
    auto n = std::make_unique<Node>();
    n->type = Node::Type::kFilter;
    n->args.push_back(std::move(base));
    n->args.push_back(std::move(predicate));
    TIANYE_RETURN_IF_ERROR(Seal(*n));
    return n;
  }

  Result<NodePtr> ParseCall(std::string name, size_t name_pos) {
    DepthGuard g(&depth_);
    TIANYE_RETURN_IF_ERROR(CheckDepth());
    const internal::FunctionSpec* spec = internal::FindFunction(name);
    if (spec == nullptr) {
      return Status::InvalidArgument("at character " + std::to_string(name_pos + 1) +
                                     ": unknown function " + name + "()");
    }
    auto n = std::make_unique<Node>();
    n->type = Node::Type::kCall;
    n->function = spec;
    n->text = name;
    is_volatile = is_volatile || spec->is_volatile;
    TIANYE_RETURN_IF_ERROR(Advance());  // '('
    if (tok_.type != Tok::kRParen) {
      while (true) {
        TIANYE_ASSIGN_OR_RETURN(NodePtr arg, ParseOr());
        n->args.push_back(std::move(arg));
        if (tok_.type == Tok::kComma) {
          TIANYE_RETURN_IF_ERROR(Advance());
          continue;
        }
        break;
      }
    }
    if (tok_.type != Tok::kRParen) return Error("expected ',' or ')' in the arguments of " + name + "()");
    TIANYE_RETURN_IF_ERROR(Advance());
    TIANYE_RETURN_IF_ERROR(Seal(*n));
    int argc = static_cast<int>(n->args.size());
    if (argc < spec->min_args || (spec->max_args >= 0 && argc > spec->max_args)) {
      std::string want = spec->min_args == spec->max_args ? std::to_string(spec->min_args)
                         : spec->max_args < 0 ? "at least " + std::to_string(spec->min_args)
                                              : std::to_string(spec->min_args) + " to " +
                                                    std::to_string(spec->max_args);
      return Status::InvalidArgument("at character " + std::to_string(name_pos + 1) + ": " + name +
                                     "() takes " + want + " argument(s), not " + std::to_string(argc));
    }
    if (spec->fn == internal::Fn::kRegex && n->args[1]->type == Node::Type::kString) {
      auto re = internal::CompileRegex(n->args[1]->text);
      if (!re) return re.error().WithContext("regex() pattern '" + n->args[1]->text + "'");
      n->regex = *re;
    }
    if (spec->fn == internal::Fn::kChoiceName && n->args[1]->type == Node::Type::kString) {
      // jr:choice-name(${q}, '${q}'): the quoted reference names the question.
      const std::string& q = n->args[1]->text;
      if (q.size() > 3 && q.rfind("${", 0) == 0 && q.back() == '}') {
        std::string ref = q.substr(2, q.size() - 3);
        AddReference(ref);
      }
    }
    return n;
  }

  std::string_view s_;
  size_t pos_ = 0;
  Token tok_;
  int depth_ = 0;
  int in_predicate_ = 0;
  std::unordered_set<std::string> seen_refs_;
  std::unordered_set<std::string> seen_columns_;
};

}  // namespace

Expression::Expression() = default;
Expression::Expression(Expression&&) noexcept = default;
Expression& Expression::operator=(Expression&&) noexcept = default;
Expression::Expression(const Expression&) = default;
Expression& Expression::operator=(const Expression&) = default;
Expression::~Expression() = default;

Result<Expression> Expression::Parse(std::string_view text) {
  if (text.size() > kMaxLength) {
    return Status::InvalidArgument("expression is " + std::to_string(text.size()) +
                                   " bytes long; the limit is " + std::to_string(kMaxLength));
  }
  Parser parser(text);
  TIANYE_ASSIGN_OR_RETURN(NodePtr root, parser.ParseAll());
  Expression e;
  e.text_ = std::string(text);
  e.root_ = std::shared_ptr<const Node>(std::move(root));
  e.references_ = std::move(parser.references);
  e.columns_ = std::move(parser.columns);
  e.uses_current_ = parser.uses_current;
  e.volatile_ = parser.is_volatile;
  return e;
}

Result<Value> Expression::Evaluate(const EvalContext& context) const {
  return internal::Eval(*root_, context);
}

const std::vector<std::string>& Expression::references() const { return references_; }
const std::vector<std::string>& Expression::columns() const { return columns_; }
bool Expression::uses_current() const { return uses_current_; }
bool Expression::is_volatile() const { return volatile_; }
const std::string& Expression::text() const { return text_; }

}  // namespace tianye
