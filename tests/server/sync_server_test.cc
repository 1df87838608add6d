// Sync through the real tianye-server process on loopback, with real field
// client stores (SQCipher files) synced by the real `tianye sync` (libcurl).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <thread>

#include "device_edits.h"
#include "http.h"
#include "raw_http.h"
#include "server_stores.h"
#include "server_process.h"
#include "test_util.h"
#include "tianye/attachment.h"
#include "tianye/form_store.h"
#include "tianye/record.h"
#include "tianye/store.h"
#include "tianye/sync.h"

namespace tianye {
namespace {

using nlohmann::json;
using testing::ServerProcess;

constexpr char kStorePass[] = "client store passphrase";

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

// Waits (up to 10 s) until the server has logged `needle` at least `n` times.
size_t WaitForCount(ServerProcess& server, const std::string& needle, size_t n) {
  for (int i = 0; i < 500; ++i) {
    size_t c = Count(server.output(), needle);
    if (c >= n) return c;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Count(server.output(), needle);
}

const AreaCodes kYingXian{"140623000000", "140623100000", "140623100201"};  // 应县

// The server, its users and the devices of a test. Most tests run on both
// of the server's stores (SyncServerTest); HTTPS is the same on both and
// runs once (SyncServerTlsTest).
class SyncServer : public ::testing::Test {
 public:
  virtual testing::ServerStore store() const { return testing::ServerStore::kSqlite; }

  void SetUp() override {
    if (store() == testing::ServerStore::kPostgres) {
      store_url_ = testing::FreshPostgresDatabase(/*as_url=*/true);
      ASSERT_NE(store_url_, "");
    }
    AddUser("wang", "inspector", "140623000000");
    AddUser("li", "inspector", "140623000000");
    AddUser("zhao", "supervisor", "140623000000");
    AddUser("ma", "inspector", "140623000000");
    AddUser("far", "inspector", "140602000000");  // another county
    server_ = std::make_unique<ServerProcess>(TIANYE_SERVER, ServerArgs(), ServerEnv());
    ASSERT_NE(server_->port(), 0) << server_->output();
    const bool on_postgres = server_->output().find("store PostgreSQL at") != std::string::npos;
    ASSERT_EQ(on_postgres, store() == testing::ServerStore::kPostgres) << server_->output();
  }

  // Plain HTTP, so the supervisor's calls and the bad requests below can be
  // raw bytes on a socket; HttpsWith... covers TLS.
  std::vector<std::string> ServerArgs(bool tls = false) {
    std::vector<std::string> args = {"--data-dir", dir_.File("srv"), "--forms", TIANYE_FORMS_DIR};
    if (!tls) args.insert(args.end(), {"--tls", "off"});
    return WithStore(args);
  }
  // `argv` of a tianye-server command, with the test's store.
  std::vector<std::string> WithStore(std::vector<std::string> argv) const {
    if (!store_url_.empty()) argv.insert(argv.end(), {"--store", store_url_});
    return argv;
  }
  std::map<std::string, std::string> ServerEnv() { return {}; }

  void AddUser(const std::string& name, const std::string& role, const std::string& area) {
    auto r = testing::Run(WithStore({TIANYE_SERVER, "user", "add", name, "--role", role, "--area", area, "--data-dir",
                                     dir_.File("srv")}),
                          {{"TIANYE_USER_PASSWORD", name + "-password"}});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  std::string StorePath(const std::string& who) { return dir_.File(who + ".db"); }

  // `who`'s device store, opened at the first call and kept open for the
  // test (each open stretches the passphrase, slow under the sanitizers);
  // the `tianye sync` processes open it beside this connection.
  Store* OpenClient(const std::string& who) {
    std::unique_ptr<Store>& open = clients_[who];
    if (open == nullptr) {
      StoreOptions o;
      o.path = StorePath(who);
      auto s = Store::Open(o, kStorePass);
      EXPECT_TRUE(s.has_value()) << s.error().ToString();
      if (s) open = std::move(*s);
    }
    return open.get();
  }

  testing::ProcessResult Sync(const std::string& who, bool first = false) {
    std::vector<std::string> argv = {TIANYE_CLI, "sync", "--store", StorePath(who)};
    if (first) {
      OpenClient(who);  // a fresh device's store exists before its first sync
      testing::WriteBytes(dir_.File(who + ".pw"), who + "-password\n");
      argv.insert(argv.end(), {"--server", server_->url(), "--user", who, "--password-file", dir_.File(who + ".pw")});
    }
    return testing::Run(argv, {{"TIANYE_PASSPHRASE", kStorePass}});
  }

  // A finalized toilet record of 应县 by `who` in `records`; its id.
  static std::string CreateToilet(RecordStore& records, const std::string& who, const std::string& values) {
    return testing::NewToiletRecord(records, who, values);
  }


  std::string NewToilet(const std::string& who, const std::string& values) {
    auto store = OpenClient(who);
    RecordStore records(store);
    return CreateToilet(records, who, values);
  }

  void Set(const std::string& who, const std::string& id, const std::string& key, const std::string& value) {
    testing::SetAnswer(OpenClient(who), id, key, value);
  }
  FieldMap Fields(const std::string& who, const std::string& id) { return testing::DeviceFields(OpenClient(who), id); }

  std::string Login(const std::string& who, const std::string& device = "web") {
    json body = {{"username", who}, {"password", who + "-password"}, {"device_id", device}};
    auto r = testing::RawRequest(server_->port(), testing::HttpRequest("POST", "/v1/login", body.dump()));
    EXPECT_EQ(r.status, 200) << r.body;
    json j = json::parse(r.body, nullptr, false);
    return j.is_object() ? j.value("token", "") : "";
  }

  testing::RawResponse Call(const std::string& method, const std::string& target, const std::string& token,
                            const std::string& body = "") {
    return testing::RawRequest(server_->port(),
                               testing::HttpRequest(method, target, body, "Authorization: Bearer " + token + "\r\n"));
  }

  // `tianye sync` for `who` with `args`, SIGKILLed once the server has logged
  // `cue` `n` more times than before it started. false: the sync ended first.
  bool SyncKilledAt(const std::string& who, const std::vector<std::string>& args, const std::string& cue, size_t n) {
    std::vector<std::string> argv = {TIANYE_CLI, "sync", "--store", StorePath(who)};
    argv.insert(argv.end(), args.begin(), args.end());
    size_t base = Count(server_->output(), cue);
    auto r = testing::Run(argv, {{"TIANYE_PASSPHRASE", kStorePass}}, "", [&](pid_t pid) {
      WaitForCount(*server_, cue, base + n);
      ::kill(pid, SIGKILL);
    });
    return r.exit_code == -1;
  }

  // Creates `n` finalized toilet records on `who`'s device; their ids.
  std::vector<std::string> NewToilets(const std::string& who, int n, const std::string& tag) {
    auto store = OpenClient(who);
    RecordStore records(store);
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      std::string id =
          CreateToilet(records, who, json{{"head", tag + std::to_string(i)}, {"water", "v" + std::to_string(i)}}.dump());
      if (!id.empty()) ids.push_back(id);
    }
    return ids;
  }

  void ExpectSameRecords(const std::string& a, const std::string& b, const std::vector<std::string>& ids) {
    auto sa = OpenClient(a);
    auto sb = OpenClient(b);
    for (const std::string& id : ids) {
      auto ra = RecordStore(sa).Get(id);
      auto rb = RecordStore(sb).Get(id);
      ASSERT_TRUE(ra.has_value() && rb.has_value()) << id;
      EXPECT_EQ(RecordFields(*ra), RecordFields(*rb)) << id;
    }
  }

  testing::TempDir dir_;
  std::string store_url_;  // postgresql://... on PostgreSQL, else "" (the file in the data folder)
  std::unique_ptr<ServerProcess> server_;
  std::map<std::string, std::unique_ptr<Store>> clients_;  // closed before dir_ goes
};

class SyncServerTest : public SyncServer, public ::testing::WithParamInterface<testing::ServerStore> {
 public:
  testing::ServerStore store() const override { return GetParam(); }
};
INSTANTIATE_TEST_SUITE_P(Stores, SyncServerTest, testing::BothServerStores(), testing::ServerStoreName);

class SyncServerTlsTest : public SyncServer {};

// Two inspectors edit the same toilet record offline, one the same field and
// another field each; they sync in the given order.
struct Outcome {
  FieldMap fields;
  json conflicts;
};

Outcome TwoInspectors(SyncServer& t, bool wang_first) {
  Outcome out;
  std::string id = t.NewToilet("wang", R"({"head": "张三", "toilet_type": "三格化粪池式", "water": "yes"})");
  EXPECT_EQ(t.Sync("wang", true).exit_code, 0);
  auto li = t.Sync("li", true);
  EXPECT_EQ(li.exit_code, 0) << li.err;
  EXPECT_EQ(t.Fields("li", id), t.Fields("wang", id));
  // Offline edits.
  t.Set("wang", id, "head", "张三丰");
  t.Set("li", id, "head", "张山");
  t.Set("li", id, "water", "no");
  const char* first = wang_first ? "wang" : "li";
  const char* second = wang_first ? "li" : "wang";
  EXPECT_EQ(t.Sync(first).exit_code, 0);
  auto r = t.Sync(second);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("in conflict"), std::string::npos);
  EXPECT_EQ(t.Sync(first).exit_code, 0);
  out.fields = t.Fields("wang", id);
  EXPECT_EQ(t.Fields("li", id), out.fields);  // both devices end the same
  std::string token = t.Login("zhao");
  auto c = t.Call("GET", "/v1/review/conflicts?record=" + id, token);
  EXPECT_EQ(c.status, 200) << c.body;
  out.conflicts = json::parse(c.body, nullptr, false);
  return out;
}

TEST_P(SyncServerTest, TwoInspectorsSameRecordOfflineWangSyncsFirst) {
  Outcome o = TwoInspectors(*this, true);
  EXPECT_EQ(o.fields.at("water"), "no");  // different fields merge
  ASSERT_EQ(o.conflicts["conflicts"].size(), 1u) << o.conflicts.dump();
  json c = o.conflicts["conflicts"][0];
  EXPECT_EQ(c["field"], "head");
  EXPECT_EQ(c["base_value"], "张三");
  std::set<std::string> values;
  for (const json& k : c["candidates"]) values.insert(k["value"].get<std::string>());
  EXPECT_EQ(values, (std::set<std::string>{"张三丰", "张山"}));
  EXPECT_EQ(o.fields.at("head"), "张山");  // li edited later: the provisional winner

  // The supervisor takes wang's value; it reaches both devices.
  std::string token = Login("zhao");
  json body = {{"value", "张三丰"}, {"seen_version", c["version"]}, {"note", "户口本上是张三丰"}};
  auto done = Call("POST", "/v1/review/conflicts/" + c["id"].get<std::string>() + "/resolve", token, body.dump());
  EXPECT_EQ(done.status, 200) << done.body;
  auto again = Call("POST", "/v1/review/conflicts/" + c["id"].get<std::string>() + "/resolve", token, body.dump());
  EXPECT_EQ(again.status, 409);
  EXPECT_NE(again.body.find("already_resolved"), std::string::npos);
  ASSERT_EQ(Sync("wang").exit_code, 0);
  ASSERT_EQ(Sync("li").exit_code, 0);
  std::string id = c["record"];
  EXPECT_EQ(Fields("wang", id).at("head"), "张三丰");
  EXPECT_EQ(Fields("li", id).at("head"), "张三丰");
}

TEST_P(SyncServerTest, TwoInspectorsSameRecordOfflineLiSyncsFirst) {
  Outcome o = TwoInspectors(*this, false);
  EXPECT_EQ(o.fields.at("water"), "no");
  EXPECT_EQ(o.fields.at("head"), "张山");  // the same winner in either order
  ASSERT_EQ(o.conflicts["conflicts"].size(), 1u);
  std::set<std::string> values;
  for (const json& k : o.conflicts["conflicts"][0]["candidates"]) values.insert(k["value"].get<std::string>());
  EXPECT_EQ(values, (std::set<std::string>{"张三丰", "张山"}));
}

// Conflicts on real questions of the toilet form: "keep both" where the
// question allows it (the union of two select_multiple answers, two notes one
// per line), refused where it does not (a household number with a pattern),
// and a merged value the supervisor enters. Each decision says how it was
// made, and every device ends with the decided values.
TEST_P(SyncServerTest, SupervisorKeepsBothValuesWhereTheFieldAllowsOrEntersAMergedOne) {
  std::string id = NewToilet("wang", R"({"not_use_reasons": "frozen", "not_use_other": "冬天冻住", "hh_no": "12"})");
  ASSERT_EQ(Sync("wang", true).exit_code, 0);
  ASSERT_EQ(Sync("li", true).exit_code, 0);
  Set("wang", id, "not_use_reasons", "frozen no_water");
  Set("wang", id, "not_use_other", "缺水");
  Set("wang", id, "hh_no", "12A");
  Set("li", id, "not_use_reasons", "full frozen");
  Set("li", id, "not_use_other", "没人抽粪");
  Set("li", id, "hh_no", "12B");
  ASSERT_EQ(Sync("wang").exit_code, 0);
  ASSERT_EQ(Sync("li").exit_code, 0);

  std::string token = Login("zhao");
  auto page = Call("GET", "/v1/records/" + id, token);
  ASSERT_EQ(page.status, 200) << page.body;
  std::map<std::string, json> open;  // field -> conflict
  const json shown = json::parse(page.body);
  for (const json& c : shown["conflicts"]) open[c["field"]] = c;
  ASSERT_EQ(open.size(), 3u) << page.body;
  EXPECT_TRUE(open["not_use_reasons"]["keep_both"]);
  EXPECT_TRUE(open["not_use_other"]["keep_both"]);
  EXPECT_FALSE(open["hh_no"]["keep_both"]) << "hh_no has a constraint: one value only";

  auto resolve = [&](const std::string& field, json body) {
    body["seen_version"] = open[field]["version"];
    return Call("POST", "/v1/review/conflicts/" + open[field]["id"].get<std::string>() + "/resolve", token, body.dump());
  };
  auto both = resolve("not_use_reasons", {{"keep", "both"}});
  ASSERT_EQ(both.status, 200) << both.body;
  EXPECT_EQ(json::parse(both.body)["resolution"]["how"], "keep_both");
  EXPECT_EQ(json::parse(both.body)["resolution"]["value"], "frozen no_water full");
  ASSERT_EQ(resolve("not_use_other", {{"keep", "both"}}).status, 200);
  auto refused = resolve("hh_no", {{"keep", "both"}});
  EXPECT_EQ(refused.status, 400);
  EXPECT_NE(refused.body.find("keep_both_not_allowed"), std::string::npos) << refused.body;
  auto merged = resolve("hh_no", {{"value", "12"}, {"note", "门牌是12号"}});
  ASSERT_EQ(merged.status, 200) << merged.body;
  EXPECT_EQ(json::parse(merged.body)["resolution"]["how"], "merged");

  ASSERT_EQ(Sync("wang").exit_code, 0);
  ASSERT_EQ(Sync("li").exit_code, 0);
  for (const char* device : {"wang", "li"}) {
    FieldMap f = Fields(device, id);
    EXPECT_EQ(f.at("not_use_reasons"), "frozen no_water full") << device;
    EXPECT_EQ(f.at("not_use_other"), "缺水\n没人抽粪") << device;
    EXPECT_EQ(f.at("hh_no"), "12") << device;
  }
}

// A device gets the server's forms at its first sync, and a version an
// admin installs later at its next one, with the CSV lists it names.
TEST_P(SyncServerTest, NewFormVersionsReachDevicesAtTheirNextSync) {
  auto first = Sync("wang", true);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto versions = [&] {
    auto store = OpenClient("wang");
    std::set<std::string> out;
    auto list = FormStore(store).List();
    EXPECT_TRUE(list.has_value()) << list.error().ToString();
    if (list) {
      for (const InstalledForm& f : *list) out.insert(f.form_id + " " + f.version);
    }
    return out;
  };
  EXPECT_EQ(versions(), (std::set<std::string>{"germplasm 2026.1", "housing 2026.1", "toilet 2026.1"}));

  server_.reset();  // an admin, added while the server is down (the store has one writer)
  AddUser("root", "admin", "*");
  server_ = std::make_unique<ServerProcess>(TIANYE_SERVER, ServerArgs(), ServerEnv());
  ASSERT_NE(server_->port(), 0) << server_->output();
  json toilet = json::parse(testing::ReadBytes(std::string(TIANYE_FORMS_DIR) + "/toilet.json"));
  toilet["settings"]["version"] = "2026.2";
  auto installed = Call("POST", "/v1/admin/forms", Login("root"), toilet.dump());
  ASSERT_EQ(installed.status, 201) << installed.body;

  auto next = Sync("wang", true);  // the same device, logging in at the restarted server's port
  ASSERT_EQ(next.exit_code, 0) << next.err;
  EXPECT_NE(next.out.find("New form versions from the server: 1"), std::string::npos) << next.out;
  EXPECT_TRUE(versions().count("toilet 2026.2"));
  auto store = OpenClient("wang");
  auto form = FormStore(store).Load("toilet", "2026.2");
  ASSERT_TRUE(form.has_value()) << form.error().ToString();
  EXPECT_NE((*form)->File("villages.csv"), nullptr) << "the village list came along";
  auto again = Sync("wang");
  EXPECT_EQ(again.out.find("New form versions"), std::string::npos) << "nothing new the second time";
}

// A record of a county the inspector does not cover is refused by itself:
// the rest of the sync goes on, the device says which record waits and
// why, and keeps it; once an admin assigns that county, the next sync
// delivers it.
TEST_P(SyncServerTest, ARecordOutsideTheInspectorsAreasWaitsOnTheDeviceWhileTheRestSyncs) {
  auto store = OpenClient("far");
  RecordStore records(store);
  const std::string elsewhere = CreateToilet(records, "far", R"({"head": "应县的户"})");  // far covers 朔城区 only
  NewRecord nr;
  nr.form_id = "toilet";
  nr.form_version = "2026.1";
  nr.author = "far";
  nr.status = RecordStatus::kFinalized;
  nr.area = {"140602000000", "140602100000", ""};
  nr.values_json = R"({"head": "朔城的户"})";
  const std::string own = records.Create(nr)->id;

  auto first = Sync("far", true);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("Problem: record " + elsewhere + " was not taken: out_of_scope"), std::string::npos)
      << first.out;
  EXPECT_EQ(records.Get(own)->status, RecordStatus::kSynced);
  EXPECT_EQ(records.Get(elsewhere)->status, RecordStatus::kFinalized);
  std::string token = Login("zhao");  // 应县's supervisor: nothing has arrived
  EXPECT_EQ(json::parse(Call("GET", "/v1/review/records", token).body)["total"], 0);

