// Evaluation of expression trees: XPath 1.0 conversions and comparisons with
// ODK's extensions, and the ODK function library.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <openssl/rand.h>
#include <pcre2.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numbers>
#include <string>

#include "expr_internal.h"
#include "text.h"

namespace tianye {
namespace internal {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---------------------------------------------------------------- functions

namespace {

// Order matters only for documentation; lookup is by name.
const std::vector<FunctionSpec> kFunctions = {
    {"selected", Fn::kSelected, 2, 2, false},
    {"count-selected", Fn::kCountSelected, 1, 1, false},
    {"selected-at", Fn::kSelectedAt, 2, 2, false},
    {"jr:choice-name", Fn::kChoiceName, 2, 2, false},
    {"if", Fn::kIf, 3, 3, false},
    {"not", Fn::kNot, 1, 1, false},
    {"true", Fn::kTrue, 0, 0, false},
    {"false", Fn::kFalse, 0, 0, false},
    {"boolean", Fn::kBoolean, 1, 1, false},
    {"boolean-from-string", Fn::kBooleanFromString, 1, 1, false},
    {"coalesce", Fn::kCoalesce, 2, 2, false},
    {"concat", Fn::kConcat, 0, -1, false},
    {"string", Fn::kString, 1, 1, false},
    {"string-length", Fn::kStringLength, 1, 1, false},
    {"substr", Fn::kSubstr, 2, 3, false},
    {"substring-before", Fn::kSubstringBefore, 2, 2, false},
    {"substring-after", Fn::kSubstringAfter, 2, 2, false},
    {"contains", Fn::kContains, 2, 2, false},
    {"starts-with", Fn::kStartsWith, 2, 2, false},
    {"ends-with", Fn::kEndsWith, 2, 2, false},
    {"normalize-space", Fn::kNormalizeSpace, 1, 1, false},
    {"translate", Fn::kTranslate, 3, 3, false},
    {"regex", Fn::kRegex, 2, 2, false},
    {"number", Fn::kNumber, 1, 1, false},
    {"int", Fn::kInt, 1, 1, false},
    {"round", Fn::kRound, 1, 2, false},
    {"floor", Fn::kFloor, 1, 1, false},
    {"ceiling", Fn::kCeiling, 1, 1, false},
    {"pow", Fn::kPow, 2, 2, false},
    {"abs", Fn::kAbs, 1, 1, false},
    {"min", Fn::kMin, 1, -1, false},
    {"max", Fn::kMax, 1, -1, false},
    {"sum", Fn::kSum, 1, 1, false},
    {"count", Fn::kCount, 1, 1, false},
    {"count-non-empty", Fn::kCountNonEmpty, 1, 1, false},
    {"join", Fn::kJoin, 2, -1, false},
    {"position", Fn::kPosition, 0, 1, false},
    {"indexed-repeat", Fn::kIndexedRepeat, 3, 3, false},
    {"today", Fn::kToday, 0, 0, true},
    {"now", Fn::kNow, 0, 0, true},
    {"date", Fn::kDate, 1, 1, false},
    {"decimal-date-time", Fn::kDecimalDateTime, 1, 1, false},
    {"format-date", Fn::kFormatDate, 2, 2, false},
    {"format-date-time", Fn::kFormatDateTime, 2, 2, false},
    {"once", Fn::kOnce, 1, 1, false},
    {"uuid", Fn::kUuid, 0, 1, true},
    {"pulldata", Fn::kPullData, 4, 4, false},
    {"distance", Fn::kDistance, 1, -1, false},
    {"area", Fn::kArea, 1, 1, false},
    {"random", Fn::kRandom, 0, 0, true},
    {"sqrt", Fn::kSqrt, 1, 1, false},
    {"exp", Fn::kExp, 1, 1, false},
    {"exp10", Fn::kExp10, 1, 1, false},
    {"log", Fn::kLog, 1, 1, false},
    {"log10", Fn::kLog10, 1, 1, false},
    {"pi", Fn::kPi, 0, 0, false},
    {"sin", Fn::kSin, 1, 1, false},
    {"cos", Fn::kCos, 1, 1, false},
    {"tan", Fn::kTan, 1, 1, false},
    {"asin", Fn::kAsin, 1, 1, false},
    {"acos", Fn::kAcos, 1, 1, false},
    {"atan", Fn::kAtan, 1, 1, false},
    {"atan2", Fn::kAtan2, 2, 2, false},
};

}  // namespace

const FunctionSpec* FindFunction(std::string_view name) {
  for (const FunctionSpec& f : kFunctions) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

const std::vector<FunctionSpec>& AllFunctions() { return kFunctions; }

// ---------------------------------------------------------------- regex

class CompiledRegex {
 public:
  explicit CompiledRegex(pcre2_code* code) : code_(code) {}
  ~CompiledRegex() { pcre2_code_free(code_); }
  CompiledRegex(const CompiledRegex&) = delete;
  CompiledRegex& operator=(const CompiledRegex&) = delete;

  // True when the pattern matches somewhere in `subject` (Java's find()).
  Result<bool> Search(std::string_view subject) const {
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_, nullptr);
    pcre2_match_context* mc = pcre2_match_context_create(nullptr);
    if (md == nullptr || mc == nullptr) {
      pcre2_match_data_free(md);
      pcre2_match_context_free(mc);
      return Status::ResourceExhausted("regex(): out of memory");
    }
    pcre2_set_match_limit(mc, 1000000);  // bounds catastrophic backtracking
    pcre2_set_depth_limit(mc, 10000);
    int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0, 0,
                         md, mc);
    pcre2_match_data_free(md);
    pcre2_match_context_free(mc);
    if (rc >= 0) return true;
    if (rc == PCRE2_ERROR_NOMATCH) return false;
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    return Status::ResourceExhausted(std::string("regex(): ") + reinterpret_cast<char*>(msg));
  }

