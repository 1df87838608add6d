#include "tianye/sync.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>
#include <string>
#include <chrono>
#include <future>
#include <thread>

#include "repeat_order.h"
#include "sha256.h"
#include "sync_testing.h"
#include "tianye/attachment.h"
#include "tianye/form.h"
#include "tianye/form_session.h"
#include "tianye/review.h"

namespace tianye {
namespace {

using nlohmann::json;
using testing::SyncWorld;

// ------------------------------------------------------------ pure functions

TEST(SyncFieldsTest, RecordsFlattenToFieldsAndBack) {
  Record r;
  r.form_id = "toilet";
  r.form_version = "2026.1";
  r.status = RecordStatus::kSynced;
  r.author = "wang";
  r.area = {"140623000000", "140623100000", ""};
  r.review_comment = "照片不清楚";
  r.values_json = R"({"head": "张三", "count": 3, "problems": [
      {"_id": "p1", "kind": "漏水", "photos": [{"_id": "q", "f": "a.jpg"}]},
      {"_id": "p2", "kind": "无盖"}], "odd": {"k": [1, 2]}})";
  FieldMap f = RecordFields(r);
  EXPECT_EQ(f.at("@status"), "finalized");  // "synced" is local
  EXPECT_EQ(f.at("@county"), "140623000000");
  EXPECT_EQ(f.at("@comment"), "照片不清楚");
  EXPECT_EQ(f.at("head"), "张三");
  EXPECT_EQ(f.at("count"), "3");
  EXPECT_EQ(f.at("problems[p1]"), "1");
  EXPECT_EQ(f.at("problems[p2]"), "1");
  EXPECT_EQ(f.at("problems[p2]/kind"), "无盖");
  EXPECT_EQ(f.at("problems[p1]/photos[q]/f"), "a.jpg");
  EXPECT_EQ(f.at("odd#json"), R"({"k":[1,2]})");
  EXPECT_EQ(f.count("@deleted"), 0u);

  Record back;
  back.status = RecordStatus::kSynced;
  ApplyFields(f, &back);
  EXPECT_EQ(RecordFields(back), f);
  json v = json::parse(back.values_json);
  EXPECT_EQ(v["problems"][0]["_id"], "p1");
  EXPECT_EQ(v["problems"][1]["kind"], "无盖");
  EXPECT_EQ(v["odd"]["k"][1], 2);
  EXPECT_EQ(back.status, RecordStatus::kSynced);  // finalized on the server = synced here
}

TEST(SyncFieldsTest, RepeatInstancesListByIdAndRemovedOnesHide) {
  FieldMap f = {{"@form", "t"}, {"r[b]", "000001"}, {"r[b]/x", "B"}, {"r[a]", "000001"}, {"r[a]/x", "A"},
                {"r[c]/x", "removed instance keeps its answer on the server"}};
  Record r;
  ApplyFields(f, &r);
  json v = json::parse(r.values_json);
  ASSERT_EQ(v["r"].size(), 2u);  // order fields an older version wrote: listed by id
  EXPECT_EQ(v["r"][0]["x"], "A");
  EXPECT_EQ(v["r"][1]["x"], "B");
}

TEST(SyncFieldsTest, ANameWithEmptyBracketsIsAPlainFieldAndComesBackTheSame) {
  // No instance id in "[]": not a repeat instance (one would get a made-up
  // id when the record is flattened again, and no longer match the server).
  FieldMap f = {{"@form", "t"}, {"r[]", "1"}, {"r[]/x", "A"}, {"s[", "2"}};
  Record once;
  ApplyFields(f, &once);
  json v = json::parse(once.values_json);
  EXPECT_EQ(v["r[]"], "1");
  EXPECT_EQ(v["r[]/x"], "A");
  EXPECT_FALSE(v.contains("r"));
  Record twice;
  ApplyFields(RecordFields(once), &twice);
  EXPECT_EQ(twice.values_json, once.values_json);
}

TEST(SyncFieldsTest, OrderKeysFallBetweenTheirNeighbours) {
  std::mt19937 rng(20261201);
  const std::string digits = "!\"#019-:AZaz}~";
  auto random_key = [&] {
    std::string k;
    for (size_t n = 1 + rng() % 6; k.size() < n;) k += digits[rng() % digits.size()];
    while (k.back() == '!') k.pop_back();  // keys never end in '!'
    return k.empty() ? std::string("0") : k;
  };
  auto check = [](const std::string& before, const std::string& after) -> std::string {
    std::string k = internal::OrderKeyBetween(before, after);
    SCOPED_TRACE("'" + before + "' < '" + k + "' < '" + after + "'");
    EXPECT_GT(k, before);
    if (!after.empty()) {
      EXPECT_LT(k, after);
    }
    EXPECT_FALSE(k.empty() || k.back() == '!');
    for (char c : k) EXPECT_TRUE(c >= '!' && c <= '~');
    return k;
  };
  for (auto [before, after] : std::vector<std::pair<std::string, std::string>>{
           {"", ""}, {"", "!\""}, {"", "!!0"}, {"a", "a!0"}, {"a", "b"}, {"~", ""}, {"~~", ""}, {"", "\""}}) {
    check(before, after);
  }
  for (int i = 0; i < 5000; ++i) {
    std::string a = random_key(), b = random_key();
    if (a == b) continue;
    if (a > b) std::swap(a, b);
    check(a, b);
    check("", a);
    check(b, "");
  }
  // Moving one instance to the front again and again: a key grows by about
  // one digit per six moves.
  std::string front = "0190f3c2-0000-7000-8000-000000000001";
  for (int i = 0; i < 200; ++i) front = check("", front);
  EXPECT_LT(front.size(), 36u + 200 / 6);
  // Ids made elsewhere may hold any bytes: the key still sorts after `before`
  // and is plain ASCII.
  std::string odd = internal::OrderKeyBetween("问题", "");
  EXPECT_GT(odd, std::string("问题"));
  EXPECT_GT(internal::OrderKeyBetween("a", "a\x01"), std::string("a"));
}

TEST(SyncFieldsTest, RepeatInstancesKeepTheirOrderThroughFields) {
  // Moved on a device (the form session gave "c" a key of its own, before "a").
  Record r;
  r.values_json = R"({"r": [{"_id": "c", "_order": "Z", "x": "C"}, {"_id": "a", "x": "A"}, {"_id": "b", "x": "B"}]})";
  FieldMap f = RecordFields(r);
  EXPECT_EQ(f.at("r[c]"), ">Z");
  EXPECT_EQ(f.at("r[a]"), "1");  // the others keep listing by id: a move is one field
  EXPECT_EQ(f.at("r[b]"), "1");
  EXPECT_EQ(f.count("r[c]/_order"), 0u);
  Record back;
  ApplyFields(f, &back);
  json v = json::parse(back.values_json);
  ASSERT_EQ(v["r"].size(), 3u);
  EXPECT_EQ(v["r"][0]["x"], "C");
  EXPECT_EQ(v["r"][0]["_order"], "Z");
  EXPECT_EQ(v["r"][1]["x"], "A");
  EXPECT_FALSE(v["r"][1].contains("_order"));
  EXPECT_EQ(RecordFields(back), f);

  // A list put together elsewhere, out of id order, and twelve instances
  // without ids ("i10" sorts before "i2"): the order given is the order kept,
  // the same fields every time.
  json list = json::array();
  for (const char* id : {"m", "k", "z", "a"}) list.push_back({{"_id", id}, {"x", id}});
  json plain = json::array();
  for (int i = 1; i <= 12; ++i) plain.push_back({{"x", std::to_string(i)}});
  r.values_json = json{{"r", list}, {"p", plain}}.dump();
  f = RecordFields(r);
  EXPECT_EQ(RecordFields(r), f);
  ApplyFields(f, &back);
  v = json::parse(back.values_json);
  for (size_t i = 0; i < list.size(); ++i) EXPECT_EQ(v["r"][i]["x"], list[i]["x"]) << v["r"].dump();
  ASSERT_EQ(v["p"].size(), 12u);
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_EQ(v["p"][i]["x"], plain[i]["x"]) << v["p"].dump();
  EXPECT_EQ(RecordFields(back), f);
}

// A row added on a device whose clock is behind the one that added the last
// row (its time-ordered id sorts first) still lists last after a sync.
TEST(SyncFieldsTest, ARowAddedUnderAClockThatIsBehindStaysLast) {
  FormLoadResult form = FormDef::Parse(testing::kTestForm, {});
  ASSERT_NE(form.form, nullptr);
  auto session = FormSession::Open(form.form, R"({"r": [{"_id": "ffffffff-0000-7000-8000-000000000000", "x": "A"}]})", {});
  ASSERT_TRUE(session.has_value()) << session.error().ToString();
  ASSERT_TRUE((*session)->AddRepeat("r").has_value());
  ASSERT_TRUE((*session)->SetAnswer("r[2]/x", "B").has_value());
  Record r;
  r.values_json = (*session)->ValuesJson(false);
  Record back;
  ApplyFields(RecordFields(r), &back);
  json v = json::parse(back.values_json);
  ASSERT_EQ(v["r"].size(), 2u);
  EXPECT_EQ(v["r"][0]["x"], "A");
  EXPECT_EQ(v["r"][1]["x"], "B");
}

TEST(SyncMergeTest, DecidesByServerVersionsNotClocks) {
  using K = MergeKind;
  std::optional<std::string> x = "x", y = "y";
  EXPECT_EQ(DecideMerge(x, "A", {}, y), K::kFastForward);                         // saw the current value
  EXPECT_EQ(DecideMerge(x, "A", {{5, x, "B"}}, x), K::kConvergent);               // same value already there
  EXPECT_EQ(DecideMerge(x, "A", {{5, y, "A"}}, y), K::kFastForward);              // only its own edit came between
  EXPECT_EQ(DecideMerge(x, "A", {{5, y, "B"}}, y), K::kConflict);                 // someone else's
  EXPECT_EQ(DecideMerge(x, "A", {{5, y, "A"}, {6, y, "B"}}, y), K::kConflict);
  EXPECT_EQ(DecideMerge(std::nullopt, "A", {{5, y, "B"}}, y), K::kConflict);      // removal vs edit
}