  auto assign = testing::Run(WithStore({TIANYE_SERVER, "user", "assign", "far", "--area", "140602000000", "--area",
                                        "140623000000", "--data-dir", dir_.File("srv")}));
  ASSERT_EQ(assign.exit_code, 0) << assign.err;
  auto second = Sync("far");
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.out.find("Problem:"), std::string::npos) << second.out;
  EXPECT_EQ(records.Get(elsewhere)->status, RecordStatus::kSynced);
  auto queue = json::parse(Call("GET", "/v1/review/records", token).body);
  ASSERT_EQ(queue["total"], 1) << queue.dump();
  EXPECT_EQ(queue["records"][0]["id"], elsewhere);
}

TEST_P(SyncServerTest, ReturnedRecordsComeBackWithTheComment) {
  std::string id = NewToilet("wang", R"({"head": "王五"})");
  ASSERT_EQ(Sync("wang", true).exit_code, 0);
  std::string token = Login("zhao");
  auto inspector = Call("POST", "/v1/records/" + id + "/review", Login("wang", "w2"),
                        R"({"status": "approved"})");
  EXPECT_EQ(inspector.status, 403);  // an inspector cannot approve
  auto r = Call("POST", "/v1/records/" + id + "/review", token, R"({"status": "returned", "comment": "缺少照片"})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto s = Sync("wang");
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_NE(s.out.find("缺少照片"), std::string::npos) << s.out;
  auto store = OpenClient("wang");
  auto rec = RecordStore(store).Get(id);
  EXPECT_EQ(rec->status, RecordStatus::kReturned);
  EXPECT_EQ(rec->review_comment, "缺少照片");
}

// Two inspectors' edits that each pass the toilet form's checks fail one
// together: the survey date moves past a rectification deadline. The
// server's background check finds it; the queue's "constraint problems"
// filter lists the record and the record page names the problem in the
// chosen language; the inspector's fix clears it.
TEST_P(SyncServerTest, MergedEditsThatBreakAConstraintAreFoundByTheServer) {
  std::string id = NewToilet("wang", R"({"survey_date": "2026-09-01", "problems": [{"prob_cat": "product",
      "prob_item": "pan_broken", "deadline": "2026-09-10", "prob_status": "pending"}]})");
  ASSERT_EQ(Sync("wang", true).exit_code, 0);
  ASSERT_EQ(Sync("li", true).exit_code, 0);
  auto set_deadline = [&](const std::string& who, const std::string& date) {
    RecordStore records(OpenClient(who));
    auto r = records.Get(id);
    ASSERT_TRUE(r.has_value());
    json v = json::parse(r->values_json);
    v["problems"][0]["deadline"] = date;
    r->values_json = v.dump();
    ASSERT_TRUE(records.Update(*r).has_value());
  };
  Set("wang", id, "survey_date", "2026-09-15");
  set_deadline("li", "2026-09-12");
  ASSERT_EQ(Sync("wang").exit_code, 0);
  ASSERT_EQ(Sync("li").exit_code, 0);

  const std::string token = Login("zhao");
  // The problems of the record as it is now (the page checks it live).
  auto problems = [&](const std::string& lang) {
    auto page = Call("GET", "/v1/records/" + id + "?lang=" + lang, token);
    EXPECT_EQ(page.status, 200) << page.body;
    std::map<std::string, std::string> out;  // path -> message
    const json body = json::parse(page.body);
    for (const json& p : body["problems"]) out[p["path"]] = p["message"];
    return out;
  };
  auto zh = problems("zh");
  ASSERT_EQ(zh.count("problems[1]/deadline"), 1u) << json(zh).dump();
  EXPECT_EQ(zh["problems[1]/deadline"], "整改时限不能早于调查日期");
  EXPECT_EQ(problems("en")["problems[1]/deadline"], "The deadline cannot be before the survey date");
  EXPECT_EQ(zh.count("survey_date"), 0u);

  // The queue filter, once the server's background pass has checked it.
  auto listed = [&]() -> json {
    for (int i = 0; i < 300; ++i) {
      auto r = Call("GET", "/v1/review/records?problems=1", token);
      EXPECT_EQ(r.status, 200) << r.body;
      json j = json::parse(r.body);
      if (j["unchecked"] == 0) return j;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "the server did not check the records within 30 s";
    return json::object();
  };
  json found = listed();
  ASSERT_EQ(found["total"], 1) << found.dump();
  EXPECT_EQ(found["records"][0]["id"], id);
  EXPECT_EQ(found["records"][0]["checked"], true);
  EXPECT_EQ(found["records"][0]["form_problems"], zh.size());  // the sparse record also lacks answers

  set_deadline("li", "2026-09-20");
  ASSERT_EQ(Sync("li").exit_code, 0);
  EXPECT_EQ(problems("zh").count("problems[1]/deadline"), 0u);
  found = listed();
  ASSERT_EQ(found["total"], 1);
  EXPECT_EQ(found["records"][0]["form_problems"], zh.size() - 1);
}