 private:
  pcre2_code* code_;
};

Result<std::shared_ptr<const CompiledRegex>> CompileRegex(std::string_view pattern) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &err, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    return Status::InvalidArgument("invalid regular expression at offset " + std::to_string(offset) +
                                   ": " + reinterpret_cast<char*>(msg));
  }
  return std::shared_ptr<const CompiledRegex>(std::make_shared<CompiledRegex>(code));
}

// ---------------------------------------------------------------- helpers

namespace {

using Node = Expression::Node;

// UTF-8 text as code points (invalid bytes become U+FFFD), and back.
std::u32string Decode(std::string_view s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    auto [cp, n] = Utf8At(s, i);
    out += cp;
    i += n;
  }
  return out;
}

std::string Encode(std::u32string_view s) {
  std::string out;
  for (char32_t cp : s) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }
  return out;
}

bool ParseDouble(std::string_view s, double* out) {
  double d = StringToNumber(s);
  if (std::isnan(d)) return false;
  *out = d;
  return true;
}

// "lat lon [alt [acc]]" points separated by ';' (a geopoint, geotrace or geoshape).
Result<std::vector<std::pair<double, double>>> ParsePoints(std::string_view text) {
  std::vector<std::pair<double, double>> pts;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(';', start);
    if (end == std::string_view::npos) end = text.size();
    std::vector<std::string> parts = SplitSpaces(text.substr(start, end - start));
    if (!parts.empty()) {
      double lat, lon;
      if (parts.size() < 2 || parts.size() > 4 || !ParseDouble(parts[0], &lat) ||
          !ParseDouble(parts[1], &lon) || std::fabs(lat) > 90 || std::fabs(lon) > 180) {
        return Status::InvalidArgument("'" + std::string(text.substr(start, end - start)) +
                                       "' is not a point (latitude longitude [altitude accuracy])");
      }
      pts.emplace_back(lat, lon);
    }
    start = end + 1;
  }
  return pts;
}

// The Earth radius ODK's geo functions use, in metres.
constexpr double kEarthRadius = 6378100.0;
constexpr double kRad = std::numbers::pi / 180.0;

double Haversine(std::pair<double, double> a, std::pair<double, double> b) {
  double dlat = (b.first - a.first) * kRad, dlon = (b.second - a.second) * kRad;
  double h = std::sin(dlat / 2) * std::sin(dlat / 2) +
             std::cos(a.first * kRad) * std::cos(b.first * kRad) * std::sin(dlon / 2) *
                 std::sin(dlon / 2);
  return 2 * kEarthRadius * std::asin(std::min(1.0, std::sqrt(h)));
}

// Area of a polygon on the sphere (Chamberlain & Duquette's formula), m².
double SphericalArea(const std::vector<std::pair<double, double>>& pts) {
  if (pts.size() < 3) return 0;
  double sum = 0;
  for (size_t i = 0; i < pts.size(); ++i) {
    const auto& p1 = pts[i];
    const auto& p2 = pts[(i + 1) % pts.size()];
    sum += (p2.second - p1.second) * kRad *
           (2 + std::sin(p1.first * kRad) + std::sin(p2.first * kRad));
  }
  return std::fabs(sum * kEarthRadius * kEarthRadius / 2);
}