TEST(SyncMergeTest, TheProvisionalWinnerDoesNotDependOnOrder) {
  Candidate a{"a", "dev-a", "u1", 100, false, 1};
  Candidate b{"b", "dev-b", "u2", 100, false, 2};  // same HLC: the device id decides
  Candidate c{"c", "dev-c", "u3", 99, false, 3};
  EXPECT_EQ(PickWinner({a, b, c}), 1u);
  EXPECT_EQ(PickWinner({c, b, a}), 1u);
  EXPECT_EQ(PickWinner({b, a}), 0u);
}

TEST(SyncScopeTest, CodesCoverTheAreasBelowThem) {
  AreaCodes village{"140623000000", "140623100000", "140623100201"};
  EXPECT_TRUE(InScope({"140623000000"}, village));   // county
  EXPECT_TRUE(InScope({"140623100000"}, village));   // township
  EXPECT_TRUE(InScope({"140623100201"}, village));   // the village itself
  EXPECT_FALSE(InScope({"140623101000"}, village));  // a neighbouring township
  EXPECT_FALSE(InScope({"140602000000"}, village));  // another county
  EXPECT_TRUE(InScope({"*"}, village));
  EXPECT_FALSE(InScope({}, village));
  EXPECT_FALSE(InScope({"140623000000"}, AreaCodes{}));
}

// ------------------------------------------------------------------- codec

TEST(SyncCodecTest, BatchesRoundTrip) {
  PushBatch b;
  b.device_id = "dev";
  b.ops.push_back({7, 1, "0190a0b0-0000-7000-8000-000000000001", "a", "甲", 3, Hlc::Pack(1'790'000'000'000, 2), "t", "1"});
  b.ops.push_back({8, 1, "0190a0b0-0000-7000-8000-000000000001", "b", std::nullopt, 0, 5, "t", "1"});
  auto back = DecodePushBatch(EncodePushBatch(b));
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  ASSERT_EQ(back->ops.size(), 2u);
  EXPECT_EQ(back->ops[0].value, "甲");
  EXPECT_EQ(back->ops[0].hlc, Hlc::Pack(1'790'000'000'000, 2));  // beyond 2^53: sent as a string
  EXPECT_FALSE(back->ops[1].value.has_value());
  EXPECT_EQ(back->answers_stored_through, 0);
  b.answers_stored_through = 6;
  back = DecodePushBatch(EncodePushBatch(b));
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(back->answers_stored_through, 6);
}

TEST(SyncCodecTest, BadBatchesAreClearErrors) {
  auto err = [](const std::string& s) {
    auto r = DecodePushBatch(s);
    return r ? std::string("accepted") : r.error().message();
  };
  const std::string op = R"({"push_seq":1,"txn":1,"record":"0190a0b0-0000-7000-8000-000000000001","field":"a",)"
                         R"("value":"x","base":0,"hlc":"5","form":"t","form_version":"1"})";
  EXPECT_NE(err("{").find("malformed_json"), std::string::npos);
  EXPECT_NE(err("[]").find("malformed_json"), std::string::npos);
  EXPECT_NE(err(R"({"protocol":99,"device_id":"d","ops":[]})").find("unsupported_protocol"), std::string::npos);
  EXPECT_NE(err(R"({"protocol":1,"ops":[]})").find("device_id"), std::string::npos);
  EXPECT_NE(err(R"({"protocol":1,"device_id":"d","ops":[)" + op + "," + op + "]}").find("does not follow"),
            std::string::npos);
  std::string bad_id = op;
  bad_id.replace(bad_id.find("0190a0b0"), 8, "DROP TAB");
  EXPECT_NE(err(R"({"protocol":1,"device_id":"d","ops":[)" + bad_id + "]}").find("UUID"), std::string::npos);
  std::string big = op;
  big.replace(big.find(R"("x")"), 3, "\"" + std::string(kMaxValueBytes + 1, 'x') + "\"");
  EXPECT_NE(err(R"({"protocol":1,"device_id":"d","ops":[)" + big + "]}").find("too long"), std::string::npos);
  EXPECT_EQ(err(R"({"protocol":1,"device_id":"d","ops":[)" + op + "]}"), "accepted");
  // Read as a json tree would read them: other members ignored however
  // deep, the last of a repeated key counts, every type checked.
  EXPECT_EQ(err(R"({"x":{"ops":[1]},"protocol":1,"y":[[{"protocol":2}]],"device_id":"d","ops":[)" + op + "]}"),
            "accepted");
  EXPECT_EQ(err(R"({"protocol":1,"device_id":"d","ops":[1],"ops":[)" + op + "]}"), "accepted");
  EXPECT_NE(err(R"({"protocol":1,"device_id":"d","ops":[)" + op + R"(],"ops":{"0":1}})").find("'ops' must be an array"),
            std::string::npos);
  EXPECT_NE(err(R"({"protocol":1,"device_id":"d","ops":[[)" + op + "]]}").find("op 0 must be an object"),
            std::string::npos);
  std::string typed = op;
  typed.replace(typed.find(R"("x")"), 3, R"({"v":"x"})");
  EXPECT_NE(err(R"({"protocol":1,"device_id":"d","ops":[)" + typed + "]}").find("'value' must be a string or null"),
            std::string::npos);
  std::string twice = op;
  twice.insert(twice.size() - 1, R"(,"field":"")");
  EXPECT_NE(err(R"({"protocol":1,"device_id":"d","ops":[)" + twice + "]}").find("'field' must not be empty"),
            std::string::npos);
  EXPECT_NE(err(R"({"protocol":1.0,"device_id":"d","ops":[]})").find("'protocol' must be an integer"),
            std::string::npos);
  EXPECT_NE(err(R"({"protocol":1,"device_id":"d","answers_stored_through":"5","ops":[]})")
                .find("'answers_stored_through' must be an integer"),
            std::string::npos);
  EXPECT_NE(err(R"({"protocol":1,"device_id":"d","answers_stored_through":-1,"ops":[]})")
                .find("'answers_stored_through' is out of range"),
            std::string::npos);
  // The whole text is checked before any of it is read: bytes that are not
  // UTF-8 (even in a member nobody reads) and text after the object.
  std::string latin1 = op;
  latin1.replace(latin1.find(R"("x")"), 3, "\"caf\xe9\"");
  EXPECT_NE(err(R"({"protocol":1,"device_id":"d","ops":[)" + latin1 + "]}").find("malformed_json"), std::string::npos);
  EXPECT_NE(err("{\"protocol\":1,\"device_id\":\"d\",\"note\":\"\xff\",\"ops\":[]}").find("malformed_json"),
            std::string::npos);
  EXPECT_NE(err(R"({"protocol":1,"device_id":"d","ops":[]} {})").find("malformed_json"), std::string::npos);
  // Escapes are read as JSON says, a surrogate pair as one character.
  std::string escaped = op;
  escaped.replace(escaped.find(R"("x")"), 3, R"("\u5e73\u9c81 \ud83c\udf3e \"\\")");
  auto read = DecodePushBatch(R"({"protocol":1,"device_id":"d","ops":[)" + escaped + "]}");
  ASSERT_TRUE(read) << read.error().ToString();
  EXPECT_EQ(read->ops[0].value, std::optional<std::string>("平鲁 \U0001F33E \"\\"));
  std::string many = R"({"protocol":1,"device_id":"d","ops":[)";
  for (size_t i = 0; i <= kMaxOpsPerBatch; ++i) many += i == 0 ? "0" : ",0";
  EXPECT_NE(err(many + "]}").find("batch_too_large"), std::string::npos);
}

// A device reads the server's answer to a push as strictly as the server
// reads the push: a wrong answer is a clear error, never a half-read one.
TEST(SyncCodecTest, BadPushResultsAreClearErrors) {
  auto err = [](const std::string& s) {
    auto r = DecodePushResult(s);
    return r ? std::string("accepted") : r.error().message();
  };
  const std::string ok = R"({"acked_through":2,"outcomes":[{"push_seq":1,"outcome":"applied","version":7},)"
                         R"({"push_seq":2,"outcome":"conflict","version":8,"conflict_id":"c-1"}]})";
  auto read = DecodePushResult(ok);
  ASSERT_TRUE(read) << read.error().ToString();
  EXPECT_EQ(read->acked_through, 2);
  ASSERT_EQ(read->outcomes.size(), 2u);
  EXPECT_EQ(read->outcomes[1].conflict_id, "c-1");
  EXPECT_EQ(read->outcomes[1].version, 8);
  EXPECT_NE(err("{").find("malformed_json"), std::string::npos);
  EXPECT_NE(err(R"({"outcomes":[]})").find("'acked_through' must be an integer"), std::string::npos);
  EXPECT_NE(err(R"({"acked_through":0,"outcomes":{}})").find("'outcomes' must be an array"), std::string::npos);
  EXPECT_NE(err(R"({"acked_through":0,"outcomes":[5]})").find("an outcome must be an object"), std::string::npos);
  EXPECT_NE(err(R"({"acked_through":1,"outcomes":[{"push_seq":0,"outcome":"applied","version":1}]})")
                .find("'push_seq' is out of range"),
            std::string::npos);
  EXPECT_NE(err(R"({"acked_through":1,"outcomes":[{"push_seq":1,"outcome":"applied","version":1,"error":7}]})")
                .find("'error' must be a string"),
            std::string::npos);
  EXPECT_NE(err(R"({"acked_through":1,"outcomes":[{"push_seq":1,"outcome":"conflict","version":1,"conflict_id":""}]})")
                .find("'conflict_id' must not be empty"),
            std::string::npos);
}