TEST_P(SyncServerTest, BadRequestsAreTypedErrorsAndStoreNothing) {
  std::string token = Login("wang", "dev-1");
  auto code = [](const testing::RawResponse& r) {
    json j = json::parse(r.body, nullptr, false);
    return std::to_string(r.status) + " " + (j.is_object() ? j.value("error", "") : r.body);
  };
  EXPECT_EQ(code(Call("POST", "/v1/sync/push", token, "{not json")), "400 malformed_json");
  EXPECT_EQ(code(Call("POST", "/v1/sync/push", token, R"({"protocol": 7, "device_id": "dev-1", "ops": []})")),
            "409 unsupported_protocol");
  const std::string op = R"({"push_seq": 5, "txn": 1, "record": "01a0e85c-f000-7000-8000-000000000001",)"
                         R"("field": "head", "value": "x", "base": 0, "hlc": "1", "form": "toilet",)"
                         R"("form_version": "2026.1"})";
  EXPECT_EQ(code(Call("POST", "/v1/sync/push", token, R"({"protocol":1,"device_id":"dev-1","ops":[)" + op + "]}")),
            "409 push_seq_gap");
  std::string first = op;
  first.replace(first.find("\"push_seq\": 5"), 13, "\"push_seq\": 1");
  std::string old_form = first;
  old_form.replace(old_form.find("2026.1"), 6, "1999.9");
  EXPECT_EQ(code(Call("POST", "/v1/sync/push", token, R"({"protocol":1,"device_id":"dev-1","ops":[)" + old_form + "]}")),
            "409 unknown_form_version");
  std::string approve = first;
  approve.replace(approve.find("\"field\": \"head\", \"value\": \"x\""), 29, "\"field\": \"@status\", \"value\": \"approved\"");
  EXPECT_EQ(code(Call("POST", "/v1/sync/push", token, R"({"protocol":1,"device_id":"dev-1","ops":[)" + approve + "]}")),
            "403 review_forbidden");
  EXPECT_EQ(code(Call("POST", "/v1/sync/push", token, R"({"protocol":1,"device_id":"other","ops":[)" + first + "]}")),
            "403 device_mismatch");
  EXPECT_EQ(code(Call("GET", "/v1/sync/pull", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")),
            "401 unauthenticated");
  EXPECT_EQ(code(Call("GET", "/v1/sync/pull?cursor=nonsense", token)), "400 bad_cursor");
  EXPECT_EQ(code(Call("GET", "/v1/review/conflicts", token)), "403 review_forbidden");
  // A 2 GB body is refused from its Content-Length, before anything is read.
  auto big = testing::RawRequest(server_->port(),
                                 "POST /v1/sync/push HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token +
                                     "\r\nContent-Type: application/json\r\nContent-Length: 2147483648\r\n\r\n{");
  EXPECT_EQ(big.status, 413);
  // A record of another county is not taken from this user.
  std::string far_token = Login("far", "dev-far");
  std::string in_yingxian = R"({"protocol":1,"device_id":"dev-far","ops":[)" + first + "," +
                            R"({"push_seq": 2, "txn": 1, "record": "01a0e85c-f000-7000-8000-000000000001",)"
                            R"("field": "@county", "value": "140623000000", "base": 0, "hlc": "1",)"
                            R"("form": "toilet", "form_version": "2026.1"}]})";
  auto refused = Call("POST", "/v1/sync/push", far_token, in_yingxian);
  ASSERT_EQ(refused.status, 200) << refused.body;
  const json outcomes = json::parse(refused.body)["outcomes"];
  ASSERT_EQ(outcomes.size(), 2u) << refused.body;
  for (const json& o : outcomes) {
    EXPECT_EQ(o["outcome"], "refused") << refused.body;
    EXPECT_EQ(o["error"].get<std::string>().rfind("out_of_scope: record 01a0e85c-f000-7000-8000-000000000001", 0), 0u);
  }
  // None of it was stored.
  std::string sup = Login("zhao");
  auto pull = Call("GET", "/v1/sync/pull", token);
  ASSERT_EQ(pull.status, 200);
  EXPECT_TRUE(json::parse(pull.body)["changes"].empty()) << pull.body;
  // Wrong passwords lock the account for a while.
  json wrong = {{"username", "li"}, {"password", "not-the-password"}, {"device_id", "x"}};
  int last = 0;
  for (int i = 0; i < 6; ++i) {
    last = testing::RawRequest(server_->port(), testing::HttpRequest("POST", "/v1/login", wrong.dump())).status;
  }
  EXPECT_EQ(last, 429);
}

class SyncServerCodingTest : public SyncServer {};

// Bodies travel compressed either way, in a coding the client names: zstd
// when it takes zstd (as libcurl does), else gzip. What would inflate past
// the limit, or comes in a coding the server does not read, is refused.
TEST_F(SyncServerCodingTest, BodiesTravelInTheCodingTheClientTakes) {
  const std::string token = Login("wang", "dev-1");
  const std::string auth = "Authorization: Bearer " + token + "\r\n";
  std::string ops;
  for (int i = 1; i <= 12; ++i) {
    if (i > 1) ops += ",";
    ops += R"({"push_seq": )" + std::to_string(i) + R"(, "txn": 1, "record": "01a0e85c-f000-7000-8000-000000000001",)"
           R"("field": "remark)" + std::to_string(i) + R"(", "value": ")" + std::string(120, 'x') +
           R"(", "base": 0, "hlc": "1", "form": "toilet", "form_version": "2026.1"})";
  }
  const std::string push = R"({"protocol":1,"device_id":"dev-1","ops":[)" + ops + "]}";
  auto pushed = testing::RawRequest(server_->port(), testing::HttpRequest("POST", "/v1/sync/push", http::Zstd(push),
                                                                          auth + "Content-Encoding: zstd\r\n"));
  ASSERT_EQ(pushed.status, 200) << pushed.body;
  EXPECT_EQ(json::parse(pushed.body)["acked_through"], 12);

  // Another device of the same inspector pulls them (a device is not sent
  // back what it pushed).
  const std::string other = "Authorization: Bearer " + Login("wang", "dev-2") + "\r\n";
  auto pull = [&](const std::string& accept) {
    return testing::RawRequest(server_->port(), testing::HttpRequest("GET", "/v1/sync/pull", "",
                                                                     other + "Accept-Encoding: " + accept + "\r\n"));
  };
  auto coding = [](const testing::RawResponse& r) {
    const size_t at = r.head.find("Content-Encoding: ");
    return at == std::string::npos ? std::string() : r.head.substr(at + 18, r.head.find("\r\n", at) - at - 18);
  };
  auto plain = pull("identity");
  ASSERT_EQ(plain.status, 200);
  EXPECT_EQ(coding(plain), "");
  EXPECT_EQ(json::parse(plain.body)["changes"].size(), 12u);
  struct Case {
    const char* accept;
    const char* coding;
    Result<std::string> (*unpack)(std::string_view, size_t);
  };
  for (Case c : {Case{"gzip, deflate, br, zstd", "zstd", http::Unzstd}, Case{"zstd", "zstd", http::Unzstd},
                 Case{"gzip", "gzip", http::Gunzip}, Case{"gzip, zstd;q=0", "gzip", http::Gunzip}}) {
    auto r = pull(c.accept);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(coding(r), c.coding) << c.accept;
    auto body = c.unpack(r.body, 1u << 20);
    ASSERT_TRUE(body.has_value()) << body.error().ToString();
    EXPECT_EQ(*body, plain.body);
  }

  // 64 MB of zeros in a few kilobytes, and a coding the server does not read.
  auto bomb = testing::RawRequest(server_->port(), testing::HttpRequest("POST", "/v1/sync/push",
                                                                        http::Zstd(std::string(64u << 20, ' ')),
                                                                        auth + "Content-Encoding: zstd\r\n"));
  EXPECT_EQ(bomb.status, 413) << bomb.body;
  EXPECT_EQ(json::parse(bomb.body, nullptr, false).value("error", ""), "too_large") << bomb.body;
  auto brotli = testing::RawRequest(server_->port(), testing::HttpRequest("POST", "/v1/sync/push", push,
                                                                          auth + "Content-Encoding: br\r\n"));
  EXPECT_EQ(brotli.status, 415);
  EXPECT_EQ(json::parse(brotli.body, nullptr, false).value("error", ""), "bad_encoding") << brotli.body;
  EXPECT_EQ(json::parse(pull("identity").body)["changes"].size(), 12u);  // neither stored anything
}

