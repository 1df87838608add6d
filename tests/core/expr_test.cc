// Expressions: the parser, every function, and ODK's surprising semantics.
// Expected values follow the XPath 1.0 spec and ODK's XForms documentation.
#include "tianye/expr.h"

#include "tianye/uuid.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

namespace tianye {
namespace {

class TestContext : public EvalContext {
 public:
  std::map<std::string, Value> fields;
  Value current;
  int position = 0;
  int64_t now_ms = 1764446400000;  // 2025-11-29T20:00:00Z = 2025-11-30 04:00 in Shuozhou

  Result<Value> Field(std::string_view name) const override {
    auto it = fields.find(std::string(name));
    if (it == fields.end()) return EvalContext::Field(name);
    return it->second;
  }
  Value Current() const override { return current; }
  int Position() const override { return position; }
  int64_t NowMillis() const override { return now_ms; }
  Result<std::string> ChoiceLabel(std::string_view q, std::string_view v) const override {
    if (q == "grade" && v == "C") return std::string("C级 局部危险");
    return std::string();
  }
  Result<std::string> PullData(std::string_view file, std::string_view col, std::string_view keycol,
                               std::string_view key) const override {
    if (file == "villages" && col == "ur_class" && keycol == "name" && key == "140622100201") {
      return std::string("220");
    }
    return std::string();
  }
};

TestContext Fixture() {
  TestContext ctx;
  ctx.fields["empty"] = Value::String("");
  ctx.fields["age"] = Value::String("42");
  ctx.fields["name"] = Value::String("张德明");
  ctx.fields["crops"] = Value::String("buckwheat garlic  oats");
  ctx.fields["n"] = Value::Nodes({"1", "2", "3"});
  ctx.fields["gaps"] = Value::Nodes({"1", "", "3"});
  ctx.fields["none"] = Value::Nodes({});
  ctx.fields["p"] = Value::String("(");
  return ctx;
}

std::string EvalString(const std::string& text, const EvalContext& ctx) {
  auto e = Expression::Parse(text);
  if (!e) return "PARSE ERROR: " + e.error().message();
  auto v = e->Evaluate(ctx);
  if (!v) return "EVAL ERROR: " + v.error().message();
  return v->AsString();
}

struct Case {
  const char* expr;
  const char* want;
};

void RunTable(const std::vector<Case>& cases) {
  TestContext ctx = Fixture();
  for (const Case& c : cases) EXPECT_EQ(EvalString(c.expr, ctx), c.want) << "expression: " << c.expr;
}

TEST(ExprTest, ArithmeticFollowsXPath) {
  RunTable({
      {"1 + 2 * 3", "7"},          {"(1 + 2) * 3", "9"},       {"10 div 4", "2.5"},
      {"7 mod 3", "1"},            {"-7 mod 3", "-1"},         {"7.5 mod 2", "1.5"},
      {"1 div 0", "Infinity"},     {"-1 div 0", "-Infinity"},  {"0 div 0", "NaN"},
      {"- - 2", "2"},              {"3 - -2", "5"},            {"0.1 + 0.2", "0.30000000000000004"},
      {"1 div 3", "0.3333333333333333"}, {"1000000 * 1000000", "1000000000000"},
      {"-0", "0"},                 {".5 + 5.", "5.5"},
  });
}

TEST(ExprTest, EmptyNumbersAreNaNNotZero) {
  RunTable({
      {"${empty} + 1", "NaN"},
      {"coalesce(${empty}, 0) + 1", "1"},
      {"${empty} > 0", "false"},
      {"${empty} <= 0", "false"},
      {"${empty} = 0", "false"},
      {"${empty} = ''", "true"},
      {"number('')", "NaN"},
      {"${age} + 1", "43"},
  });
}

TEST(ExprTest, NumberConversionIsStrict) {
  RunTable({
      {"number('  12.5 ')", "12.5"}, {"number('1e3')", "NaN"}, {"number('+1')", "NaN"},
      {"number('.5')", "0.5"},       {"number('5.')", "5"},     {"number('-')", "NaN"},
      {"number('12abc')", "NaN"},    {"number(true())", "1"},   {"number('1,000')", "NaN"},
  });
}

TEST(ExprTest, ComparisonsFollowXPathTypes) {
  RunTable({
      {"'2' = 2", "true"},           {"'1.0' = 1", "true"},        {"'1.0' = '1'", "false"},
      {"'abc' = 'abc'", "true"},     {"'a' != 'b'", "true"},       {"'10' > '9'", "true"},
      {"true() = 'false'", "true"},  {"false() = ''", "true"},     {"1 < 2 and 2 < 3", "true"},
      {"1 > 2 or 3 > 2", "true"},    {"not(1 = 1)", "false"},      {"2 >= 2", "true"},
  });
}

TEST(ExprTest, ValuesAreStringsAndBooleansConvert) {
  RunTable({
      {"boolean('false')", "true"},            {"boolean('')", "false"},
      {"boolean(0)", "false"},                 {"boolean(0 div 0)", "false"},
      {"boolean-from-string('false')", "false"}, {"boolean-from-string('true')", "true"},
      {"boolean-from-string('1')", "true"},    {"boolean-from-string('yes')", "false"},
      {"string(1 = 1)", "true"},               {"string(2)", "2"},
      {"concat('a', 1, true(), ${empty})", "a1true"},
  });
}

TEST(ExprTest, DatesCompareAsDaysSinceEpoch) {
  RunTable({
      {"number(date('2021-01-01'))", "18628"},
      {"number('1970-01-01')", "0"},
      {"date(18628)", "2021-01-01"},
      {"date(-1)", "1969-12-31"},
      {"date('2024-02-29')", "2024-02-29"},
      {"date(date('2024-02-28') + 1)", "2024-02-29"},
      {"'2026-08-10' <= '2026-11-30'", "true"},
      {"date('2026-11-30') > date('2026-08-10')", "true"},
      {"date('2026-11-30') - date('2026-11-01')", "29"},
      {"decimal-date-time('1970-01-02T12:00:00Z')", "1.5"},
      {"decimal-date-time('1970-01-02T20:00:00.000+08:00')", "1.5"},
      {"today()", "2025-11-30"},
      {"now()", "2025-11-30T04:00:00.000+08:00"},
      {"today() <= '2025-11-30' and today() >= date('2021-01-01')", "true"},
      {"date('')", ""},
  });
}

TEST(ExprTest, FormatDate) {
  RunTable({
      {"format-date('2026-11-30', '%Y年%n月%e日')", "2026年11月30日"},
      {"format-date('2026-03-05', '%d/%m/%y')", "05/03/26"},
      {"format-date('2026-11-30', '%a %b %d')", "Mon Nov 30"},
      {"format-date('1970-01-01', '%a')", "Thu"},
      {"format-date-time('2026-11-30T08:05:09.123+08:00', '%H:%M:%S.%3 %h')", "08:05:09.123 8"},
      {"format-date(date('2021-01-01') + 59, '%Y-%m-%d')", "2021-03-01"},
      {"format-date('not a date', '%Y')", ""},
      {"int(format-date(today(), '%Y'))", "2025"},
  });
}

TEST(ExprTest, SelectsCountFromZeroAndSplitOnSpaces) {
  RunTable({
      {"selected(${crops}, 'garlic')", "true"},
      {"selected(${crops}, 'gar')", "false"},
      {"selected(${crops}, ' oats ')", "true"},
      {"selected(${empty}, '')", "false"},
      {"count-selected(${crops})", "3"},
      {"count-selected(${empty})", "0"},
      {"selected-at(${crops}, 0)", "buckwheat"},
      {"selected-at(${crops}, 2)", "oats"},
      {"selected-at(${crops}, 3)", ""},
      {"selected-at(${crops}, -1)", ""},
      {"jr:choice-name('C', '${grade}')", "C级 局部危险"},
  });
}

TEST(ExprTest, StringsCountCharactersNotBytes) {
  RunTable({
      {"string-length('朔州')", "2"},
      {"string-length(${name})", "3"},
      {"substr('abcdef', 1, 3)", "bc"},
      {"substr('abcdef', 4)", "ef"},
      {"substr('平鲁红山荞麦', 2)", "红山荞麦"},
      {"substr('abc', 2, 1)", ""},
      {"substr('abc', -5, 2)", "ab"},
      {"substr('11010519491231002X', 17, 18)", "X"},
      {"contains('应县紫皮大蒜', '紫皮')", "true"},
      {"starts-with('140622100201', '140622')", "true"},
      {"ends-with('photo.jpg', '.jpg')", "true"},
      {"ends-with('a', 'abc')", "false"},
      {"normalize-space('  a \t  b  ')", "a b"},
      {"translate('abcx', 'x', 'X')", "abcX"},
      {"translate('abc', 'abc', 'AB')", "AB"},
      {"translate('11010519491231002x', 'x', 'X')", "11010519491231002X"},
      {"substring-before('140622-07', '-')", "140622"},
      {"substring-after('140622-07', '-')", "07"},
      {"string(${age})", "42"},
  });
}

TEST(ExprTest, RegexSearchesWithPcre) {
  RunTable({
      {"regex('13912345678', '^1[3-9][0-9]{9}$')", "true"},
      {"regex('12912345678', '^1[3-9][0-9]{9}$')", "false"},
      {"regex('abc123', '[0-9]+')", "true"},  // a search, not a whole-string match
      {"regex('张德明', '^.{2,20}$')", "true"},  // UTF-8 aware
  });
  TestContext ctx = Fixture();
  EXPECT_EQ(EvalString("regex('x', ${p})", ctx).rfind("EVAL ERROR", 0), 0u);
  EXPECT_EQ(EvalString("regex('x', '(')", ctx).rfind("PARSE ERROR", 0), 0u);
}

TEST(ExprTest, NumericFunctions) {
  RunTable({
      {"int(3.9)", "3"},          {"int(-3.9)", "-3"},          {"int(${empty})", "NaN"},
      {"round(2.5)", "3"},        {"round(-2.5)", "-2"},        {"round(3.14159, 2)", "3.14"},
      {"round(-1.25, 1)", "-1.3"}, {"round(1234, -2)", "1200"}, {"floor(-1.5)", "-2"},
      {"ceiling(1.2)", "2"},      {"pow(2, 10)", "1024"},       {"abs(-3)", "3"},
      {"min(3, 1, 2)", "1"},      {"max(1, 5, 2)", "5"},        {"max(1, ${empty})", "NaN"},
      {"sqrt(16)", "4"},          {"exp10(3)", "1000"},         {"log10(1000)", "3"},
      {"round(pi(), 4)", "3.1416"},
  });
}

TEST(ExprTest, RepeatsAreNodeSets) {
  RunTable({
      {"sum(${n})", "6"},          {"count(${n})", "3"},         {"count(${none})", "0"},
      {"${n} = 2", "true"},        {"${n} != 2", "true"},        {"${n} = 7", "false"},
      {"${none} = ''", "false"},   {"max(${n})", "3"},           {"min(${n})", "1"},
      {"join(', ', ${n})", "1, 2, 3"}, {"count-non-empty(${gaps})", "2"},
      {"sum(${gaps})", "NaN"},     {"concat(${n})", "123"},      {"count(${n} | ${gaps})", "6"},
      {"sum(${none})", "0"},
  });
}

TEST(ExprTest, ContextFunctions) {
  TestContext ctx = Fixture();
  ctx.position = 2;
  EXPECT_EQ(EvalString("position(..)", ctx), "2");
  EXPECT_EQ(EvalString("concat('样本-', position(..))", ctx), "样本-2");
  EXPECT_EQ(EvalString("pulldata('villages', 'ur_class', 'name', '140622100201')", ctx), "220");
  EXPECT_EQ(EvalString("pulldata('villages', 'ur_class', 'name', 'nope')", ctx), "");
  EXPECT_EQ(EvalString("if(${empty} = '', 'blank', 'x')", ctx), "blank");
  EXPECT_EQ(EvalString("if(1 = 2, 1 div 0, 'lazy')", ctx), "lazy");
  ctx.current = Value::String("kept");
  EXPECT_EQ(EvalString("once(uuid())", ctx), "kept");
  ctx.current = Value::String("");
  std::string id = EvalString("once(uuid())", ctx);
  ASSERT_TRUE(IsCanonicalUuid(id)) << id;
  EXPECT_EQ(id[14], '4') << id;  // version 4 (random)
  EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;
  EXPECT_EQ(EvalString("uuid(8)", ctx).size(), 8u);
  EXPECT_NE(EvalString("uuid()", ctx), EvalString("uuid()", ctx));
  double r = std::stod(EvalString("random()", ctx));
  EXPECT_TRUE(r >= 0 && r < 1);
}

TEST(ExprTest, GeoFunctionsInMetres) {
  TestContext ctx = Fixture();
  // 0.01° of longitude at 39°N: 6378100 m * 0.01 * pi/180 * cos(39°) ≈ 865 m.
  double d = std::stod(EvalString("distance('39.0 112.0 1200 5; 39.0 112.01 1200 5')", ctx));
  EXPECT_NEAR(d, 865.2, 2.0);
  ctx.fields["pts"] = Value::Nodes({"39.0 112.0", "39.0 112.01", "39.01 112.01"});
  double d3 = std::stod(EvalString("distance(${pts})", ctx));
  EXPECT_NEAR(d3, 865.2 + 1113.2, 4.0);
  // A 0.001° square at the equator: (111.32 m)² ≈ 12392 m².
  double a = std::stod(EvalString("area('0 0; 0 0.001; 0.001 0.001; 0.001 0; 0 0')", ctx));
  EXPECT_NEAR(a, 12392, 60);
  EXPECT_EQ(EvalString("distance('91 0; 0 0')", ctx).rfind("EVAL ERROR", 0), 0u);
}

TEST(ExprTest, ParseErrorsNameThePlaceAndTheProblem) {
  struct Bad {
    const char* expr;
    const char* message_part;
  };
  for (const Bad& b : std::vector<Bad>{
           {"1 +", "ends where a value was expected"},
           {"foo(1)", "unknown function foo()"},
           {"if(1, 2)", "if() takes 3 argument(s), not 2"},
           {"selected(${a})", "selected() takes 2 argument(s), not 1"},
           {"${}", "not a field name"},
           {"${a b}", "not a field name"},
           {"'open", "not closed"},
           {"${a", "not closed"},
           {"/data/x = 1", "paths are not supported"},
           {"../x", "paths are not supported"},
           {"${last-saved#x}", "last-saved"},
           {"1 = = 2", "expected a value"},
           {"(1 + 2", "expected ')'"},
           {"1 2", "unexpected '2'"},
           {"concat('a' 'b')", "expected ',' or ')'"},
           {"1 # 2", "unexpected character '#'"},
       }) {
    auto e = Expression::Parse(b.expr);
    ASSERT_FALSE(e.has_value()) << b.expr;
    EXPECT_EQ(e.error().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(e.error().message().find(b.message_part), std::string::npos)
        << b.expr << " -> " << e.error().message();
    EXPECT_NE(e.error().message().find("at character"), std::string::npos) << b.expr;
  }
}

TEST(ExprTest, HostileInputIsAnErrorNotACrash) {
  EXPECT_FALSE(Expression::Parse(std::string(300, '(') + "1" + std::string(300, ')')).has_value());
  EXPECT_FALSE(Expression::Parse(std::string(5000, '-') + "1").has_value());
  std::string chain = "1";
  for (int i = 0; i < 2000; ++i) chain += " + 1";
  auto long_chain = Expression::Parse(chain);
  ASSERT_FALSE(long_chain.has_value());
  EXPECT_NE(long_chain.error().message().find("nested too deeply"), std::string::npos);
  std::string huge(10 * 1024 * 1024, '1');  // a 10 MB expression
  auto e = Expression::Parse(huge);
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message().find("limit"), std::string::npos);
  // Catastrophic backtracking is cut off, not run for ever.
  TestContext ctx;
  std::string evil = "regex('" + std::string(40, 'a') + "!', '^(a+)+$')";
  std::string out = EvalString(evil, ctx);
  EXPECT_TRUE(out == "false" || out.rfind("EVAL ERROR", 0) == 0) << out;
}

TEST(ExprTest, ReferencesAndFlags) {
  auto e = Expression::Parse("${a} + ${b} * ${a} > . and jr:choice-name(${c}, '${c}') != ''");
  ASSERT_TRUE(e.has_value()) << e.error().ToString();
  EXPECT_EQ(e->references(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(e->uses_current());
  EXPECT_FALSE(e->is_volatile());
  EXPECT_TRUE(Expression::Parse(". <= today()")->is_volatile());
  EXPECT_FALSE(Expression::Parse("1")->uses_current());
}

TEST(ExprTest, PredicatesNameFieldsOfEachInstance) {
  auto e = Expression::Parse(
      "count(${sample}[s_crop/area_trend = 'decreasing' or res_cat = 'crop'][. != ''])");
  ASSERT_TRUE(e.has_value()) << e.error().ToString();
  EXPECT_EQ(e->references(), (std::vector<std::string>{"sample", "area_trend", "res_cat"}));
  EXPECT_TRUE(e->columns().empty());
  for (const char* bad : {"${a}[", "${a}[1", "${a}[]", "${a}[b/]"}) {
    EXPECT_FALSE(Expression::Parse(bad).has_value()) << bad;
  }
  TestContext ctx;  // a context without repeats cannot filter
  EXPECT_EQ(EvalString("count(${n}[. > 1])", ctx).rfind("EVAL ERROR", 0), 0u);
}

TEST(ExprTest, UnknownFieldIsAnEvaluationError) {
  TestContext ctx;
  EXPECT_EQ(EvalString("${nope} + 1", ctx).rfind("EVAL ERROR", 0), 0u);
  EXPECT_EQ(EvalString("county = 1", ctx).rfind("EVAL ERROR", 0), 0u);
}

// The ID-card check of forms.md §1.5 (GB 11643, ISO 7064 MOD 11-2).
TEST(ExprTest, ChineseIdCardChecksum) {
  std::string w;
  const int weights[] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  for (int i = 0; i < 17; ++i) {
    w += (i ? " + " : "") + std::string("number(substr(., ") + std::to_string(i) + ", " +
         std::to_string(i + 1) + "))*" + std::to_string(weights[i]);
  }
  std::string constraint =
      "regex(., '^[1-9][0-9]{5}(18|19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}"
      "[0-9Xx]$') and substr(translate(., 'x', 'X'), 17, 18) = substr('10X98765432', (" + w +
      ") mod 11, ((" + w + ") mod 11) + 1)";
  auto e = Expression::Parse(constraint);
  ASSERT_TRUE(e.has_value()) << e.error().ToString();
  TestContext ctx;
  for (const char* good : {"11010519491231002X", "11010519491231002x", "140622198001010015"}) {
    ctx.current = Value::String(good);
    EXPECT_TRUE(e->Evaluate(ctx)->AsBoolean()) << good;
  }
  for (const char* bad : {"110105194912310021", "11010519491331002X", "1101051949123100", "140622198001010014", ""}) {
    ctx.current = Value::String(bad);
    EXPECT_FALSE(e->Evaluate(ctx)->AsBoolean()) << bad;
  }
}

}  // namespace
}  // namespace tianye