// Pull pages are written out by hand (not through a json tree): every text
// survives, quotes, backslashes, control characters and Chinese included,
// and the page is JSON any parser reads.
TEST(SyncCodecTest, PullPagesRoundTripAnyText) {
  PullPage p;
  const std::string awkward = "户主 \"张三\" \\ 1\n2\t3\r\x01\x1f end";
  p.changes.push_back({"0190a0b0-0000-7000-8000-000000000001", "head", awkward, 12, "dev-1", "李四",
                       Hlc::Pack(1'790'000'000'000, 2)});
  p.changes.push_back({"0190a0b0-0000-7000-8000-000000000001", "photo", std::nullopt, 13, "dev-\"2", "", 5});
  Conflict c;
  c.id = "c1";
  c.record_id = p.changes[0].record_id;
  c.field = "head";
  c.state = "open";
  c.base_value = "张";
  c.candidates.push_back({awkward, "dev-1", "李四", 7, false, 1});
  c.version = 13;
  c.created_ms = 99;
  c.resolution_json = "{}";
  p.conflicts.push_back(c);
  p.cursor = "0000beef.13.abc";
  p.has_more = true;
  p.acked_through = 4;
  const std::string text = EncodePullPage(p);
  const nlohmann::json parsed = nlohmann::json::parse(text);  // throws if not JSON
  EXPECT_EQ(parsed["changes"][0]["value"], awkward);
  auto back = DecodePullPage(text);
  ASSERT_TRUE(back.has_value()) << back.error().ToString() << "\n" << text;
  ASSERT_EQ(back->changes.size(), 2u);
  EXPECT_EQ(back->changes[0].value, awkward);
  EXPECT_EQ(back->changes[0].author, "李四");
  EXPECT_EQ(back->changes[0].hlc, Hlc::Pack(1'790'000'000'000, 2));
  EXPECT_EQ(back->changes[0].version, 12);
  EXPECT_FALSE(back->changes[1].value.has_value());
  EXPECT_EQ(back->changes[1].device_id, "dev-\"2");
  ASSERT_EQ(back->conflicts.size(), 1u);
  EXPECT_EQ(back->conflicts[0].candidates.at(0).value, awkward);
  EXPECT_EQ(back->cursor, p.cursor);
  EXPECT_TRUE(back->has_more);
  EXPECT_EQ(back->acked_through, 4);
  EXPECT_EQ(EncodePullPage(*back), text);
}

TEST(SyncCodecTest, BadPullPagesAreClearErrors) {
  auto err = [](const std::string& s) {
    auto r = DecodePullPage(s);
    return r ? std::string("accepted") : r.error().message();
  };
  const std::string change = R"({"record":"r1","field":"a","value":"x","version":3,"device":"d","author":"","hlc":"5"})";
  const std::string tail = R"(,"cursor":"c","has_more":false,"acked_through":0})";
  EXPECT_EQ(err(R"({"changes":[)" + change + R"(],"conflicts":[])" + tail), "accepted");
  EXPECT_NE(err(R"({"changes":[)" + change + R"(],"conflicts":{})" + tail).find("must be arrays"), std::string::npos);
  EXPECT_NE(err(R"({"changes":[[)" + change + R"(]],"conflicts":[])" + tail).find("a change must be an object"),
            std::string::npos);
  EXPECT_NE(err(R"({"changes":[],"conflicts":[1])" + tail).find("a conflict must be an object"), std::string::npos);
  std::string no_version = change;
  no_version.replace(no_version.find("3"), 1, "0");
  EXPECT_NE(err(R"({"changes":[)" + no_version + R"(],"conflicts":[])" + tail).find("'version' is out of range"),
            std::string::npos);
  EXPECT_NE(err(R"({"changes":[],"conflicts":[],"cursor":"c","has_more":1,"acked_through":0})").find("has_more"),
            std::string::npos);
  EXPECT_NE(err("[]").find("malformed_json"), std::string::npos);
  // A conflict, read off the same parse as the changes: its candidates
  // checked like the changes, its resolution kept as JSON text.
  const std::string candidate =
      R"({"value":"x","device":"d","author":"李四","hlc":"7","clock_ahead":false,"received_ms":1})";
  auto conflict = [&](const std::string& candidates, const std::string& more = "") {
    return R"({"changes":[],"conflicts":[{"id":"c1","record":"r1","field":"a","state":"resolved",)"
           R"("base_value":null,"version":4,"created_ms":2,"candidates":)" +
           candidates + more + "}]" + tail;
  };
  auto page = DecodePullPage(conflict("[" + candidate + "," + candidate + "]",
                                      R"(,"resolution":{"by":"zhao","value":"x"},"state":"open")"));
  ASSERT_TRUE(page) << page.error().ToString();
  ASSERT_EQ(page->conflicts.size(), 1u);
  EXPECT_EQ(page->conflicts[0].state, "open");  // the last of a repeated key
  EXPECT_FALSE(page->conflicts[0].base_value.has_value());
  ASSERT_EQ(page->conflicts[0].candidates.size(), 2u);
  EXPECT_EQ(page->conflicts[0].candidates[1].author, "李四");
  EXPECT_EQ(nlohmann::json::parse(page->conflicts[0].resolution_json),
            nlohmann::json::parse(R"({"by":"zhao","value":"x"})"));
  EXPECT_EQ(DecodePullPage(conflict("[]"))->conflicts[0].resolution_json, "{}");
  EXPECT_NE(err(conflict("{}")).find("'candidates' must be an array"), std::string::npos);
  EXPECT_NE(err(conflict("[1]")).find("candidate must be an object"), std::string::npos);
  std::string no_hlc = candidate;
  no_hlc.replace(no_hlc.find(R"("7")"), 3, "7");
  EXPECT_NE(err(conflict("[" + no_hlc + "]")).find("'hlc' must be a decimal string"), std::string::npos);
  EXPECT_NE(err(conflict("[]", R"(,"version":0)")).find("'version' is out of range"), std::string::npos);
}

// --------------------------------------------------------------- scenarios

// Every scenario runs against both of the server's stores.
class SyncTest : public ::testing::TestWithParam<testing::ServerStore> {};
INSTANTIATE_TEST_SUITE_P(Stores, SyncTest,
                         testing::BothServerStores(),
                         testing::ServerStoreName);

TEST_P(SyncTest, ARecordMadeOnOneDeviceReachesAnother) {
  SyncWorld w(2, {}, GetParam());
  std::string id = w.NewRecord(0, R"({"a": "平鲁红山荞麦", "r": [{"_id": "i1", "x": "1"}]})");
  ASSERT_TRUE(w.SyncAll().ok());
  EXPECT_EQ(w.device(0).replica->PendingOps().value(), 0);
  auto there = w.device(1).records->Get(id);
  ASSERT_TRUE(there.has_value());
  EXPECT_EQ(json::parse(there->values_json)["a"], "平鲁红山荞麦");
  EXPECT_EQ(there->status, RecordStatus::kSynced);
  EXPECT_EQ(w.device(0).records->Get(id)->status, RecordStatus::kSynced);
  EXPECT_EQ(w.DeviceFields(1, id), w.ServerFields(id));
}

// A pull does not overwrite what the inspector changed and has not pushed
// yet: the field keeps the local value (the merge decides once it is
// pushed), the record's other fields take the server's, and the record is
// not shown as synced while an edit of it waits.
TEST_P(SyncTest, AnEditNotYetPushedStaysOnTheDeviceThroughAPull) {
  SyncWorld w(2, {}, GetParam());
  std::string id = w.NewRecord(0, R"({"a": "base", "b": "base"})");
  ASSERT_TRUE(w.SyncAll().ok());
  w.Set(1, id, "a", "from B");
  w.Set(1, id, "b", "from B");
  ASSERT_TRUE(w.PushAll(1).ok());
  w.Set(0, id, "a", "mine");
  {
    auto mine = w.device(0).records->Get(id);  // finalized again, as the field UI does after an edit
    ASSERT_TRUE(mine.has_value());
    mine->status = RecordStatus::kFinalized;
    ASSERT_TRUE(w.device(0).records->Update(*mine).has_value());
  }
  ASSERT_TRUE(w.PullAll(0).ok());
  FieldMap here = w.DeviceFields(0, id);
  EXPECT_EQ(here.at("a"), "mine");
  EXPECT_EQ(here.at("b"), "from B");
  EXPECT_EQ(w.device(0).records->Get(id)->status, RecordStatus::kFinalized);
  // Pushed and pulled again, the edit meets B's in a conflict like any other.
  ASSERT_TRUE(w.SyncAll().ok());
  ASSERT_TRUE(w.PullAll(1).ok());
  EXPECT_EQ(w.DeviceFields(0, id), w.ServerFields(id));
  EXPECT_EQ(w.DeviceFields(1, id), w.ServerFields(id));
  EXPECT_EQ(w.device(0).records->Get(id)->status, RecordStatus::kSynced);
  auto conflicts = w.ledger().Conflicts(id);
  ASSERT_TRUE(conflicts.has_value());
  ASSERT_EQ(conflicts->size(), 1u);
  EXPECT_EQ((*conflicts)[0].field, "a");
}

TEST_P(SyncTest, DraftsStayOnTheDevice) {
  SyncWorld w(2, {}, GetParam());
  NewRecord nr;
  nr.form_id = "t";
  nr.form_version = "1";
  nr.values_json = R"({"a": "half done"})";
  auto draft = w.device(0).records->Create(nr);
  ASSERT_TRUE(draft.has_value());
  ASSERT_TRUE(w.SyncAll().ok());
  EXPECT_EQ(w.device(1).records->Get(draft->id).error().code(), StatusCode::kNotFound);
  EXPECT_GT(w.device(0).replica->PendingOps().value(), 0);  // waiting for finalize
}

// A draft saved between two finished records waits; the records on either
// side go (their ops numbered without the draft's between them), and the
// draft follows once it is finished.
TEST_P(SyncTest, ADraftBetweenFinishedRecordsWaitsAndFollowsWhenFinished) {
  SyncWorld w(2, {}, GetParam());
  const std::string before = w.NewRecord(0, R"({"a": "1", "b": "2"})");
  NewRecord nr;
  nr.form_id = "t";
  nr.form_version = "1";
  nr.author = w.device(0).who.username;
  nr.values_json = R"({"a": "half done"})";
  auto draft = w.device(0).records->Create(nr);
  ASSERT_TRUE(draft.has_value());
  const std::string after = w.NewRecord(0, R"({"a": "3", "b": "4"})");
  ASSERT_TRUE(w.SyncAll().ok());
  ASSERT_TRUE(w.PullAll(1).ok());
  EXPECT_EQ(w.DeviceFields(1, before), w.ServerFields(before));
  EXPECT_EQ(w.DeviceFields(1, after), w.ServerFields(after));
  EXPECT_EQ(w.device(1).records->Get(draft->id).error().code(), StatusCode::kNotFound);
  const int64_t acked = *w.ledger().AckedThrough(w.device(0).who.device_id);

  Record finished = *draft;
  finished.status = RecordStatus::kFinalized;
  finished.values_json = R"({"a": "done"})";
  ASSERT_TRUE(w.device(0).records->Update(finished).has_value());
  ASSERT_TRUE(w.SyncAll().ok());
  ASSERT_TRUE(w.PullAll(1).ok());
  EXPECT_EQ(w.device(0).replica->PendingOps().value(), 0);
  EXPECT_GT(*w.ledger().AckedThrough(w.device(0).who.device_id), acked);
  EXPECT_EQ(w.DeviceFields(1, draft->id), w.ServerFields(draft->id));
  EXPECT_EQ(w.ServerFields(draft->id).at("a"), "done");
  EXPECT_EQ(w.DeviceFields(0, before), w.ServerFields(before));
  EXPECT_EQ(w.DeviceFields(0, after), w.ServerFields(after));
}