// A device sends its bodies as zstd once the server has answered in zstd
// (the forms it fetches before its first push do), as gzip before that: an
// older server, which never answers in zstd, would refuse a zstd body.
TEST_F(SyncServerCodingTest, ADevicePushesZstdOnceTheServerHasAnsweredInIt) {
  const std::vector<std::string> ids = NewToilets("wang", 12, "户主");
  testing::WriteBytes(dir_.File("wang.pw"), "wang-password\n");
  auto r = testing::Run({TIANYE_CLI, "sync", "--store", StorePath("wang"), "--server", server_->url(), "--user", "wang",
                         "--password-file", dir_.File("wang.pw"), "--batch", "40"},
                        {{"TIANYE_PASSPHRASE", kStorePass}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> codings;
  std::istringstream log(server_->output());
  for (std::string line; std::getline(log, line);) {
    json j = json::parse(line, nullptr, false);
    if (j.is_object() && j.value("path", "") == "/v1/sync/push") codings.push_back(j.value("encoding", ""));
  }
  ASSERT_GE(codings.size(), 3u) << server_->output();
  for (size_t i = 0; i < codings.size(); ++i) EXPECT_EQ(codings[i], "zstd") << i;
  EXPECT_EQ(Sync("li", true).exit_code, 0);
  ExpectSameRecords("wang", "li", ids);
}

TEST_P(SyncServerTest, ServerKilledDuringAPushLosesNothingAndAppliesNothingTwice) {
  std::vector<std::string> ids = NewToilets("wang", 40, "户主");
  ASSERT_EQ(ids.size(), 40u);
  // Sync in small batches and kill the server as soon as the first batch is in.
  OpenClient("wang");
  testing::WriteBytes(dir_.File("wang.pw"), "wang-password\n");
  std::thread sync([&] {
    testing::Run({TIANYE_CLI, "sync", "--store", StorePath("wang"), "--server", server_->url(), "--user", "wang",
                  "--password-file", dir_.File("wang.pw"), "--batch", "7"},
                 {{"TIANYE_PASSPHRASE", kStorePass}});
  });
  for (int i = 0; i < 600 && server_->output().find("/v1/sync/push") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  server_->Stop(SIGKILL);
  sync.join();
  {
    auto store = OpenClient("wang");
    auto pending = SyncReplica(store).PendingOps();
    ASSERT_GT(*pending, 0) << "the kill came too late to cut the sync";
  }
  server_ = std::make_unique<ServerProcess>(TIANYE_SERVER, ServerArgs(), ServerEnv());
  ASSERT_NE(server_->port(), 0) << server_->output();
  auto r = Sync("wang", true);  // the same device, logging in at the new port
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(Sync("li", true).exit_code, 0);
  auto wang = OpenClient("wang");
  auto li = OpenClient("li");
  for (const std::string& id : ids) {
    ASSERT_EQ(RecordFields(*RecordStore(li).Get(id)), RecordFields(*RecordStore(wang).Get(id))) << id;
  }
  std::string token = Login("zhao");
  auto c = Call("GET", "/v1/review/conflicts", token);
  EXPECT_EQ(json::parse(c.body)["conflicts"].size(), 0u) << c.body;  // a re-sent op is not a conflict with itself
}

TEST_P(SyncServerTest, ClientKilledDuringAPushResendsAtMostOneBatch) {
  // The device numbers its next batch while one is in flight: killed then,
  // it must still send again at most the batch the server may have taken.
  // li's device, with as many records of the same shape, counts the
  // batches an uncut push needs.
  std::vector<std::string> ids = NewToilets("wang", 40, "户主");
  NewToilets("li", 40, "户主");
  OpenClient("li");
  testing::WriteBytes(dir_.File("li.pw"), "li-password\n");
  size_t base = Count(server_->output(), "/v1/sync/push");
  auto r = testing::Run({TIANYE_CLI, "sync", "--store", StorePath("li"), "--server", server_->url(), "--user", "li",
                         "--password-file", dir_.File("li.pw"), "--batch", "20"},
                        {{"TIANYE_PASSPHRASE", kStorePass}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const size_t uncut = WaitForCount(*server_, "/v1/sync/push", base + 1) - base;
  ASSERT_GE(uncut, 8u) << "enough batches to cut in the middle";

  OpenClient("wang");
  testing::WriteBytes(dir_.File("wang.pw"), "wang-password\n");
  base = Count(server_->output(), "/v1/sync/push");
  ASSERT_TRUE(SyncKilledAt("wang", {"--server", server_->url(), "--user", "wang", "--password-file",
                                    dir_.File("wang.pw"), "--batch", "20"},
                           "/v1/sync/push", 3))
      << "the kill came too late to cut the push";
  r = testing::Run({TIANYE_CLI, "sync", "--store", StorePath("wang"), "--batch", "20"}, {{"TIANYE_PASSPHRASE", kStorePass}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_LE(Count(server_->output(), "/v1/sync/push") - base, uncut + 1) << "at most one batch sent again";
  ASSERT_EQ(Sync("li").exit_code, 0);
  ExpectSameRecords("li", "wang", ids);
  auto c = Call("GET", "/v1/review/conflicts", Login("zhao"));
  EXPECT_EQ(json::parse(c.body)["conflicts"].size(), 0u) << c.body;  // nothing applied twice
}

TEST_P(SyncServerTest, ClientKilledDuringAPullResumesWithoutLosingOrRepeatingPages) {
  std::vector<std::string> ids = NewToilets("wang", 60, "户主");
  ASSERT_EQ(Sync("wang", true).exit_code, 0);
  // How many pages a device needs, pulled in one go by li's other phone.
  size_t pulls = Count(server_->output(), "/v1/sync/pull");
  OpenClient("li-phone2");
  testing::WriteBytes(dir_.File("li.pw"), "li-password\n");
  auto r = testing::Run({TIANYE_CLI, "sync", "--store", StorePath("li-phone2"), "--server", server_->url(), "--user",
                         "li", "--password-file", dir_.File("li.pw"), "--batch", "40"},
                        {{"TIANYE_PASSPHRASE", kStorePass}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  size_t pages = WaitForCount(*server_, "/v1/sync/pull", pulls + 1) - pulls;
  ASSERT_GE(pages, 5u) << "enough pages to cut in the middle";

  // li's phone is killed in the middle of its pull, then syncs again.
  OpenClient("li");
  pulls = Count(server_->output(), "/v1/sync/pull");
  ASSERT_TRUE(SyncKilledAt("li", {"--server", server_->url(), "--user", "li", "--password-file", dir_.File("li.pw"),
                                  "--batch", "40"},
                           "/v1/sync/pull", 3))
      << "the kill came too late to cut the pull";
  r = testing::Run({TIANYE_CLI, "sync", "--store", StorePath("li"), "--batch", "40"}, {{"TIANYE_PASSPHRASE", kStorePass}});
  ASSERT_EQ(r.exit_code, 0) << r.err;  // the login survived the kill
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  size_t pulled = Count(server_->output(), "/v1/sync/pull") - pulls;
  EXPECT_LE(pulled, pages + 1) << "at most the page being applied is fetched again";
  ExpectSameRecords("li", "wang", ids);
  ExpectSameRecords("li", "li-phone2", ids);
  auto c = Call("GET", "/v1/review/conflicts", Login("zhao"));
  EXPECT_EQ(json::parse(c.body)["conflicts"].size(), 0u) << c.body;
}

TEST_P(SyncServerTest, ClientKilledDuringAPhotoUploadResendsAtMostOneChunk) {
  // 2.5 MB: ten chunks.
  std::string photo(10 * AttachmentStore::kChunkSize, '\0');
  for (size_t i = 0; i < photo.size(); ++i) photo[i] = static_cast<char>((i * 131) % 251);
  std::string id = NewToilet("wang", R"({"head":"王五"})");
  std::string sha;
  {
    auto store = OpenClient("wang");
    testing::WriteBytes(dir_.File("big.jpg"), photo);
    PutOptions put;
    put.mime = "image/jpeg";
    auto info = AttachmentStore(store).PutFile(dir_.File("big.jpg"), put);
    ASSERT_TRUE(info.has_value());
    sha = info->sha256;
    ASSERT_TRUE(AttachmentStore(store).Link(id, "photo", sha).ok());
  }
  testing::WriteBytes(dir_.File("wang.pw"), "wang-password\n");
  size_t chunks = Count(server_->output(), "/chunks/");
  ASSERT_TRUE(SyncKilledAt("wang", {"--server", server_->url(), "--user", "wang", "--password-file",
                                    dir_.File("wang.pw")},
                           "/chunks/", 3))
      << "the kill came too late to cut the upload";
  auto r = Sync("wang");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("1 photos sent"), std::string::npos) << r.out;
  size_t sent = WaitForCount(*server_, "/chunks/", chunks + 10) - chunks;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  sent = Count(server_->output(), "/chunks/") - chunks;
  EXPECT_GE(sent, 10u);
  EXPECT_LE(sent, 11u) << "at most the chunk in flight is sent twice";
  auto state = Call("GET", "/v1/blobs/" + sha, Login("wang", "web"));
  EXPECT_EQ(json::parse(state.body)["complete"], true) << state.body;
}

TEST_P(SyncServerTest, ServerRestoredFromAnOlderBackupGetsBackWhatItLostFromTheDevices) {
  // The store file copied, or the database copied within PostgreSQL.
  const std::string db = dir_.File("srv") + "/tianye-server.db";
  const std::string database = store_url_.substr(store_url_.rfind('/') + 1);
  testing::PgCluster& pg = testing::SharedPgCluster();
  std::vector<std::string> ids = NewToilets("wang", 10, "旧");
  ASSERT_EQ(Sync("wang", true).exit_code, 0);
  // The nightly backup: the store after a clean stop.
  server_->Stop(SIGTERM);
  if (store() == testing::ServerStore::kPostgres) {
    ASSERT_NE(pg.NewDatabase(database + "_backup", database), "") << pg.error();
  } else {
    testing::WriteBytes(dir_.File("backup.db"), testing::ReadBytes(db));
  }
  server_ = std::make_unique<ServerProcess>(TIANYE_SERVER, ServerArgs(), ServerEnv());
  ASSERT_NE(server_->port(), 0) << server_->output();

  // A day of work after the backup reaches the server, and li's phone.
  std::vector<std::string> more = NewToilets("wang", 10, "新");
  Set("wang", ids[0], "water", "修改后");
  ASSERT_EQ(Sync("wang", true).exit_code, 0);
  ASSERT_EQ(Sync("li", true).exit_code, 0);
  ids.insert(ids.end(), more.begin(), more.end());
  ExpectSameRecords("li", "wang", ids);

  // The server's disk dies; the backup comes back.
  server_->Stop(SIGTERM);
  if (store() == testing::ServerStore::kPostgres) {
    ASSERT_TRUE(pg.DropDatabase(database)) << pg.error();
    ASSERT_NE(pg.NewDatabase(database, database + "_backup"), "") << pg.error();
  } else {
    testing::WriteBytes(db, testing::ReadBytes(dir_.File("backup.db")));
    std::filesystem::remove(db + "-wal");
    std::filesystem::remove(db + "-shm");
  }
  server_ = std::make_unique<ServerProcess>(TIANYE_SERVER, ServerArgs(), ServerEnv());
  ASSERT_NE(server_->port(), 0) << server_->output();

  // Neither device has anything new: their next sync notices and re-sends.
  auto r = Sync("li", true);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Sync("wang", true);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Both noticed: li's cursor is ahead of the restored server, and wang's
  // names a change the restored server gave another number (must_refetch).
  EXPECT_EQ(Count(server_->output(), R"("path":"/v1/sync/pull","remote":"127.0.0.1","status":409)"), 2u)
      << server_->output();
  // A new phone gets everything, the edit included.
  ASSERT_EQ(Sync("ma", true).exit_code, 0);
  ExpectSameRecords("ma", "wang", ids);
  ExpectSameRecords("ma", "li", ids);
  EXPECT_EQ(Fields("ma", ids[0]).at("water"), "修改后");
  // The one field that changed after the backup came back from li's phone
  // with its history lost, against the older value the backup held: kept as
  // a conflict for review (nothing overwritten unseen). Nothing else conflicts.
  auto c = Call("GET", "/v1/review/conflicts", Login("zhao"));
  json conflicts = json::parse(c.body)["conflicts"];
  ASSERT_LE(conflicts.size(), 1u) << c.body;
  for (const json& conflict : conflicts) {
    EXPECT_EQ(conflict["record"], ids[0]);
    EXPECT_EQ(conflict["field"], "water");
  }
}

// A phone whose clock is off by `skew_ms` (a week fast, a week slow).
class SkewedClock final : public Clock {
 public:
  explicit SkewedClock(int64_t skew_ms) : skew_ms_(skew_ms) {}
  int64_t NowMillis() const override { return SystemClock()->NowMillis() + skew_ms_; }

 private:
  int64_t skew_ms_;
};

TEST_P(SyncServerTest, DeviceClocksAWeekFastOrSlowNeitherWinNorLoseByTheirClock) {
  constexpr int64_t kWeek = 7LL * 24 * 3600 * 1000;
  SkewedClock fast(kWeek), slow(-kWeek);
  auto edit = [&](const std::string& who, const Clock* clock, const std::string& id, const std::string& key,
                  const std::string& value) {
    StoreOptions o;
    o.path = StorePath(who);
    o.clock = clock;
    auto store = Store::Open(o, kStorePass);
    ASSERT_TRUE(store.has_value());
    RecordStore records(store->get());
    auto r = records.Get(id);
    ASSERT_TRUE(r.has_value());
    json v = json::parse(r->values_json);
    v[key] = value;
    r->values_json = v.dump();
    ASSERT_TRUE(records.Update(*r).has_value());
  };
  std::string id = NewToilet("ma", R"({"head":"原名","water":"旧"})");
  for (const char* who : {"ma", "wang", "li"}) ASSERT_EQ(Sync(who, true).exit_code, 0) << who;

  // Offline, all three rename the household: wang's phone a week fast, li's
  // a week slow, ma's right. ma's edit is the last in real time.
  edit("wang", &fast, id, "head", "快");
  edit("li", &slow, id, "head", "慢");
  ASSERT_EQ(Sync("wang").exit_code, 0);
  ASSERT_EQ(Sync("li").exit_code, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  edit("ma", SystemClock(), id, "head", "准");
  ASSERT_EQ(Sync("ma").exit_code, 0);

  // One conflict keeps all three; wang's future time was flagged and ranked
  // as the server's time, so it does not win for a week: ma's later edit does.
  auto c = Call("GET", "/v1/review/conflicts", Login("zhao"));
  json conflicts = json::parse(c.body)["conflicts"];
  ASSERT_EQ(conflicts.size(), 1u) << c.body;
  std::map<std::string, bool> ahead;
  for (const json& cand : conflicts[0]["candidates"]) ahead[cand["value"]] = cand["clock_ahead"];
  EXPECT_EQ(ahead, (std::map<std::string, bool>{{"快", true}, {"慢", false}, {"准", false}})) << c.body;
  for (const char* who : {"wang", "li", "ma"}) ASSERT_EQ(Sync(who).exit_code, 0) << who;
  for (const char* who : {"wang", "li", "ma"}) EXPECT_EQ(Fields(who, id).at("head"), "准") << who;

  // Conflicts come from versions, not clocks: the slow phone's edit after it
  // saw the current value goes through, though its clock says last week.
  edit("li", &slow, id, "water", "新");
  ASSERT_EQ(Sync("li").exit_code, 0);
  for (const char* who : {"wang", "ma"}) ASSERT_EQ(Sync(who).exit_code, 0) << who;
  for (const char* who : {"wang", "li", "ma"}) EXPECT_EQ(Fields(who, id).at("water"), "新") << who;
  c = Call("GET", "/v1/review/conflicts", Login("zhao"));
  EXPECT_EQ(json::parse(c.body)["conflicts"].size(), 1u) << c.body;
}

TEST_F(SyncServerTlsTest, HttpsWithTheSelfSignedCertificateNeedsThePinOrTheCa) {
  server_->Stop(SIGTERM);
  server_ = std::make_unique<ServerProcess>(TIANYE_SERVER, ServerArgs(/*tls=*/true), ServerEnv());
  ASSERT_NE(server_->port(), 0) << server_->output();
  ASSERT_EQ(server_->url().rfind("https://", 0), 0u) << server_->output();
  const std::string pin = server_->pin();
  ASSERT_EQ(pin.rfind("sha256//", 0), 0u) << server_->output();
  EXPECT_NE(server_->output().find("self-signed, made now"), std::string::npos);
  std::string id = NewToilet("wang", R"({"head":"张三"})");
  testing::WriteBytes(dir_.File("wang.pw"), "wang-password\n");
  auto sync = [&](const std::string& who, std::vector<std::string> extra) {
    std::vector<std::string> argv = {TIANYE_CLI, "sync", "--store", StorePath(who)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return testing::Run(argv, {{"TIANYE_PASSPHRASE", kStorePass}});
  };
  const std::vector<std::string> login = {"--server", server_->url(), "--user", "wang", "--password-file",
                                          dir_.File("wang.pw")};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), login.begin(), login.end());
    return extra;
  };

  // Not trusted: refused before the password is sent.
  auto r = sync("wang", login);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("untrusted_server"), std::string::npos) << r.err;
  r = sync("wang", with({"--pin", "sha256//" + std::string(43, 'A') + "="}));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("pin_mismatch"), std::string::npos) << r.err;
  EXPECT_EQ(server_->output().find("/v1/login"), std::string::npos) << "nothing reached the server";

  // The printed pin pairs the device; later syncs use the kept pin.
  r = sync("wang", with({"--pin", pin}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(sync("wang", {}).exit_code, 0);
  // The server's own certificate as the CA works too (its names include 127.0.0.1).
  testing::WriteBytes(dir_.File("li.pw"), "li-password\n");
  OpenClient("li");
  r = sync("li", {"--server", server_->url(), "--user", "li", "--password-file", dir_.File("li.pw"), "--ca",
                  dir_.File("srv") + "/tls-cert.pem"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Fields("li", id), Fields("wang", id));

  // A restart keeps the certificate: same pin, and the device syncs as before.
  server_->Stop(SIGTERM);
  server_ = std::make_unique<ServerProcess>(TIANYE_SERVER, ServerArgs(true), ServerEnv());
  ASSERT_NE(server_->port(), 0) << server_->output();
  EXPECT_EQ(server_->pin(), pin);
  EXPECT_EQ(server_->output().find("made now"), std::string::npos);
  r = sync("wang", {"--server", server_->url(), "--user", "wang", "--password-file", dir_.File("wang.pw"),
                    "--pin", pin});  // a new address is a new login; the pin is the same
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // A key that is not the certificate's is refused at start, naming the file.
  ServerProcess other(TIANYE_SERVER, {"--data-dir", dir_.File("other")});
  ASSERT_NE(other.port(), 0) << other.output();
  auto bad = testing::Run({TIANYE_SERVER, "serve", "--listen", "127.0.0.1:0", "--data-dir", dir_.File("srv"),
                           "--tls-cert", dir_.File("srv") + "/tls-cert.pem", "--tls-key",
                           dir_.File("other") + "/tls-key.pem"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("is not the key of the certificate"), std::string::npos) << bad.err;
}

// A device pulls its colleagues' records and then their photos (checked
// against their hashes); a photo its own device has not sent yet waits for
// a later sync, without being called a problem; nothing fetched goes back up.
TEST_P(SyncServerTest, DevicesFetchTheirColleaguesPhotosOfTheRecordsTheyPull) {
  std::string photo(300 * 1024, '\0');
  for (size_t i = 0; i < photo.size(); ++i) photo[i] = static_cast<char>((i * 131) % 251);
  testing::WriteBytes(dir_.File("room.jpg"), photo);
  std::string sha, with_photo;
  {
    auto store = OpenClient("wang");
    PutOptions put;
    put.mime = "image/jpeg";
    auto info = AttachmentStore(store).PutFile(dir_.File("room.jpg"), put);
    ASSERT_TRUE(info.has_value());
    sha = info->sha256;
    with_photo = NewToilet("wang", json{{"photo_room", sha + ".jpg"}}.dump());
    ASSERT_TRUE(AttachmentStore(store).Link(with_photo, "photo_room", sha).ok());
    // Another record names a photo this device never stored (so never sends).
    NewToilet("wang", json{{"photo_room", std::string(64, 'e') + ".jpg"}}.dump());
  }
  auto up = Sync("wang", true);
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_NE(up.out.find("1 photos sent"), std::string::npos) << up.out;

  // The server hands out the rest of a photo from a byte on (Range), across chunks.
  const std::string token = Login("li", "li-other-phone");
  const std::string url = "/v1/records/" + with_photo + "/files/" + sha;
  auto tail = testing::RawRequest(server_->port(), testing::HttpRequest("GET", url, "",
                                  "Authorization: Bearer " + token + "\r\nRange: bytes=200000-\r\n"));
  ASSERT_EQ(tail.status, 206) << tail.head;
  EXPECT_EQ(tail.body, photo.substr(200000));
  EXPECT_NE(tail.head.find("Content-Range: bytes 200000-" + std::to_string(photo.size() - 1) + "/" +
                           std::to_string(photo.size())), std::string::npos) << tail.head;
  auto past = testing::RawRequest(server_->port(), testing::HttpRequest("GET", url, "",
                                  "Authorization: Bearer " + token + "\r\nRange: bytes=999999-\r\n"));
  EXPECT_EQ(past.status, 416);

  // li's phone got the first 100 KB in an earlier, interrupted sync: it asks for the rest.
  // Also left there: part of the photo the server does not have (asked for
  // the rest, the server's 404 is the answer: it comes later), and part of
  // one no record names any more (its record since deleted): both go.
  const std::string part = dir_.File(".li.db.photo-" + sha + ".part");
  const std::string not_there = dir_.File(".li.db.photo-" + std::string(64, 'e') + ".part");
  const std::string stale = dir_.File(".li.db.photo-" + std::string(64, 'd') + ".part");
  testing::WriteBytes(part, photo.substr(0, 100000));
  testing::WriteBytes(not_there, "half a photo");
  testing::WriteBytes(stale, "half a photo");
  auto down = Sync("li", true);
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_NE(down.out.find("Photos of other devices' records: 1 received, 1 to fetch at a later sync."), std::string::npos)
      << down.out;
  EXPECT_EQ(down.out.find("Problem:"), std::string::npos) << down.out;
  EXPECT_NE(down.out.find("0 photos sent"), std::string::npos) << "nothing fetched goes back up: " << down.out;
  auto li = OpenClient("li");
  AttachmentStore files(li);
  auto linked = files.ListForRecord(with_photo);
  ASSERT_TRUE(linked.has_value());
  ASSERT_EQ(linked->size(), 1u);
  EXPECT_EQ((*linked)[0].field, "photo_room");
  EXPECT_EQ((*linked)[0].info.sha256, sha);
  ASSERT_TRUE(files.ReadToFile(sha, dir_.File("li-room.jpg")).ok());
  EXPECT_EQ(testing::ReadBytes(dir_.File("li-room.jpg")), photo);
  EXPECT_EQ(files.Stat(sha)->mime, "image/jpeg");
  EXPECT_FALSE(std::filesystem::exists(part));
  EXPECT_FALSE(std::filesystem::exists(not_there));
  EXPECT_FALSE(std::filesystem::exists(stale));
  // Two answers with the rest only (the access log's line follows each
  // answer): the test's own above, and li's sync's.
  EXPECT_EQ(WaitForCount(*server_, "\"status\":206", 2), 2u) << server_->output();

  auto again = Sync("li");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("0 received, 1 to fetch"), std::string::npos) << again.out;
}

TEST_P(SyncServerTest, PhotosFollowTheRecordsAndAnInterruptedUploadResumes) {
  // A 600 KB photo: three chunks.
  std::string photo(600 * 1024, '\0');
  for (size_t i = 0; i < photo.size(); ++i) photo[i] = static_cast<char>((i * 7919) % 253);
  std::string sha;
  {
    auto store = OpenClient("wang");
    RecordStore records(store);
    NewRecord nr;
    nr.form_id = "toilet";
    nr.form_version = "2026.1";
    nr.status = RecordStatus::kFinalized;
    nr.area = kYingXian;
    auto r = records.Create(nr);
    ASSERT_TRUE(r.has_value());
    testing::WriteBytes(dir_.File("photo.jpg"), photo);
    PutOptions put;
    put.mime = "image/jpeg";
    auto info = AttachmentStore(store).PutFile(dir_.File("photo.jpg"), put);
    ASSERT_TRUE(info.has_value());
    sha = info->sha256;
    ASSERT_TRUE(AttachmentStore(store).Link(r->id, "photo", sha).ok());
  }
  // An earlier sync was cut after the first chunk.
  std::string token = Login("wang", "some-device");
  auto begin = Call("POST", "/v1/blobs", token, json{{"sha256", sha}, {"size", photo.size()}, {"mime", "image/jpeg"}}.dump());
  ASSERT_EQ(begin.status, 200) << begin.body;
  EXPECT_EQ(json::parse(begin.body)["chunks"], 3);
  std::string first = photo.substr(0, AttachmentStore::kChunkSize);
  auto put = testing::RawRequest(server_->port(), testing::HttpRequest("PUT", "/v1/blobs/" + sha + "/chunks/0", first,
                                 "Authorization: Bearer " + token + "\r\nX-Chunk-Sha256: " + Sha256Hex(first) + "\r\n"));
  ASSERT_EQ(put.status, 200) << put.body;
  std::string second = photo.substr(AttachmentStore::kChunkSize, AttachmentStore::kChunkSize);
  auto wrong = testing::RawRequest(server_->port(), testing::HttpRequest("PUT", "/v1/blobs/" + sha + "/chunks/1", second,
                                   "Authorization: Bearer " + token + "\r\nX-Chunk-Sha256: " + Sha256Hex(first) + "\r\n"));
  EXPECT_EQ(wrong.status, 400);  // the bytes do not match the hash sent with them
  EXPECT_NE(wrong.body.find("chunk_hash_mismatch"), std::string::npos);
  // The access log line comes after the answer: wait for both PUTs' lines.
  size_t puts_before = WaitForCount(*server_, "/chunks/", 2);

  auto r = Sync("wang", true);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("1 photos sent"), std::string::npos) << r.out;
  EXPECT_EQ(WaitForCount(*server_, "/chunks/", puts_before + 2) - puts_before, 2u);  // only the two missing chunks
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(Count(server_->output(), "/chunks/") - puts_before, 2u);
  auto state = Call("GET", "/v1/blobs/" + sha, token);
  EXPECT_EQ(json::parse(state.body)["complete"], true) << state.body;
  // Nothing is sent again at the next sync.
  r = Sync("wang");
  EXPECT_NE(r.out.find("0 photos sent"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace tianye