struct DateParts {
  int64_t year = 0;
  unsigned month = 0, day = 0;
  int hour = 0, minute = 0, second = 0, millis = 0;
  int weekday = 0;  // 0 = Sunday
};

// Splits a date, a dateTime (its own local time) or a day count into parts.
bool ToDateParts(const Value& v, DateParts* out) {
  std::string s = v.AsString();
  double days;
  if (v.kind() == Value::Kind::kNumber) {
    days = v.AsNumber();
    if (!std::isfinite(days)) return false;
  } else if (!ParseDateDays(s, &days)) {
    return false;
  }
  std::string date = DaysToDate(std::floor(days));
  if (date.size() < 10) return false;
  out->year = std::stoll(date.substr(0, date.size() - 6));
  out->month = static_cast<unsigned>(std::stoi(date.substr(date.size() - 5, 2)));
  out->day = static_cast<unsigned>(std::stoi(date.substr(date.size() - 2)));
  int64_t whole = static_cast<int64_t>(std::floor(days));
  out->weekday = static_cast<int>(((whole % 7) + 7 + 4) % 7);  // 1970-01-01 was a Thursday
  if (v.kind() == Value::Kind::kNumber) {
    double frac_ms = std::round((days - std::floor(days)) * 86400000.0);
    int64_t ms = static_cast<int64_t>(frac_ms);
    out->hour = static_cast<int>(ms / 3600000), out->minute = static_cast<int>(ms / 60000 % 60);
    out->second = static_cast<int>(ms / 1000 % 60), out->millis = static_cast<int>(ms % 1000);
  } else if (s.size() >= 16 && s[10] == 'T') {
    out->hour = std::stoi(s.substr(11, 2));
    out->minute = std::stoi(s.substr(14, 2));
    if (s.size() >= 19 && s[16] == ':') out->second = std::stoi(s.substr(17, 2));
    if (s.size() >= 23 && s[19] == '.') out->millis = std::stoi(s.substr(20, 3));
  }
  return true;
}

std::string FormatDate(const DateParts& p, std::string_view fmt) {
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  std::string out;
  char buf[32];
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%' || i + 1 == fmt.size()) {
      out += fmt[i];
      continue;
    }
    switch (fmt[++i]) {
      case 'Y': std::snprintf(buf, sizeof buf, "%04lld", static_cast<long long>(p.year)); break;
      case 'y': std::snprintf(buf, sizeof buf, "%02lld", static_cast<long long>(p.year % 100)); break;
      case 'm': std::snprintf(buf, sizeof buf, "%02u", p.month); break;
      case 'n': std::snprintf(buf, sizeof buf, "%u", p.month); break;
      case 'b': std::snprintf(buf, sizeof buf, "%s", kMonths[(p.month + 11) % 12]); break;
      case 'd': std::snprintf(buf, sizeof buf, "%02u", p.day); break;
      case 'e': std::snprintf(buf, sizeof buf, "%u", p.day); break;
      case 'a': std::snprintf(buf, sizeof buf, "%s", kDays[p.weekday]); break;
      case 'H': std::snprintf(buf, sizeof buf, "%02d", p.hour); break;
      case 'h': std::snprintf(buf, sizeof buf, "%d", p.hour); break;
      case 'M': std::snprintf(buf, sizeof buf, "%02d", p.minute); break;
      case 'S': std::snprintf(buf, sizeof buf, "%02d", p.second); break;
      case '3': std::snprintf(buf, sizeof buf, "%03d", p.millis); break;
      case '%': std::snprintf(buf, sizeof buf, "%%"); break;
      default: std::snprintf(buf, sizeof buf, "%%%c", fmt[i]); break;
    }
    out += buf;
  }
  return out;
}