// Two inspectors edit the same record offline; the result must not depend on
// who syncs first, and the losing value must stay visible.
void ConcurrentEdits(testing::ServerStore where, bool a_first, bool same_field, FieldMap* result,
                     std::vector<Conflict>* conflicts) {
  SyncWorld w(2, {}, where);
  std::string id = w.NewRecord(0, R"({"a": "base", "b": "base"})");
  ASSERT_TRUE(w.SyncAll().ok());
  w.clock().Advance(1000);
  w.Set(0, id, "a", "from A");
  w.clock().Advance(1000);
  w.Set(1, id, same_field ? "a" : "b", "from B");
  ASSERT_TRUE(w.PushAll(a_first ? 0 : 1).ok());
  ASSERT_TRUE(w.PushAll(a_first ? 1 : 0).ok());
  ASSERT_TRUE(w.SyncAll().ok());
  *result = w.ServerFields(id);
  EXPECT_EQ(w.DeviceFields(0, id), *result);
  EXPECT_EQ(w.DeviceFields(1, id), *result);
  *conflicts = *w.ledger().Conflicts(id);
  // Devices hold the same conflicts.
  for (int i = 0; i < 2; ++i) {
    auto n = internal::StoreAccess::Conn(*w.device(i).store).QueryInt("SELECT count(*) FROM conflicts");
    EXPECT_EQ(*n, static_cast<int64_t>(conflicts->size()));
  }
}

TEST_P(SyncTest, SameFieldConcurrentEditsConflictTheSameWayInEitherOrder) {
  FieldMap ab, ba;
  std::vector<Conflict> cab, cba;
  ConcurrentEdits(GetParam(), true, true, &ab, &cab);
  ConcurrentEdits(GetParam(), false, true, &ba, &cba);
  EXPECT_EQ(ab, ba);
  EXPECT_EQ(ab.at("a"), "from B");  // later HLC wins provisionally
  ASSERT_EQ(cab.size(), 1u);
  ASSERT_EQ(cba.size(), 1u);
  for (const auto* c : {&cab[0], &cba[0]}) {
    EXPECT_EQ(c->field, "a");
    EXPECT_EQ(c->state, "open");
    EXPECT_EQ(c->base_value, "base");
    ASSERT_EQ(c->candidates.size(), 2u);
    std::set<std::string> values;
    for (const Candidate& k : c->candidates) values.insert(*k.value);
    EXPECT_EQ(values, (std::set<std::string>{"from A", "from B"}));  // nothing lost
  }
}

TEST_P(SyncTest, DifferentFieldsMergeWithoutConflict) {
  FieldMap ab, ba;
  std::vector<Conflict> cab, cba;
  ConcurrentEdits(GetParam(), true, false, &ab, &cab);
  ConcurrentEdits(GetParam(), false, false, &ba, &cba);
  EXPECT_EQ(ab, ba);
  EXPECT_EQ(ab.at("a"), "from A");
  EXPECT_EQ(ab.at("b"), "from B");
  EXPECT_TRUE(cab.empty());
  EXPECT_TRUE(cba.empty());
}

TEST_P(SyncTest, RepeatInstancesAddedOnTwoDevicesBothSurvive) {
  SyncWorld w(2, {}, GetParam());
  std::string id = w.NewRecord(0, R"({"a": "x"})");
  ASSERT_TRUE(w.SyncAll().ok());
  w.Change(0, id, [](json& v) { v["r"] = json::array({{{"_id", "from-a"}, {"x", "A"}}}); });
  w.Change(1, id, [](json& v) { v["r"] = json::array({{{"_id", "from-b"}, {"x", "B"}}}); });
  ASSERT_TRUE(w.SyncAll().ok());
  ASSERT_TRUE(w.SyncAll().ok());
  for (int i = 0; i < 2; ++i) {
    json v = json::parse(w.device(i).records->Get(id)->values_json);
    ASSERT_EQ(v["r"].size(), 2u) << v.dump();
  }
  EXPECT_TRUE(w.ledger().Conflicts(id)->empty());
}

// An inspector moves a repeat row in the form while a colleague adds one:
// both devices end with the moved row first and the added one last, and the
// move was one op.
TEST_P(SyncTest, AMovedRepeatInstanceKeepsItsPlaceOnEveryDevice) {
  SyncWorld w(2, {}, GetParam());
  std::string id = w.NewRecord(0, R"({"a": "x", "r": [{"_id": "0001", "x": "A"}, {"_id": "0002", "x": "B"},
                                                       {"_id": "0003", "x": "C"}]})");
  ASSERT_TRUE(w.SyncAll().ok());
  FormLoadResult form = FormDef::Parse(testing::kTestForm, {});
  ASSERT_NE(form.form, nullptr);
  w.Change(0, id, [&](json& v) {
    auto session = FormSession::Open(form.form, v.dump(), {});
    ASSERT_TRUE(session.has_value()) << session.error().ToString();
    ASSERT_TRUE((*session)->MoveRepeat("r[3]", 1).has_value());
    v = json::parse((*session)->ValuesJson(false));
  });
  EXPECT_EQ(w.device(0).replica->PendingOps().value(), 1);
  w.Change(1, id, [](json& v) { v["r"].push_back({{"_id", "0004"}, {"x", "D"}}); });
  ASSERT_TRUE(w.SyncAll().ok());
  ASSERT_TRUE(w.SyncAll().ok());
  for (int i = 0; i < 2; ++i) {
    json v = json::parse(w.device(i).records->Get(id)->values_json);
    std::string order;
    for (const json& item : v["r"]) order += item["x"].get<std::string>();
    EXPECT_EQ(order, "CABD") << "device " << i;
    EXPECT_EQ(w.DeviceFields(i, id), w.ServerFields(id));
  }
  EXPECT_TRUE(w.ledger().Conflicts(id)->empty());

  // Moved back where it was: listed by its id again.
  w.Change(1, id, [&](json& v) {
    auto session = FormSession::Open(form.form, v.dump(), {});
    ASSERT_TRUE(session.has_value());
    ASSERT_TRUE((*session)->MoveRepeat("r[1]", 3).has_value());
    v = json::parse((*session)->ValuesJson(false));
  });
  ASSERT_TRUE(w.SyncAll().ok());
  ASSERT_TRUE(w.SyncAll().ok());
  EXPECT_EQ(w.ServerFields(id).at("r[0003]"), "1");
  json v = json::parse(w.device(0).records->Get(id)->values_json);
  ASSERT_EQ(v["r"].size(), 4u);
  EXPECT_EQ(v["r"][2]["x"], "C");
}

TEST_P(SyncTest, DeleteAgainstEditKeepsTheRecordAndAsksForReview) {
  for (bool delete_first : {true, false}) {
    SCOPED_TRACE(delete_first ? "delete pushed first" : "edit pushed first");
    SyncWorld w(2, {}, GetParam());
    std::string id = w.NewRecord(0, R"({"a": "x"})");
    ASSERT_TRUE(w.SyncAll().ok());
    ASSERT_TRUE(w.device(0).records->Delete(id).ok());
    w.Set(1, id, "a", "fixed");
    ASSERT_TRUE(w.PushAll(delete_first ? 0 : 1).ok());
    ASSERT_TRUE(w.PushAll(delete_first ? 1 : 0).ok());
    ASSERT_TRUE(w.SyncAll().ok());
    FieldMap f = w.ServerFields(id);
    EXPECT_EQ(f.count("@deleted"), 0u);  // never "delete wins"
    EXPECT_EQ(f.at("a"), "fixed");
    EXPECT_EQ(w.DeviceFields(0, id), f);
    EXPECT_EQ(w.DeviceFields(1, id), f);
    auto conflicts = *w.ledger().Conflicts(id);
    ASSERT_EQ(conflicts.size(), 1u);
    EXPECT_EQ(conflicts[0].field, "@deleted");
    ASSERT_EQ(conflicts[0].candidates.size(), 2u);
  }
}

TEST_P(SyncTest, AClockAWeekAheadDoesNotWinByBeingInTheFuture) {
  constexpr int64_t kWeek = 7LL * 24 * 3600 * 1000;
  SyncWorld w(2, {kWeek, 0}, GetParam());
  std::string id = w.NewRecord(1, R"({"a": "base"})");
  ASSERT_TRUE(w.SyncAll().ok());
  w.Set(0, id, "a", "from the future");  // HLC a week ahead
  w.clock().Advance(60'000);
  w.Set(1, id, "a", "honest and later");
  ASSERT_TRUE(w.SyncAll().ok());
  ASSERT_TRUE(w.SyncAll().ok());
  EXPECT_EQ(w.ServerFields(id).at("a"), "honest and later");
  auto conflicts = *w.ledger().Conflicts(id);
  ASSERT_EQ(conflicts.size(), 1u);
  bool flagged = false;
  for (const Candidate& c : conflicts[0].candidates) {
    if (c.value == std::optional<std::string>("from the future")) flagged = c.clock_ahead;
  }
  EXPECT_TRUE(flagged);
}

TEST_P(SyncTest, AClockAWeekBehindStillMergesByVersion) {
  constexpr int64_t kWeek = 7LL * 24 * 3600 * 1000;
  SyncWorld w(2, {-kWeek, 0}, GetParam());
  std::string id = w.NewRecord(1, R"({"a": "base"})");
  ASSERT_TRUE(w.SyncAll().ok());
  // Device 0 (a week behind) edits after seeing device 1's value: no conflict.
  w.Set(0, id, "a", "seen and changed");
  ASSERT_TRUE(w.SyncAll().ok());
  ASSERT_TRUE(w.SyncAll().ok());
  EXPECT_EQ(w.ServerFields(id).at("a"), "seen and changed");
  EXPECT_TRUE(w.ledger().Conflicts(id)->empty());
}

TEST_P(SyncTest, PushingTheSameBatchAgainChangesNothing) {
  SyncWorld w(1, {}, GetParam());
  std::string id = w.NewRecord(0, R"({"a": "x"})");
  ASSERT_TRUE(w.PushOnce(0, 500, /*lose_answer=*/true).ok());  // the answer got lost
  auto seq = internal::StoreAccess::Conn(w.server()).QueryInt("SELECT count(*) FROM server_history");
  auto batch = w.device(0).replica->NextBatch();
  ASSERT_TRUE(batch.has_value() && batch->has_value());
  EXPECT_EQ((*batch)->ops.front().push_seq, 1);  // the same ops, the same numbers
  auto first = w.ledger().Push(w.device(0).who, **batch);
  auto again = w.ledger().Push(w.device(0).who, **batch);
  ASSERT_TRUE(first.has_value() && again.has_value());
  EXPECT_EQ(EncodePushResult(*first), EncodePushResult(*again));
  EXPECT_EQ(internal::StoreAccess::Conn(w.server()).QueryInt("SELECT count(*) FROM server_history").value(), *seq);
  ASSERT_TRUE(w.device(0).replica->ApplyPushResult(**batch, *again).ok());
  EXPECT_EQ(w.device(0).replica->PendingOps().value(), 0);
  EXPECT_EQ(w.ServerFields(id).at("a"), "x");
}

TEST_P(SyncTest, ASyncCutWithTwoBatchesNumberedSendsThemAgainInOrderABatchAtATime) {
  SyncWorld w(2, {}, GetParam());
  // Three saves, a record each.
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(w.NewRecord(0, R"({"a": "x", "b": "y"})"));
  SyncReplica& replica = *w.device(0).replica;
  auto first = replica.NextBatch(1);  // one save
  ASSERT_TRUE(first.has_value() && first->has_value());
  auto second = replica.NextBatchAfter(**first, 1);  // numbered while the first is in flight
  ASSERT_TRUE(second.has_value() && second->has_value());
  EXPECT_EQ((*second)->ops.front().push_seq, (*first)->ops.back().push_seq + 1);
  EXPECT_NE((*second)->ops.front().record_id, (*first)->ops.front().record_id);
  // The first reached the server, its answer was lost; the second was never sent.
  ASSERT_TRUE(w.ledger().Push(w.device(0).who, **first).has_value());

  // The next sync: the first again (answered from what the server stored),
  // then the second, each alone, though both were numbered.
  auto again = replica.NextBatch(1);
  ASSERT_TRUE(again.has_value() && again->has_value());
  EXPECT_EQ(EncodePushBatch(**again), EncodePushBatch(**first));
  auto answer = w.ledger().Push(w.device(0).who, **again);
  ASSERT_TRUE(answer.has_value());
  ASSERT_TRUE(replica.ApplyPushResult(**again, *answer).ok());
  auto then = replica.NextBatch(1);
  ASSERT_TRUE(then.has_value() && then->has_value());
  EXPECT_EQ((*then)->answers_stored_through, (*second)->ops.front().push_seq - 1);  // the first's answer came
  (*then)->answers_stored_through = (*second)->answers_stored_through;
  EXPECT_EQ(EncodePushBatch(**then), EncodePushBatch(**second));
  ASSERT_TRUE(w.SyncAll().ok());
  EXPECT_EQ(replica.PendingOps().value(), 0);
  for (const std::string& id : ids) EXPECT_EQ(w.DeviceFields(1, id), w.ServerFields(id));
}

TEST_P(SyncTest, TheServerKeepsAnOpsAnswerOnlyUntilTheDeviceSaysItHasIt) {
  SyncWorld w(1, {}, GetParam());
  for (int i = 0; i < 4; ++i) w.NewRecord(0, R"({"a": "x"})");
  SyncReplica& replica = *w.device(0).replica;
  const Principal& who = w.device(0).who;
  auto kept = [&] {
    std::vector<int64_t> seqs;
    auto s = internal::StoreAccess::Conn(w.server()).Prepare("SELECT push_seq FROM server_op_results ORDER BY push_seq");
    while (s->Step().value()) seqs.push_back(s->Int(0));
    return seqs;
  };
  auto seqs_of = [](const PushBatch& b) {
    std::vector<int64_t> seqs;
    for (const FieldOp& op : b.ops) seqs.push_back(op.push_seq);
    return seqs;
  };
  auto first = replica.NextBatch(1);
  ASSERT_TRUE(first.has_value() && first->has_value());
  EXPECT_EQ((*first)->answers_stored_through, 0);
  auto answer = w.ledger().Push(who, **first);
  ASSERT_TRUE(answer.has_value());
  ASSERT_TRUE(replica.ApplyPushResult(**first, *answer).ok());
  EXPECT_EQ(kept(), seqs_of(**first));  // the device has not said it holds them

  // The next batch says so: the first's answers go.
  auto second = replica.NextBatch(1);
  ASSERT_TRUE(second.has_value() && second->has_value());
  EXPECT_EQ((*second)->answers_stored_through, (*first)->ops.back().push_seq);
  answer = w.ledger().Push(who, **second);
  ASSERT_TRUE(answer.has_value());
  ASSERT_TRUE(replica.ApplyPushResult(**second, *answer).ok());
  EXPECT_EQ(kept(), seqs_of(**second));

  // A batch numbered while another is in flight, which reaches the server
  // though the one before's answer was lost, keeps that one's answers: the
  // device may send it again, and gets the same answers.
  auto third = replica.NextBatch(1);
  ASSERT_TRUE(third.has_value() && third->has_value());
  auto fourth = replica.NextBatchAfter(**third, 1);
  ASSERT_TRUE(fourth.has_value() && fourth->has_value());
  auto lost = w.ledger().Push(who, **third);
  ASSERT_TRUE(lost.has_value());
  ASSERT_TRUE(w.ledger().Push(who, **fourth).has_value());
  std::vector<int64_t> both = seqs_of(**third);
  for (int64_t seq : seqs_of(**fourth)) both.push_back(seq);
  EXPECT_EQ(kept(), both);
  auto again = replica.NextBatch(1);
  ASSERT_TRUE(again.has_value() && again->has_value());
  EXPECT_EQ(seqs_of(**again), seqs_of(**third));
  auto same = w.ledger().Push(who, **again);
  ASSERT_TRUE(same.has_value());
  EXPECT_EQ(same->outcomes.size(), lost->outcomes.size());
  for (size_t i = 0; i < same->outcomes.size() && i < lost->outcomes.size(); ++i) {
    EXPECT_EQ(same->outcomes[i].version, lost->outcomes[i].version);
    EXPECT_EQ(same->outcomes[i].outcome, lost->outcomes[i].outcome);
  }
  ASSERT_TRUE(replica.ApplyPushResult(**again, *same).ok());
  auto rest = replica.NextBatch(1);  // the fourth again, saying the third's answers came
  ASSERT_TRUE(rest.has_value() && rest->has_value());
  EXPECT_EQ(seqs_of(**rest), seqs_of(**fourth));
  answer = w.ledger().Push(who, **rest);
  ASSERT_TRUE(answer.has_value());
  ASSERT_TRUE(replica.ApplyPushResult(**rest, *answer).ok());
  EXPECT_EQ(kept(), seqs_of(**fourth));

  // A device that does not say (one from before this) keeps them all.
  w.NewRecord(0, R"({"a": "y"})");
  auto older = replica.NextBatch(5000);
  ASSERT_TRUE(older.has_value() && older->has_value());
  (*older)->answers_stored_through = 0;
  ASSERT_TRUE(w.ledger().Push(who, **older).has_value());
  EXPECT_EQ(kept().size(), (*fourth)->ops.size() + (*older)->ops.size());
}

TEST_P(SyncTest, AnAnswerStoredForALaterBatchLeavesTheEarlierOnesOpsToBeSentAgain) {
  // A later batch's answer stored while an earlier one's was lost (the
  // client never does this, but a device must not lose ops if it did):
  // the earlier batch goes again alone, not joined across the gap.
  SyncWorld w(1, {}, GetParam());
  for (int i = 0; i < 3; ++i) w.NewRecord(0, R"({"a": "x"})");
  SyncReplica& replica = *w.device(0).replica;
  auto first = replica.NextBatch(1);
  ASSERT_TRUE(first.has_value() && first->has_value());
  auto second = replica.NextBatchAfter(**first, 1);
  ASSERT_TRUE(second.has_value() && second->has_value());
  ASSERT_TRUE(w.ledger().Push(w.device(0).who, **first).has_value());  // its answer lost
  auto answer = w.ledger().Push(w.device(0).who, **second);
  ASSERT_TRUE(answer.has_value());
  ASSERT_TRUE(replica.ApplyPushResult(**second, *answer).ok());
  auto third = replica.NextBatchAfter(**second, 1);  // numbered after the second
  ASSERT_TRUE(third.has_value() && third->has_value());
  auto again = replica.NextBatch(5000);
  ASSERT_TRUE(again.has_value() && again->has_value());
  EXPECT_EQ(EncodePushBatch(**again), EncodePushBatch(**first));  // stops at the gap
  ASSERT_TRUE(w.SyncAll().ok());
  EXPECT_EQ(replica.PendingOps().value(), 0);
}

TEST_P(SyncTest, BadPushesAreRefusedAndStoreNothing) {
  SyncWorld w(2, {}, GetParam());
  w.NewRecord(0, R"({"a": "x"})", {"140623000000", "", ""});
  auto batch = w.device(0).replica->NextBatch();
  ASSERT_TRUE(batch.has_value() && batch->has_value());
  PushBatch b = **batch;
  auto count = [&] {
    return internal::StoreAccess::Conn(w.server()).QueryInt("SELECT count(*) FROM server_history").value();
  };
  auto code_of = [&](const Principal& who, const PushBatch& pb) {
    auto r = w.ledger().Push(who, pb);
    return r ? std::string("ok") : r.error().message().substr(0, r.error().message().find(':'));
  };

  PushBatch gap = b;
  for (FieldOp& op : gap.ops) op.push_seq += 5;
  EXPECT_EQ(code_of(w.device(0).who, gap), "push_seq_gap");

  PushBatch unknown_form = b;
  for (FieldOp& op : unknown_form.ops) op.form_version = "9";
  EXPECT_EQ(code_of(w.device(0).who, unknown_form), "unknown_form_version");

  PushBatch approve = b;
  for (FieldOp& op : approve.ops) {
    if (op.field == "@status") op.value = "approved";
  }
  EXPECT_EQ(code_of(w.device(0).who, approve), "review_forbidden");

  EXPECT_EQ(code_of(w.device(1).who, b), "device_mismatch");
  Principal supervisor = w.device(0).who;
  supervisor.role = "supervisor";
  EXPECT_EQ(code_of(supervisor, b), "push_forbidden");

  EXPECT_EQ(count(), 0);
  EXPECT_EQ(code_of(w.device(0).who, b), "ok");
  EXPECT_GT(count(), 0);
}

// A record outside the user's areas, or one the device moves out of them,
// is refused op by op ("refused", out_of_scope) and nothing of it is stored;
// the rest of the batch goes on. The device keeps the refused ops and sends
// them again, so once the user's areas take the record in, it arrives whole.
TEST_P(SyncTest, ARecordOutsideTheAreasIsRefusedAndTheRestOfTheBatchGoesOn) {
  SyncWorld w(1, {}, GetParam());
  w.device(0).who.scope = {"140622000000"};
  const std::string inside = w.NewRecord(0, R"({"a": "应县"})", {"140622000000", "140622100000", ""});
  const std::string outside = w.NewRecord(0, R"({"a": "右玉"})", {"140623000000", "", ""});
  const std::string later = w.NewRecord(0, R"({"a": "应县 2"})", {"140622000000", "", ""});
  auto batch = w.device(0).replica->NextBatch();
  ASSERT_TRUE(batch.has_value() && batch->has_value());
  auto result = w.ledger().Push(w.device(0).who, **batch);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->acked_through, (*batch)->ops.back().push_seq);
  int refused = 0;
  for (size_t i = 0; i < result->outcomes.size(); ++i) {
    const bool theirs = (*batch)->ops[i].record_id == outside;
    EXPECT_EQ(result->outcomes[i].outcome == "refused", theirs) << (*batch)->ops[i].field;
    if (!theirs) continue;
    ++refused;
    EXPECT_EQ(result->outcomes[i].error.rfind("out_of_scope: record " + outside, 0), 0u) << result->outcomes[i].error;
  }
  EXPECT_GT(refused, 0);
  // The same batch again gets the same answers, through the wire format too.
  auto again = w.ledger().Push(w.device(0).who, **batch);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(EncodePushResult(*again), EncodePushResult(*result));
  auto decoded = DecodePushResult(EncodePushResult(*result));
  ASSERT_TRUE(decoded.has_value());
  ASSERT_TRUE(w.device(0).replica->ApplyPushResult(**batch, *decoded).ok());
  EXPECT_EQ(w.ServerFields(inside).at("a"), "应县");
  EXPECT_EQ(w.ServerFields(later).at("a"), "应县 2");
  EXPECT_TRUE(w.ServerFields(outside).empty());
  EXPECT_EQ(w.device(0).replica->PendingOps().value(), refused) << "the device keeps what was refused";
  EXPECT_EQ(w.device(0).records->Get(outside)->status, RecordStatus::kFinalized);
  EXPECT_EQ(w.device(0).records->Get(inside)->status, RecordStatus::kSynced);

  // Moving a record out of the areas is refused too; the server keeps it where it was.
  auto moved = w.device(0).records->Get(later);
  ASSERT_TRUE(moved.has_value());
  moved->area = {"140623000000", "", ""};
  moved->values_json = R"({"a": "搬到右玉"})";
  ASSERT_TRUE(w.device(0).records->Update(*moved).has_value());
  ASSERT_TRUE(w.PushAll(0).ok());
  EXPECT_EQ(w.ServerFields(later).at("a"), "应县 2");
  EXPECT_EQ(w.ServerFields(later).at("@county"), "140622000000");

  // The inspector is given 右玉 as well: the next push takes both, whole.
  w.device(0).who.scope = {"140622000000", "140623000000"};
  ASSERT_TRUE(w.PushAll(0).ok());
  EXPECT_EQ(w.device(0).replica->PendingOps().value(), 0);
  EXPECT_EQ(w.ServerFields(outside).at("a"), "右玉");
  EXPECT_EQ(w.ServerFields(later).at("a"), "搬到右玉");
  EXPECT_EQ(w.DeviceFields(0, outside), w.ServerFields(outside));
  EXPECT_EQ(w.DeviceFields(0, later), w.ServerFields(later));
}