std::string LocalDateTime(int64_t now_ms, int offset_min) {
  int64_t local = now_ms + static_cast<int64_t>(offset_min) * 60000;
  int64_t day = local >= 0 ? local / 86400000 : (local - 86399999) / 86400000;
  int64_t ms = local - day * 86400000;
  char buf[64];
  int off = std::abs(offset_min);
  std::snprintf(buf, sizeof buf, "%sT%02lld:%02lld:%02lld.%03lld%c%02d:%02d",
                DaysToDate(static_cast<double>(day)).c_str(), static_cast<long long>(ms / 3600000),
                static_cast<long long>(ms / 60000 % 60), static_cast<long long>(ms / 1000 % 60),
                static_cast<long long>(ms % 1000), offset_min < 0 ? '-' : '+', off / 60, off % 60);
  return buf;
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    for (char& c : raw) c = static_cast<char>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  return raw;
}

std::string UuidV4() {
  std::string b = RandomHex(16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[static_cast<unsigned char>(b[i]) >> 4];
    out += kHex[static_cast<unsigned char>(b[i]) & 15];
  }
  return out;
}

// ---------------------------------------------------------------- comparison

bool CompareAtoms(BinaryOp op, const Value& a, const Value& b) {
  if (op == BinaryOp::kEq || op == BinaryOp::kNe) {
    bool eq;
    if (a.kind() == Value::Kind::kBoolean || b.kind() == Value::Kind::kBoolean) {
      eq = a.AsBoolean() == b.AsBoolean();
    } else if (a.kind() == Value::Kind::kNumber || b.kind() == Value::Kind::kNumber) {
      eq = a.AsNumber() == b.AsNumber();
    } else {
      eq = a.AsString() == b.AsString();
    }
    return op == BinaryOp::kEq ? eq : !eq;
  }
  double x = a.AsNumber(), y = b.AsNumber();
  switch (op) {
    case BinaryOp::kLt: return x < y;
    case BinaryOp::kLe: return x <= y;
    case BinaryOp::kGt: return x > y;
    case BinaryOp::kGe: return x >= y;
    default: return false;
  }
}

// XPath 1.0 §3.4: node-sets compare existentially.
bool Compare(BinaryOp op, const Value& a, const Value& b) {
  if (a.is_nodeset() && b.is_nodeset()) {
    for (const std::string& x : a.AsNodes()) {
      for (const std::string& y : b.AsNodes()) {
        if (CompareAtoms(op, Value::String(x), Value::String(y))) return true;
      }
    }
    return false;
  }
  if (a.is_nodeset() || b.is_nodeset()) {
    const Value& set = a.is_nodeset() ? a : b;
    const Value& other = a.is_nodeset() ? b : a;
    if (other.kind() == Value::Kind::kBoolean) {
      return a.is_nodeset() ? CompareAtoms(op, Value::Boolean(set.AsBoolean()), other)
                            : CompareAtoms(op, other, Value::Boolean(set.AsBoolean()));
    }
    for (const std::string& n : set.AsNodes()) {
      Value atom = other.kind() == Value::Kind::kNumber ? Value::Number(StringToNumber(n))
                                                        : Value::String(n);
      if (a.is_nodeset() ? CompareAtoms(op, atom, other) : CompareAtoms(op, other, atom)) return true;
    }
    return false;
  }
  return CompareAtoms(op, a, b);
}

double RoundHalfUp(double x, int digits) {
  if (!std::isfinite(x)) return x;
  if (digits == 0) return std::floor(x + 0.5);
  double scale = std::pow(10.0, digits);
  double y = x * scale;
  double r = std::floor(std::fabs(y) + 0.5) * (y < 0 ? -1 : 1);  // half away from zero
  return r / scale;
}

std::string FieldNameOf(const Node& n) {
  if (n.type == Node::Type::kField) return n.text;
  if (n.type == Node::Type::kString && n.text.size() > 3 && n.text.rfind("${", 0) == 0) {
    return n.text.substr(2, n.text.size() - 3);
  }
  if (n.type == Node::Type::kString) {
    size_t slash = n.text.rfind('/');
    return slash == std::string::npos ? n.text : n.text.substr(slash + 1);
  }
  return "";
}