TEST_P(SyncTest, PullOnlyHandsOutRecordsInScope) {
  SyncWorld w(3, {}, GetParam());
  w.device(0).who.scope = {"140623000000"};
  w.device(1).who.scope = {"140602000000"};
  std::string ours = w.NewRecord(0, R"({"a": "应县"})", {"140623000000", "140623100000", ""});
  ASSERT_TRUE(w.PushAll(0).ok());
  std::string theirs = w.NewRecord(1, R"({"a": "朔城"})", {"140602000000", "", ""});
  ASSERT_TRUE(w.PushAll(1).ok());
  ASSERT_TRUE(w.PullAll(0, 3).ok());
  ASSERT_TRUE(w.PullAll(1).ok());
  ASSERT_TRUE(w.PullAll(2).ok());
  EXPECT_TRUE(w.device(0).records->Get(ours).has_value());
  EXPECT_EQ(w.device(0).records->Get(theirs).error().code(), StatusCode::kNotFound);
  EXPECT_EQ(w.device(1).records->Get(ours).error().code(), StatusCode::kNotFound);
  EXPECT_TRUE(w.device(2).records->Get(ours).has_value());  // scope "*"
  EXPECT_TRUE(w.device(2).records->Get(theirs).has_value());
}

// A pull in pages of a record or so: records that change between the
// pages, before or after the page that sent them, still arrive whole, and
// other areas' records are not read into the pages.
TEST_P(SyncTest, APullInPagesMissesNothingThatChangesBetweenPages) {
  SyncWorld w(3, {}, GetParam());
  w.device(1).who.scope = {"140623000000"};
  const AreaCodes here{"140623000000", "140623100000", ""}, elsewhere{"140602000000", "", ""};
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(w.NewRecord(0, R"({"a": ")" + std::to_string(i) + R"(", "b": "x"})", i % 2 ? elsewhere : here));
  }
  ASSERT_TRUE(w.PushAll(0).ok());
  // Device 1 has seen nothing; it pulls one small page...
  auto first = w.PullOnce(1, 2);
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  ASSERT_TRUE(*first) << "more pages to come";
  // ...then device 2 edits every record, the oldest (already sent) and the
  // newest (not yet) among them, and device 0 adds one more.
  ASSERT_TRUE(w.PullAll(2).ok());
  for (const std::string& id : ids) w.Set(2, id, "b", "edited");
  ASSERT_TRUE(w.PushAll(2).ok());
  ids.push_back(w.NewRecord(0, R"({"a": "late"})", here));
  ASSERT_TRUE(w.PushAll(0).ok());
  ASSERT_TRUE(w.PullAll(1, 2).ok());
  for (size_t i = 0; i < ids.size(); ++i) {
    auto r = w.device(1).records->Get(ids[i]);
    if (i % 2 == 1 && i < 6) {
      EXPECT_EQ(r.error().code(), StatusCode::kNotFound) << "another county's record " << i;
      continue;
    }
    ASSERT_TRUE(r.has_value()) << "record " << i << ": " << r.error().ToString();
    EXPECT_EQ(w.DeviceFields(1, ids[i]), w.ServerFields(ids[i])) << "record " << i;
    if (i < 6) {
      EXPECT_EQ(w.DeviceFields(1, ids[i]).at("b"), "edited") << "record " << i;
    }
  }
}

// A record moved into a device's areas after the device last pulled comes
// whole, answers from before the move included.
TEST_P(SyncTest, ARecordMovedIntoTheAreasArrivesWhole) {
  SyncWorld w(2, {}, GetParam());
  w.device(1).who.scope = {"140623000000"};
  const std::string id = w.NewRecord(0, R"({"a": "老答案", "b": "x"})", {"140602000000", "", ""});
  ASSERT_TRUE(w.PushAll(0).ok());
  ASSERT_TRUE(w.PullAll(1).ok());
  EXPECT_EQ(w.device(1).records->Get(id).error().code(), StatusCode::kNotFound);
  Record moved = *w.device(0).records->Get(id);
  moved.area = {"140623000000", "140623100000", ""};
  ASSERT_TRUE(w.device(0).records->Update(moved).ok());
  ASSERT_TRUE(w.PushAll(0).ok());
  ASSERT_TRUE(w.PullAll(1, 3).ok());
  auto arrived = w.device(1).records->Get(id);
  ASSERT_TRUE(arrived.has_value()) << arrived.error().ToString();
  EXPECT_EQ(w.DeviceFields(1, id), w.ServerFields(id));
  EXPECT_EQ(w.DeviceFields(1, id).at("a"), "老答案");
}

TEST_P(SyncTest, ReviewersResolveOnceAndTheDecisionSyncsBack) {
  SyncWorld w(2, {}, GetParam());
  std::string id = w.NewRecord(0, R"({"a": "base"})");
  ASSERT_TRUE(w.SyncAll().ok());
  w.Set(0, id, "a", "A");
  w.Set(1, id, "a", "B");
  ASSERT_TRUE(w.SyncAll().ok());
  auto conflicts = *w.ledger().Conflicts(id);
  ASSERT_EQ(conflicts.size(), 1u);
  Principal sup{"zhao", "supervisor", "web", {"*"}};
  EXPECT_EQ(w.ledger().Resolve(w.device(0).who, conflicts[0].id, "A", conflicts[0].version, "").error().code(),
            StatusCode::kPermissionDenied);
  auto done = w.ledger().Resolve(sup, conflicts[0].id, "A", conflicts[0].version, "A matches the photo");
  ASSERT_TRUE(done.has_value()) << done.error().ToString();
  auto decision = nlohmann::json::parse(done->resolution_json);
  EXPECT_EQ(decision["how"], "take");  // "A" is a candidate's value
  EXPECT_EQ(decision["by"], "zhao");
  EXPECT_EQ(decision["note"], "A matches the photo");
  auto second = w.ledger().Resolve(sup, conflicts[0].id, "B", conflicts[0].version, "");
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), StatusCode::kConflict);
  EXPECT_NE(second.error().message().find("already_resolved"), std::string::npos);
  ASSERT_TRUE(w.SyncAll().ok());
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(w.DeviceFields(i, id).at("a"), "A");
    auto state = internal::StoreAccess::Conn(*w.device(i).store).QueryText("SELECT state FROM conflicts");
    EXPECT_EQ(*state, "resolved");
  }
}

// The review list's flag: how many of a record's conflicts are open, after
// a push that contests two of its fields at once and after each decision.
TEST_P(SyncTest, TheReviewListCountsARecordsOpenConflicts) {
  SyncWorld w(2, {}, GetParam());
  std::string id = w.NewRecord(0, R"({"a": "base", "b": "base"})");
  ASSERT_TRUE(w.SyncAll().ok());
  w.Set(0, id, "a", "A");
  w.Set(0, id, "b", "A");
  w.Set(1, id, "a", "B");
  w.Set(1, id, "b", "B");
  ASSERT_TRUE(w.PushAll(0).ok());
  ASSERT_TRUE(w.PushAll(1).ok());  // one batch contests both fields
  Principal sup{"zhao", "supervisor", "web", {"*"}};
  ReviewQueries review(&w.server());
  RecordQuery with_conflicts;
  with_conflicts.conflicts_only = true;
  auto open_count = [&]() -> int64_t {
    auto list = review.List(sup, with_conflicts);
    EXPECT_TRUE(list.has_value()) << list.error().ToString();
    if (!list || list->rows.empty()) return 0;
    EXPECT_EQ(list->rows.size(), 1u);
    EXPECT_EQ(list->rows[0].record_id, id);
    return list->rows[0].open_conflicts;
  };
  EXPECT_EQ(open_count(), 2);
  auto conflicts = *w.ledger().Conflicts(id);
  ASSERT_EQ(conflicts.size(), 2u);
  ASSERT_TRUE(w.ledger().Resolve(sup, conflicts[0].id, "A", conflicts[0].version, "").has_value());
  EXPECT_EQ(open_count(), 1);
  ASSERT_TRUE(w.ledger().Resolve(sup, conflicts[1].id, "B", conflicts[1].version, "").has_value());
  EXPECT_EQ(open_count(), 0);
  EXPECT_EQ(review.List(sup, with_conflicts)->total, 0);
}

TEST_P(SyncTest, ARecordReturnedWithACommentComesBackEditableAndIsResubmitted) {
  SyncWorld w(1, {}, GetParam());
  std::string id = w.NewRecord(0, R"({"a": "blurry"})");
  ASSERT_TRUE(w.SyncAll().ok());
  Principal sup{"zhao", "supervisor", "web", {"*"}};
  ASSERT_TRUE(w.ledger().SetRecordField(sup, id, "@comment", "请重拍照片", 0).ok());
  ASSERT_TRUE(w.ledger().SetRecordField(sup, id, "@status", "returned", 0).ok());
  ASSERT_TRUE(w.SyncAll().ok());
  auto r = w.device(0).records->Get(id);
  EXPECT_EQ(r->status, RecordStatus::kReturned);
  EXPECT_EQ(r->review_comment, "请重拍照片");
  w.Set(0, id, "a", "sharp");
  r = w.device(0).records->Get(id);
  r->status = RecordStatus::kFinalized;
  ASSERT_TRUE(w.device(0).records->Update(*r).has_value());
  ASSERT_TRUE(w.SyncAll().ok());
  EXPECT_EQ(w.ServerFields(id).at("@status"), "finalized");
  EXPECT_EQ(w.ServerFields(id).at("a"), "sharp");
  EXPECT_TRUE(w.ledger().Conflicts(id)->empty());
  EXPECT_EQ(w.device(0).records->Get(id)->status, RecordStatus::kSynced);
}

// Servers before cursor tags handed out EPOCH.VERSION cursors; a device that
// last synced with one keeps pulling after the upgrade, and a cursor of
// another server sends it to pull from the start (never a dead end).
TEST_P(SyncTest, CursorsWithoutATagFromAnOlderServerStillWork) {
  SyncWorld w(1, {}, GetParam());
  w.NewRecord(0, R"({"a": "1"})");
  ASSERT_TRUE(w.SyncAll().ok());
  auto cursor = w.device(0).replica->PullCursor();
  ASSERT_TRUE(cursor.has_value());
  const std::string legacy = cursor->substr(0, cursor->rfind('.'));
  ASSERT_EQ(std::count(legacy.begin(), legacy.end(), '.'), 1) << legacy;
  auto same = w.ledger().Pull(w.device(0).who, legacy, 100);
  ASSERT_TRUE(same.has_value()) << same.error().ToString();
  EXPECT_TRUE(same->changes.empty()) << "nothing new since that cursor";
  auto other = w.ledger().Pull(w.device(0).who, "0000beef.3", 100);
  ASSERT_FALSE(other.has_value());
  EXPECT_NE(other.error().message().find("must_refetch"), std::string::npos) << other.error().ToString();
  for (const char* bad : {"nonsense", ".5", "0000beef.", "0000beef.x", "0000beef.5."}) {
    auto r = w.ledger().Pull(w.device(0).who, bad, 100);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_NE(r.error().message().find("bad_cursor"), std::string::npos) << bad << ": " << r.error().ToString();
  }
}