Result<Value> CallFunction(const Node& call, const EvalContext& ctx) {
  const auto& args = call.args;
  auto arg = [&](size_t i) { return Eval(*args[i], ctx); };
#define ARG(var, i) TIANYE_ASSIGN_OR_RETURN(Value var, arg(i))
#define NUM_FN(fn_id, expr)                      \
  case Fn::fn_id: {                              \
    ARG(a0, 0);                                  \
    double x = a0.AsNumber();                    \
    return Value::Number(expr);                  \
  }
  switch (call.function->fn) {
    case Fn::kSelected: {
      ARG(list, 0);
      ARG(v, 1);
      std::string want = v.AsString();
      std::string_view w = want;
      while (!w.empty() && IsSpace(w.front())) w.remove_prefix(1);
      while (!w.empty() && IsSpace(w.back())) w.remove_suffix(1);
      for (const std::string& item : SplitSpaces(list.AsString())) {
        if (item == w) return Value::Boolean(true);
      }
      return Value::Boolean(false);
    }
    case Fn::kCountSelected: {
      ARG(list, 0);
      return Value::Number(static_cast<double>(SplitSpaces(list.AsString()).size()));
    }
    case Fn::kSelectedAt: {
      ARG(list, 0);
      ARG(idx, 1);
      std::vector<std::string> items = SplitSpaces(list.AsString());
      double i = idx.AsNumber();
      if (std::isnan(i) || i < 0 || i >= static_cast<double>(items.size())) return Value::String("");
      return Value::String(items[static_cast<size_t>(i)]);
    }
    case Fn::kChoiceName: {
      ARG(v, 0);
      std::string question = FieldNameOf(*args[1]);
      if (question.empty()) {
        ARG(q, 1);
        question = FieldNameOf(Node{Node::Type::kString, q.AsString()});
      }
      TIANYE_ASSIGN_OR_RETURN(std::string label, ctx.ChoiceLabel(question, v.AsString()));
      return Value::String(std::move(label));
    }
    case Fn::kIf: {
      ARG(c, 0);
      return arg(c.AsBoolean() ? 1 : 2);
    }
    case Fn::kNot: {
      ARG(a0, 0);
      return Value::Boolean(!a0.AsBoolean());
    }
    case Fn::kTrue: return Value::Boolean(true);
    case Fn::kFalse: return Value::Boolean(false);
    case Fn::kBoolean: {
      ARG(a0, 0);
      return Value::Boolean(a0.AsBoolean());
    }
    case Fn::kBooleanFromString: {
      ARG(a0, 0);
      std::string s = a0.AsString();
      return Value::Boolean(s == "true" || s == "1");
    }
    case Fn::kCoalesce: {
      ARG(a0, 0);
      if (!a0.AsString().empty()) return a0;
      return arg(1);
    }
    case Fn::kConcat: {
      std::string out;
      for (size_t i = 0; i < args.size(); ++i) {
        ARG(v, i);
        for (const std::string& s : v.AsNodes()) out += s;
      }
      return Value::String(std::move(out));
    }
    case Fn::kString: {
      ARG(a0, 0);
      return Value::String(a0.AsString());
    }
    case Fn::kStringLength: {
      ARG(a0, 0);
      return Value::Number(static_cast<double>(Decode(a0.AsString()).size()));
    }
    case Fn::kSubstr: {
      ARG(a0, 0);
      ARG(a1, 1);
      std::u32string s = Decode(a0.AsString());
      double len = static_cast<double>(s.size());
      double start = a1.AsNumber(), end = len;
      if (args.size() == 3) {
        ARG(a2, 2);
        end = a2.AsNumber();
      }
      if (std::isnan(start) || std::isnan(end)) return Value::String("");
      start = std::clamp(start, 0.0, len);
      end = std::clamp(end, 0.0, len);
      if (end <= start) return Value::String("");
      return Value::String(Encode(std::u32string_view(s).substr(
          static_cast<size_t>(start), static_cast<size_t>(end) - static_cast<size_t>(start))));
    }
    case Fn::kSubstringBefore:
    case Fn::kSubstringAfter: {
      ARG(a0, 0);
      ARG(a1, 1);
      std::string s = a0.AsString(), t = a1.AsString();
      size_t at = s.find(t);
      if (at == std::string::npos) return Value::String("");
      return Value::String(call.function->fn == Fn::kSubstringBefore ? s.substr(0, at)
                                                                     : s.substr(at + t.size()));
    }
    case Fn::kContains:
    case Fn::kStartsWith:
    case Fn::kEndsWith: {
      ARG(a0, 0);
      ARG(a1, 1);
      std::string s = a0.AsString(), t = a1.AsString();
      bool r = call.function->fn == Fn::kContains     ? s.find(t) != std::string::npos
               : call.function->fn == Fn::kStartsWith ? s.rfind(t, 0) == 0
                                                      : s.size() >= t.size() &&
                                                            s.compare(s.size() - t.size(), t.size(), t) == 0;
      return Value::Boolean(r);
    }
    case Fn::kNormalizeSpace: {
      ARG(a0, 0);
      std::string out;
      for (const std::string& w : SplitSpaces(a0.AsString())) out += (out.empty() ? "" : " ") + w;
      return Value::String(std::move(out));
    }
    case Fn::kTranslate: {
      ARG(a0, 0);
      ARG(a1, 1);
      ARG(a2, 2);
      std::u32string s = Decode(a0.AsString()), from = Decode(a1.AsString()),
                     to = Decode(a2.AsString()), out;
      for (char32_t c : s) {
        size_t at = from.find(c);
        if (at == std::u32string::npos) {
          out += c;
        } else if (at < to.size()) {
          out += to[at];
        }
      }
      return Value::String(Encode(out));
    }
    case Fn::kRegex: {
      ARG(a0, 0);
      std::shared_ptr<const CompiledRegex> re = call.regex;
      if (re == nullptr) {
        ARG(pattern, 1);
        TIANYE_ASSIGN_OR_RETURN(re, CompileRegex(pattern.AsString()));
      }
      TIANYE_ASSIGN_OR_RETURN(bool found, re->Search(a0.AsString()));
      return Value::Boolean(found);
    }
    case Fn::kNumber: {
      ARG(a0, 0);
      return Value::Number(a0.AsNumber());
    }
    NUM_FN(kInt, std::trunc(x))
    NUM_FN(kFloor, std::floor(x))
    NUM_FN(kCeiling, std::ceil(x))
    NUM_FN(kAbs, std::fabs(x))
    NUM_FN(kSqrt, std::sqrt(x))
    NUM_FN(kExp, std::exp(x))
    NUM_FN(kExp10, std::pow(10.0, x))
    NUM_FN(kLog, std::log(x))
    NUM_FN(kLog10, std::log10(x))
    NUM_FN(kSin, std::sin(x))
    NUM_FN(kCos, std::cos(x))
    NUM_FN(kTan, std::tan(x))
    NUM_FN(kAsin, std::asin(x))
    NUM_FN(kAcos, std::acos(x))
    NUM_FN(kAtan, std::atan(x))
    case Fn::kPi: return Value::Number(std::numbers::pi);
    case Fn::kAtan2: {
      ARG(a0, 0);
      ARG(a1, 1);
      return Value::Number(std::atan2(a0.AsNumber(), a1.AsNumber()));
    }
    case Fn::kRound: {
      ARG(a0, 0);
      int digits = 0;
      if (args.size() == 2) {
        ARG(a1, 1);
        double d = a1.AsNumber();
        if (std::isnan(d)) return Value::Number(kNaN);
        digits = static_cast<int>(std::clamp(d, -300.0, 300.0));
      }
      return Value::Number(RoundHalfUp(a0.AsNumber(), digits));
    }
    case Fn::kPow: {
      ARG(a0, 0);
      ARG(a1, 1);
      return Value::Number(std::pow(a0.AsNumber(), a1.AsNumber()));
    }
    case Fn::kMin:
    case Fn::kMax: {
      bool is_min = call.function->fn == Fn::kMin;
      double best = is_min ? std::numeric_limits<double>::infinity()
                           : -std::numeric_limits<double>::infinity();
      size_t seen = 0;
      for (size_t i = 0; i < args.size(); ++i) {
        ARG(v, i);
        for (const std::string& s : v.AsNodes()) {
          double d = v.is_nodeset() ? StringToNumber(s) : v.AsNumber();
          if (std::isnan(d)) return Value::Number(kNaN);
          best = is_min ? std::min(best, d) : std::max(best, d);
          ++seen;
        }
      }
      return Value::Number(seen == 0 ? kNaN : best);
    }
    case Fn::kSum: {
      ARG(a0, 0);
      double total = 0;
      for (const std::string& s : a0.AsNodes()) {
        total += a0.is_nodeset() ? StringToNumber(s) : a0.AsNumber();
      }
      return Value::Number(total);
    }
    case Fn::kCount: {
      ARG(a0, 0);
      return Value::Number(a0.is_nodeset() ? static_cast<double>(a0.AsNodes().size()) : 1.0);
    }
    case Fn::kCountNonEmpty: {
      ARG(a0, 0);
      double n = 0;
      for (const std::string& s : a0.AsNodes()) n += s.empty() ? 0 : 1;
      return Value::Number(n);
    }
    case Fn::kJoin: {
      ARG(sep, 0);
      std::string out, separator = sep.AsString();
      bool first = true;
      for (size_t i = 1; i < args.size(); ++i) {
        ARG(v, i);
        for (const std::string& s : v.AsNodes()) {
          out += (first ? "" : separator) + s;
          first = false;
        }
      }
      return Value::String(std::move(out));
    }
    case Fn::kPosition: return Value::Number(ctx.Position());
    case Fn::kIndexedRepeat: {
      std::string field = FieldNameOf(*args[0]), repeat = FieldNameOf(*args[1]);
      if (args[0]->type != Node::Type::kField || args[1]->type != Node::Type::kField) {
        return Status::InvalidArgument("indexed-repeat() takes ${field}, ${repeat}, index");
      }
      ARG(idx, 2);
      double i = idx.AsNumber();
      if (std::isnan(i) || i < 1 || i > 1e9) return Value::String("");
      return ctx.IndexedField(field, repeat, static_cast<int>(i));
    }
    case Fn::kToday: {
      int64_t local = ctx.NowMillis() + static_cast<int64_t>(ctx.UtcOffsetMinutes()) * 60000;
      return Value::String(DaysToDate(std::floor(static_cast<double>(local) / 86400000.0)));
    }
    case Fn::kNow: return Value::String(LocalDateTime(ctx.NowMillis(), ctx.UtcOffsetMinutes()));
    case Fn::kDate: {
      ARG(a0, 0);
      if (a0.kind() == Value::Kind::kString && a0.AsString().empty()) return Value::String("");
      double days = a0.AsNumber();
      if (std::isnan(days)) {
        return Status::InvalidArgument("date(): '" + a0.AsString() + "' is not a date");
      }
      return Value::String(DaysToDate(days));
    }
    case Fn::kDecimalDateTime: {
      ARG(a0, 0);
      return Value::Number(a0.AsNumber());
    }
    case Fn::kFormatDate:
    case Fn::kFormatDateTime: {
      ARG(a0, 0);
      ARG(fmt, 1);
      DateParts parts;
      if (!ToDateParts(a0, &parts)) return Value::String("");
      return Value::String(FormatDate(parts, fmt.AsString()));
    }
    case Fn::kOnce: {
      Value current = ctx.Current();
      if (!current.AsString().empty()) return current;
      return arg(0);
    }
    case Fn::kUuid: {
      if (args.empty()) return Value::String(UuidV4());
      ARG(a0, 0);
      double n = a0.AsNumber();
      if (std::isnan(n) || n < 1 || n > 4096) {
        return Status::InvalidArgument("uuid(length): the length must be from 1 to 4096");
      }
      static const char kAlnum[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
      std::string raw = RandomHex(static_cast<size_t>(n)), out;
      for (char c : raw) out += kAlnum[static_cast<unsigned char>(c) % 62];
      return Value::String(std::move(out));
    }
    case Fn::kPullData: {
      ARG(file, 0);
      ARG(col, 1);
      ARG(keycol, 2);
      ARG(key, 3);
      TIANYE_ASSIGN_OR_RETURN(std::string v, ctx.PullData(file.AsString(), col.AsString(),
                                                          keycol.AsString(), key.AsString()));
      return Value::String(std::move(v));
    }
    case Fn::kDistance: {
      std::vector<std::pair<double, double>> pts;
      for (size_t i = 0; i < args.size(); ++i) {
        ARG(v, i);
        for (const std::string& s : v.AsNodes()) {
          TIANYE_ASSIGN_OR_RETURN(auto more, ParsePoints(s));
          pts.insert(pts.end(), more.begin(), more.end());
        }
      }
      double total = 0;
      for (size_t i = 1; i < pts.size(); ++i) total += Haversine(pts[i - 1], pts[i]);
      return Value::Number(total);
    }
    case Fn::kArea: {
      ARG(a0, 0);
      std::vector<std::pair<double, double>> pts;
      for (const std::string& s : a0.AsNodes()) {
        TIANYE_ASSIGN_OR_RETURN(auto more, ParsePoints(s));
        pts.insert(pts.end(), more.begin(), more.end());
      }
      if (pts.size() > 1 && pts.front() == pts.back()) pts.pop_back();  // closed ring
      return Value::Number(SphericalArea(pts));
    }
    case Fn::kRandom: {
      std::string raw = RandomHex(8);
      uint64_t bits = 0;
      for (char c : raw) bits = bits << 8 | static_cast<unsigned char>(c);
      return Value::Number(static_cast<double>(bits >> 11) / 9007199254740992.0);
    }
  }
#undef ARG
#undef NUM_FN
  return Status::Internal("function " + call.text + " has no implementation");
}

}  // namespace

Result<Value> Eval(const Node& node, const EvalContext& ctx) {
  switch (node.type) {
    case Node::Type::kString: return Value::String(node.text);
    case Node::Type::kNumber: return Value::Number(node.number);
    case Node::Type::kField: return ctx.Field(node.text);
    case Node::Type::kColumn: return ctx.Column(node.text);
    case Node::Type::kCurrent: return ctx.Current();
    case Node::Type::kParent: return Value();  // only meaningful as position(..)
    case Node::Type::kNegate: {
      TIANYE_ASSIGN_OR_RETURN(Value v, Eval(*node.args[0], ctx));
      return Value::Number(-v.AsNumber());
    }
    case Node::Type::kCall: return CallFunction(node, ctx);
    case Node::Type::kFilter: {
      const Node& predicate = *node.args[1];
      return ctx.FilterNodes(node.args[0]->text, [&](const EvalContext& at) -> Result<bool> {
        TIANYE_ASSIGN_OR_RETURN(Value v, Eval(predicate, at));
        if (v.kind() == Value::Kind::kNumber) return v.AsNumber() == at.Position();  // [2]
        return v.AsBoolean();
      });
    }
    case Node::Type::kBinary: break;
  }
  const BinaryOp op = node.op;
  TIANYE_ASSIGN_OR_RETURN(Value a, Eval(*node.args[0], ctx));
  if (op == BinaryOp::kOr || op == BinaryOp::kAnd) {
    bool left = a.AsBoolean();
    if (op == BinaryOp::kOr && left) return Value::Boolean(true);
    if (op == BinaryOp::kAnd && !left) return Value::Boolean(false);
    TIANYE_ASSIGN_OR_RETURN(Value b, Eval(*node.args[1], ctx));
    return Value::Boolean(b.AsBoolean());
  }
  TIANYE_ASSIGN_OR_RETURN(Value b, Eval(*node.args[1], ctx));
  switch (op) {
    case BinaryOp::kEq:
    case BinaryOp::kNe:
    case BinaryOp::kLt:
    case BinaryOp::kLe:
    case BinaryOp::kGt:
    case BinaryOp::kGe: return Value::Boolean(Compare(op, a, b));
    case BinaryOp::kAdd: return Value::Number(a.AsNumber() + b.AsNumber());
    case BinaryOp::kSub: return Value::Number(a.AsNumber() - b.AsNumber());
    case BinaryOp::kMul: return Value::Number(a.AsNumber() * b.AsNumber());
    case BinaryOp::kDiv: return Value::Number(a.AsNumber() / b.AsNumber());
    case BinaryOp::kMod: return Value::Number(std::fmod(a.AsNumber(), b.AsNumber()));
    case BinaryOp::kUnion: {
      Value::NodeSet all = a.AsNodes(), more = b.AsNodes();
      all.insert(all.end(), more.begin(), more.end());
      return Value::Nodes(std::move(all));
    }
    default: return Status::Internal("unknown operator");
  }
}

}  // namespace internal

// ---------------------------------------------------------------- EvalContext defaults

Result<Value> EvalContext::Field(std::string_view name) const {
  return Status::NotFound("no field named ${" + std::string(name) + "} here");
}

Result<Value> EvalContext::FilterNodes(std::string_view name, const NodeFilter&) const {
  return Status::NotFound("no repeat or field named ${" + std::string(name) + "} here");
}

Result<Value> EvalContext::Column(std::string_view name) const {
  return Status::InvalidArgument("'" + std::string(name) +
                                 "' is not a function or a field; fields are written ${" +
                                 std::string(name) + "}");
}

Result<Value> EvalContext::IndexedField(std::string_view field, std::string_view, int) const {
  return Status::NotFound("no field named ${" + std::string(field) + "} here");
}

Result<std::string> EvalContext::ChoiceLabel(std::string_view question, std::string_view) const {
  return Status::NotFound("no question named ${" + std::string(question) + "} here");
}

Result<std::string> EvalContext::PullData(std::string_view file, std::string_view,
                                          std::string_view, std::string_view) const {
  return Status::NotFound("no data file '" + std::string(file) + "' here");
}

int64_t EvalContext::NowMillis() const {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  return duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace tianye