// Several server processes on one PostgreSQL: four devices sync at the same
// time, each through a connection of its own, editing the same records
// (same and different fields) and adding repeat rows. Every op is applied
// once, the server's versions are handed out once each with no gap, and
// after a last sync every device holds the server's fields and conflicts.
TEST(SyncPostgresTest, DevicesSyncingAtOnceThroughSeveralServersConverge) {
  SyncWorld w(4, {}, testing::ServerStore::kPostgres);
  std::vector<std::string> ids;
  for (int r = 0; r < 3; ++r) ids.push_back(w.NewRecord(0, R"({"a": "base", "b": "base"})"));
  ASSERT_TRUE(w.SyncAll().ok());
  for (int i = 0; i < w.size(); ++i) ASSERT_TRUE(w.ConnectOnItsOwn(i).ok());
  std::vector<std::thread> threads;
  for (int i = 0; i < w.size(); ++i) {
    threads.emplace_back([&w, &ids, i] {
      std::mt19937 rng(static_cast<unsigned>(100 + i));
      for (int round = 0; round < 12; ++round) {
        const std::string& id = ids[rng() % ids.size()];
        const std::string mark = "d" + std::to_string(i) + "r" + std::to_string(round);
        const bool row = rng() % 3 == 0;
        const char* field = rng() % 2 ? "a" : "b";
        w.Change(i, id, [&](json& v) {
          v[field] = mark;
          if (row) v["r"].push_back({{"_id", mark}, {"x", mark}});
        });
        Status s = w.PushAll(i);
        if (s.ok()) s = w.PullAll(i);
        if (!s.ok()) {
          ADD_FAILURE() << "device " << i << " round " << round << ": " << s.ToString();
          return;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_FALSE(::testing::Test::HasFailure());
  ASSERT_TRUE(w.SyncAll().ok());
  ASSERT_TRUE(w.SyncAll().ok());

  internal::Connection& server = internal::StoreAccess::Conn(w.server());
  int64_t pushed = 0;
  for (int i = 0; i < w.size(); ++i) {
    SCOPED_TRACE("device " + std::to_string(i));
    for (const std::string& id : ids) EXPECT_EQ(w.DeviceFields(i, id), w.ServerFields(id)) << id;
    auto conflicts = internal::StoreAccess::Conn(*w.device(i).store).QueryInt("SELECT count(*) FROM conflicts");
    EXPECT_EQ(*conflicts, *server.QueryInt("SELECT count(*) FROM conflicts"));
    pushed += *w.ledger().AckedThrough(w.device(i).who.device_id);
  }
  EXPECT_GT(*server.QueryInt("SELECT count(*) FROM conflicts"), 0);  // they did collide
  // Each device's answers are kept only for its last ops, one per op.
  EXPECT_EQ(*server.QueryInt("SELECT count(*) FROM (SELECT dev FROM server_op_results GROUP BY dev "
                             "HAVING count(*) <> max(push_seq) - min(push_seq) + 1) gaps"),
            0);
  EXPECT_LT(*server.QueryInt("SELECT count(*) FROM server_op_results"), pushed);
  EXPECT_EQ(*server.QueryInt("SELECT count(*) FROM (SELECT dev, push_seq FROM server_history WHERE push_seq "
                             "IS NOT NULL GROUP BY dev, push_seq HAVING count(*) > 1) twice"),
            0);
  EXPECT_EQ(*server.QueryInt("SELECT count(*) FROM server_history"), *server.QueryInt("SELECT max(version) FROM "
                                                                                      "server_history"));
  for (const std::string& id : ids) {
    json v = json::parse(w.device(3).records->Get(id)->values_json);
    EXPECT_TRUE(v["a"].get<std::string>() != "base" || v["b"].get<std::string>() != "base") << v.dump();
  }
}

// A pull reads a snapshot: it does not wait for a writer holding the lock
// (a long push through another server), and it sees what was committed.
TEST(SyncPostgresTest, APullDoesNotWaitForAWriter) {
  SyncWorld w(2, {}, testing::ServerStore::kPostgres);
  std::string id = w.NewRecord(0, R"({"a": "committed"})");
  ASSERT_TRUE(w.SyncAll().ok());
  ASSERT_TRUE(w.ConnectOnItsOwn(1).ok());
  auto writer = w.server().Begin();
  ASSERT_TRUE(writer.has_value());
  auto pulled = std::async(std::launch::async, [&] { return w.PullAll(1); });
  const bool done = pulled.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  writer->Rollback();
  ASSERT_TRUE(done) << "the pull waited for the writer";
  ASSERT_TRUE(pulled.get().ok());
  EXPECT_EQ(json::parse(w.device(1).records->Get(id)->values_json)["a"], "committed");
}

TEST(SyncFileTest, AServerRestoredFromAnOlderBackupGetsBackWhatItLost) {
  SyncWorld w(1);
  std::string first = w.NewRecord(0, R"({"a": "kept"})");
  ASSERT_TRUE(w.SyncAll().ok());
  // Back up the server here.
  ASSERT_TRUE(internal::StoreAccess::Conn(w.server()).Exec("PRAGMA wal_checkpoint(TRUNCATE)").ok());
  std::string backup = testing::ReadBytes(w.server().path());
  std::string second = w.NewRecord(0, R"({"a": "lost by the restore"})");
  ASSERT_TRUE(w.SyncAll().ok());
  // Restore: put the old bytes back under a fresh store.
  testing::TempDir dir;
  testing::WriteBytes(dir.File("restored.db"), backup);
  auto restored = testing::OpenPlain(dir.File("restored.db"), &w.clock());
  SyncLedger ledger(restored.get());
  auto cursor = w.device(0).replica->PullCursor();
  auto pull = ledger.Pull(w.device(0).who, *cursor, 100);
  ASSERT_FALSE(pull.has_value());
  EXPECT_NE(pull.error().message().find("must_refetch"), std::string::npos);
  // The device learns how far the server got and re-pushes everything else.
  auto page = ledger.Pull(w.device(0).who, "", 1);
  ASSERT_TRUE(page.has_value());
  ASSERT_TRUE(w.device(0).replica->ResetAfterServerRestore(page->acked_through).ok());
  for (int guard = 0; guard < 10; ++guard) {
    auto batch = w.device(0).replica->NextBatch();
    ASSERT_TRUE(batch.has_value());
    if (!*batch) break;
    auto result = ledger.Push(w.device(0).who, **batch);
    ASSERT_TRUE(result.has_value()) << result.error().ToString();
    ASSERT_TRUE(w.device(0).replica->ApplyPushResult(**batch, *result).ok());
  }
  EXPECT_EQ(ledger.Fields(second)->at("a"), "lost by the restore");
  EXPECT_EQ(ledger.Fields(first)->at("a"), "kept");
  EXPECT_TRUE(ledger.Conflicts("")->empty());
}

}  // namespace
}  // namespace tianye

namespace tianye {
namespace {

std::string Sha(std::string_view bytes) {
  internal::Sha256 h;
  h.Update(bytes);
  return h.FinalHex();
}

// A server store whose clock the test sets, and a device's chunks.
class BlobUploadsTest : public ::testing::Test {
 protected:
  static constexpr int64_t kChunk = AttachmentStore::kChunkSize;
  // Chunk `i` of `file`, as a device cuts it.
  static std::string Part(const std::string& file, int64_t i) {
    return file.substr(static_cast<size_t>(i * kChunk),
                       static_cast<size_t>(std::min<int64_t>(kChunk, static_cast<int64_t>(file.size()) - i * kChunk)));
  }
  // Sends chunk `i` of `file` with its own hash, as a device does.
  Status Send(const std::string& sha, const std::string& file, int64_t i) {
    const std::string part = Part(file, i);
    return uploads_.PutChunk(sha, i, part, Sha(part));
  }

  testing::TempDir dir_;
  testing::ManualClock clock_;
  std::unique_ptr<Store> store_ = testing::OpenPlain(dir_.File("s.db"), &clock_);
  BlobUploads uploads_{store_.get()};
};

TEST_F(BlobUploadsTest, ChunksAreVerifiedOneByOneAndTheUploadResumes) {
  std::string file(static_cast<size_t>(kChunk * 2 + 1000), '\0');
  for (size_t i = 0; i < file.size(); ++i) file[i] = static_cast<char>((i * 131) % 251);
  std::string sha = Sha(file);
  auto part = [&](int64_t i) { return Part(file, i); };

  auto st = uploads_.Begin(sha, static_cast<int64_t>(file.size()), "image/jpeg");
  ASSERT_TRUE(st.has_value()) << st.error().ToString();
  EXPECT_EQ(st->chunks, 3);
  EXPECT_TRUE(st->have.empty());
  ASSERT_TRUE(Send(sha, file, 0).ok());
  // A chunk that does not match its hash, or has the wrong length, is refused.
  std::string bad = part(1);
  bad[10] ^= 1;
  EXPECT_NE(uploads_.PutChunk(sha, 1, bad, Sha(part(1))).message().find("chunk_hash_mismatch"), std::string::npos);
  EXPECT_EQ(uploads_.PutChunk(sha, 1, part(1).substr(1), Sha(part(1).substr(1))).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(uploads_.PutChunk(sha, 3, part(2), Sha(part(2))).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(uploads_.Finish(sha).error().code(), StatusCode::kFailedPrecondition);  // chunks missing
  // Resume: the server says which chunks it has.
  st = uploads_.Begin(sha, static_cast<int64_t>(file.size()), "image/jpeg");
  EXPECT_EQ(st->have, std::vector<int64_t>{0});
  ASSERT_TRUE(Send(sha, file, 0).ok());  // again: harmless
  ASSERT_TRUE(Send(sha, file, 2).ok());
  ASSERT_TRUE(Send(sha, file, 1).ok());
  auto info = uploads_.Finish(sha);
  ASSERT_TRUE(info.has_value()) << info.error().ToString();
  EXPECT_EQ(info->size, static_cast<int64_t>(file.size()));
  EXPECT_EQ(*AttachmentStore(store_.get()).ReadChunk(sha, 2), part(2));
  EXPECT_TRUE(uploads_.Begin(sha, static_cast<int64_t>(file.size()), "image/jpeg")->complete);
  // Chunks that each match but do not make the named file are dropped.
  std::string other(1000, 'x');
  std::string claimed = Sha("something else");
  ASSERT_TRUE(uploads_.Begin(claimed, 1000, "image/jpeg").has_value());
  ASSERT_TRUE(Send(claimed, other, 0).ok());
  auto wrong = uploads_.Finish(claimed);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_NE(wrong.error().message().find("hash_mismatch"), std::string::npos);
  EXPECT_EQ(AttachmentStore(store_.get()).Stat(Sha(other)).error().code(), StatusCode::kNotFound);
  EXPECT_TRUE(uploads_.Begin(claimed, 1000, "")->have.empty());
  // A 2 GB file is refused before a byte is sent.
  EXPECT_EQ(uploads_.Begin(Sha("big"), 2LL << 30, "video/mp4").error().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(uploads_.Begin("not a hash", 10, "").error().code(), StatusCode::kInvalidArgument);
}

TEST_F(BlobUploadsTest, AnUploadNeverFinishedIsDroppedAfterThirtyDaysAndCanBeginAgain) {
  const std::string file(static_cast<size_t>(kChunk + 10), 'p');
  const std::string sha = Sha(file);
  auto chunks_kept = [&] {
    return internal::StoreAccess::Conn(*store_).QueryInt("SELECT count(*) FROM upload_chunks").value();
  };
  ASSERT_TRUE(uploads_.Begin(sha, static_cast<int64_t>(file.size()), "image/jpeg").has_value());
  ASSERT_TRUE(Send(sha, file, 0).ok());
  // A wrong size claimed for another file, never finished either.
  const std::string other = Sha("another photo");
  ASSERT_TRUE(uploads_.Begin(other, 5, "image/jpeg").has_value());
  EXPECT_EQ(uploads_.Begin(other, 6, "image/jpeg").error().code(), StatusCode::kConflict);

  // Within the thirty days an upload resumes where it stopped.
  clock_.Advance(BlobUploads::kAbandonedAfterMs - 1000);
  auto st = uploads_.Begin(sha, static_cast<int64_t>(file.size()), "image/jpeg");
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->have, std::vector<int64_t>{0});
  EXPECT_EQ(chunks_kept(), 1);

  // After them, the next upload begun drops both, chunks included; the
  // same files begin afresh, the other with its right size.
  clock_.Advance(2000);
  ASSERT_TRUE(uploads_.Begin(Sha("a third photo"), 5, "image/jpeg").has_value());
  EXPECT_EQ(chunks_kept(), 0);
  EXPECT_EQ(Send(sha, file, 1).code(), StatusCode::kNotFound);
  EXPECT_TRUE(uploads_.Begin(other, 6, "image/jpeg").has_value());
  st = uploads_.Begin(sha, static_cast<int64_t>(file.size()), "image/jpeg");
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(st->have.empty());
  ASSERT_TRUE(Send(sha, file, 0).ok());
  ASSERT_TRUE(Send(sha, file, 1).ok());
  auto info = uploads_.Finish(sha);
  ASSERT_TRUE(info.has_value()) << info.error().ToString();
  EXPECT_EQ(info->size, static_cast<int64_t>(file.size()));
}

}  // namespace
}  // namespace tianye

namespace tianye {
namespace {

TEST(SyncDeviceTest, RecordsFromBeforeChangeCaptureAreSentOnTheFirstSync) {
  testing::SyncWorld w(2);
  std::string id = w.NewRecord(0, R"({"a": "录于旧版本"})");
  // As a store written by an older Tianye leaves it: the record, no outbox.
  std::string edited = w.NewRecord(0, R"({"a": "旧", "b": "也旧"})");
  ASSERT_TRUE(internal::StoreAccess::Conn(*w.device(0).store).Exec("DELETE FROM outbox").ok());
  // An older record edited after the upgrade: only the changed field is captured.
  w.Set(0, edited, "b", "新");
  ASSERT_TRUE(w.SyncAll().ok());
  EXPECT_EQ(w.DeviceFields(1, id), w.DeviceFields(0, id));
  EXPECT_EQ(w.ServerFields(id).at("a"), "录于旧版本");
  EXPECT_EQ(w.DeviceFields(1, edited), w.DeviceFields(0, edited));
  EXPECT_EQ(w.ServerFields(edited).at("a"), "旧");  // sent though its row was never captured
  EXPECT_EQ(w.ServerFields(edited).at("b"), "新");
}

}  // namespace
}  // namespace tianye
