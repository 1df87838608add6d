// Two tianye-server processes on one PostgreSQL (a throwaway cluster the test
// starts), with real field-client stores synced by the real `tianye sync`
// through either server at random: every device ends with the same records
// and the same conflict, a server SIGKILLed in the middle of a push loses
// nothing and applies nothing twice, photos, the review queue and exports
// work through either server, and what is not ported yet says so.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "pg_cluster.h"
#include "device_edits.h"
#include "raw_http.h"
#include "server_process.h"
#include "store_impl.h"
#include "test_util.h"
#include "tianye/attachment.h"
#include "tianye/record.h"
#include "tianye/store.h"
#include "tianye/sync.h"

namespace tianye {
namespace {

using nlohmann::json;
using testing::ServerProcess;

constexpr char kPass[] = "device passphrase";

class PostgresServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(pg_.error(), "");
    ASSERT_NE(pg_.NewDatabase("servers"), "") << pg_.error();
    url_ = "postgresql://tianye@127.0.0.1:" + std::to_string(pg_.port()) + "/servers";
    for (const char* who : {"wang", "li"}) User(who, "inspector");
    User("zhao", "supervisor");
    for (int i = 0; i < 2; ++i) Start(i);
  }

  void User(const std::string& name, const std::string& role) {
    auto r = testing::Run({TIANYE_SERVER, "user", "add", name, "--role", role, "--area", "140623000000", "--store",
                           url_, "--data-dir", dir_.File("srv0")},
                          {{"TIANYE_USER_PASSWORD", name + "-password"}});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // Server `i`, with a data folder of its own (certificates, spool) and the
  // shared database.
  void Start(int i) {
    servers_[i] = std::make_unique<ServerProcess>(
        TIANYE_SERVER, std::vector<std::string>{"--data-dir", dir_.File("srv" + std::to_string(i)), "--store", url_,
                                                "--forms", TIANYE_FORMS_DIR, "--tls", "off"});
    ASSERT_NE(servers_[i]->port(), 0) << servers_[i]->output();
  }

  Store* Device(const std::string& who) {
    std::unique_ptr<Store>& open = devices_[who];
    if (open == nullptr) {
      StoreOptions o;
      o.path = dir_.File(who + ".db");
      auto s = Store::Open(o, kPass);
      EXPECT_TRUE(s.has_value()) << s.error().ToString();
      if (s) open = std::move(*s);
    }
    return open.get();
  }

  std::vector<std::string> NewToilets(const std::string& who, int n) {
    RecordStore records(Device(who));
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      std::string id = testing::NewToiletRecord(records, who, json{{"hh_no", std::to_string(i)}, {"water", "yes"}}.dump());
      if (!id.empty()) ids.push_back(id);
    }
    return ids;
  }

  void Set(const std::string& who, const std::string& id, const std::string& key, const std::string& value) {
    testing::SetAnswer(Device(who), id, key, value);
  }
  FieldMap Fields(const std::string& who, const std::string& id) { return testing::DeviceFields(Device(who), id); }

  // `tianye sync` of `who` through server `i` (logging in the first time a
  // device meets that server's address).
  testing::ProcessResult Sync(const std::string& who, int i, const std::function<void(pid_t)>& while_running = {}) {
    Device(who);
    testing::WriteBytes(dir_.File(who + ".pw"), who + "-password\n");
    std::vector<std::string> argv = {TIANYE_CLI,         "sync", "--store", dir_.File(who + ".db"), "--server",
                                     servers_[i]->url(), "--user", who,     "--password-file",      dir_.File(who + ".pw")};
    return testing::Run(argv, {{"TIANYE_PASSPHRASE", kPass}}, "", while_running ? while_running : [](pid_t) {});
  }

  // POST /v1/login on server `i`: the answer, with its status as "http_status".
  json Login(int i, const std::string& who) {
    json body = {{"username", who}, {"password", who + "-password"}, {"device_id", "web"}};
    return Answer(testing::RawRequest(servers_[i]->port(), testing::HttpRequest("POST", "/v1/login", body.dump())));
  }
  json Get(int i, const std::string& target, const std::string& who, std::string token = "") {
    if (token.empty()) token = Login(i, who).value("token", "");
    return Answer(testing::RawRequest(
        servers_[i]->port(), testing::HttpRequest("GET", target, "", "Authorization: Bearer " + token + "\r\n")));
  }
  static json Answer(const testing::RawResponse& r) {
    json j = json::parse(r.body, nullptr, false);
    if (!j.is_object()) j = json::object();
    j["http_status"] = r.status;
    return j;
  }

  testing::PgCluster pg_;
  testing::TempDir dir_;
  std::string url_;
  std::unique_ptr<ServerProcess> servers_[2];
  std::map<std::string, std::unique_ptr<Store>> devices_;
};

TEST_F(PostgresServerTest, DevicesSyncingThroughEitherServerEndWithTheSameRecordsAndConflict) {
  const std::vector<std::string> ids = NewToilets("wang", 5);
  auto first = Sync("wang", 0);
  ASSERT_EQ(first.exit_code, 0) << first.err << first.out;
  auto other = Sync("li", 1);  // the other server hands out what the first took
  ASSERT_EQ(other.exit_code, 0) << other.err << other.out;
  for (const std::string& id : ids) ASSERT_EQ(Fields("li", id), Fields("wang", id)) << id;

  // Both edit the same answer offline, then sync through either server in a
  // random order, twice over.
  Set("wang", ids[0], "water", "no");
  Set("li", ids[0], "water", "not_piped");
  Set("li", ids[1], "hh_no", "17");
  std::mt19937 rng(7);
  for (int round = 0; round < 2; ++round) {
    for (const char* who : {"wang", "li"}) {
      auto r = Sync(who, static_cast<int>(rng() % 2));
      ASSERT_EQ(r.exit_code, 0) << who << ": " << r.err << r.out;
    }
  }
  for (const std::string& id : ids) EXPECT_EQ(Fields("li", id), Fields("wang", id)) << id;
  EXPECT_EQ(Fields("wang", ids[1]).at("hh_no"), "17");
  for (int i = 0; i < 2; ++i) {
    json conflicts = Get(i, "/v1/review/conflicts?state=open", "zhao");
    ASSERT_EQ(conflicts["http_status"], 200) << conflicts.dump();
    ASSERT_EQ(conflicts["conflicts"].size(), 1u) << conflicts.dump();
    EXPECT_EQ(conflicts["conflicts"][0]["field"], "water");
  }
  // Either server's dashboard counts the same records.
  for (int i = 0; i < 2; ++i) {
    json dashboard = Get(i, "/v1/review/dashboard", "zhao");
    ASSERT_EQ(dashboard["http_status"], 200) << dashboard.dump();
    EXPECT_EQ(dashboard["total"]["toilet"]["records"], 5) << dashboard.dump();
  }
}

// A photo sent through one server reaches a colleague's device through the
// other, and a supervisor reviews, searches and exports through either.
TEST_F(PostgresServerTest, PhotosTheReviewQueueAndExportsWorkThroughEitherServer) {
  std::string photo(300 * 1024, '\0');  // more than one upload chunk
  for (size_t i = 0; i < photo.size(); ++i) photo[i] = static_cast<char>((i * 131) % 251);
  testing::WriteBytes(dir_.File("room.jpg"), photo);
  std::string sha, with_photo;
  {
    PutOptions put;
    put.mime = "image/jpeg";
    auto info = AttachmentStore(Device("wang")).PutFile(dir_.File("room.jpg"), put);
    ASSERT_TRUE(info.has_value()) << info.error().ToString();
    sha = info->sha256;
    RecordStore records(Device("wang"));
    with_photo = testing::NewToiletRecord(records, "wang", json{{"hh_no", "HH-0042"}, {"photo_room", sha + ".jpg"}}.dump());
    ASSERT_TRUE(AttachmentStore(Device("wang")).Link(with_photo, "photo_room", sha).ok());
  }
  const std::vector<std::string> others = NewToilets("wang", 2);
  auto up = Sync("wang", 0);
  ASSERT_EQ(up.exit_code, 0) << up.err << up.out;
  EXPECT_NE(up.out.find("1 photos sent"), std::string::npos) << up.out;
  auto down = Sync("li", 1);
  ASSERT_EQ(down.exit_code, 0) << down.err << down.out;
  EXPECT_NE(down.out.find("Photos of other devices' records: 1 received"), std::string::npos) << down.out;
  ASSERT_TRUE(AttachmentStore(Device("li")).ReadToFile(sha, dir_.File("li-room.jpg")).ok());
  EXPECT_EQ(testing::ReadBytes(dir_.File("li-room.jpg")), photo);

  const std::string token = Login(1, "zhao").value("token", "");
  json all = Get(1, "/v1/review/records", "zhao", token);
  ASSERT_EQ(all["http_status"], 200) << all.dump();
  EXPECT_EQ(all["total"], 3);
  json found = Get(0, "/v1/review/records?q=hh-004", "zhao");
  ASSERT_EQ(found["http_status"], 200) << found.dump();
  ASSERT_EQ(found["total"], 1) << found.dump();
  EXPECT_EQ(found["records"][0]["id"], with_photo);
  json page = Get(0, "/v1/records/" + with_photo, "zhao");
  ASSERT_EQ(page["http_status"], 200) << page.dump();
  EXPECT_EQ(page["values"]["hh_no"], "HH-0042") << page.dump();
  EXPECT_GT(page["problems"].size(), 0u);  // the test record leaves required questions unanswered
  auto file = testing::RawRequest(servers_[1]->port(), testing::HttpRequest("GET", "/v1/records/" + with_photo +
                                  "/files/" + sha, "", "Authorization: Bearer " + token + "\r\n"));
  ASSERT_EQ(file.status, 200) << file.head;
  EXPECT_EQ(file.body, photo);
  auto csv = testing::RawRequest(servers_[0]->port(), testing::HttpRequest("GET", "/v1/export/records.csv?form=toilet",
                                 "", "Authorization: Bearer " + token + "\r\n"));
  ASSERT_EQ(csv.status, 200) << csv.head << csv.body;
  EXPECT_NE(csv.body.find("HH-0042"), std::string::npos);
  for (const std::string& id : others) EXPECT_NE(csv.body.find(id), std::string::npos) << id;
  auto zip = testing::RawRequest(servers_[1]->port(), testing::HttpRequest("GET", "/v1/export/photos.zip", "",
                                 "Authorization: Bearer " + token + "\r\n"));
  ASSERT_EQ(zip.status, 200) << zip.head << zip.body;
  EXPECT_EQ(zip.body.compare(0, 2, "PK"), 0);
  EXPECT_GT(zip.body.size(), photo.size());  // stored as it is: photos do not compress

  // Both servers check records against their form in the background; the
  // queue's problem filter sees the result through either.
  json problems;
  for (int i = 0; i < 100; ++i) {
    problems = Get(i % 2, "/v1/review/records?problems=1", "zhao", i % 2 == 1 ? token : "");
    if (problems.value("unchecked", -1) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(problems["http_status"], 200) << problems.dump();
  EXPECT_EQ(problems["unchecked"], 0) << problems.dump();
  EXPECT_EQ(problems["total"], 3) << "the test's toilets leave required questions unanswered: " << problems.dump();
}

TEST_F(PostgresServerTest, AServerKilledInTheMiddleOfAPushLosesNothingAndTheOtherTakesOver) {
  const std::vector<std::string> ids = NewToilets("wang", 300);
  // Killed once it has answered its first push batch (its access log says so).
  auto killed = Sync("wang", 0, [&](pid_t) {
    for (int i = 0; i < 1000 && servers_[0]->output().find("/v1/sync/push") == std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    servers_[0]->Stop(SIGKILL);
  });
  EXPECT_NE(killed.exit_code, 0) << "the sync should have lost its server: " << killed.out;
  auto resumed = Sync("wang", 1);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err << resumed.out;
  auto pulled = Sync("li", 1);
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err << pulled.out;
  for (const std::string& id : ids) ASSERT_EQ(Fields("li", id), Fields("wang", id)) << id;
  // Every op once: no op of the device twice in the history, and one stored
  // answer for each op of the last two batches (the last was numbered while
  // the one before was in flight); the earlier ones the device said it
  // holds, so the server forgot them.
  EXPECT_EQ(*SyncReplica(Device("wang")).PendingOps(), 0);
  auto db = Store::OpenPostgres(url_);
  ASSERT_TRUE(db.has_value()) << db.error().ToString();
  auto wang_device = DeviceId(*Device("wang"));
  ASSERT_TRUE(wang_device.has_value());
  const int64_t acked = *SyncLedger(db->get()).AckedThrough(*wang_device);
  EXPECT_GT(acked, 300 * 5);  // every record's fields
  internal::Connection& conn = internal::StoreAccess::Conn(**db);
  auto answers = conn.Prepare("SELECT count(*), min(push_seq), max(push_seq) FROM server_op_results "
                              "WHERE dev = (SELECT dev FROM server_device_ids WHERE device_id = ?)");
  ASSERT_TRUE(answers->Bind(1, *wang_device).Step().value());
  EXPECT_EQ(answers->Int(2), acked);
  EXPECT_EQ(answers->Int(0), answers->Int(2) - answers->Int(1) + 1);
  EXPECT_LT(answers->Int(0), 2 * 600);  // batches of 500 ops, whole saves
  auto twice = conn.Prepare("SELECT count(*) FROM (SELECT push_seq FROM server_history WHERE dev = (SELECT dev FROM "
                            "server_device_ids WHERE device_id = ?) AND push_seq IS NOT NULL GROUP BY push_seq "
                            "HAVING count(*) > 1) d");
  ASSERT_TRUE(twice->Bind(1, *wang_device).Step().value());
  EXPECT_EQ(twice->Int(0), 0);
}

// The database restarts under running servers: requests fail with a clear
// 503 while it is down and succeed again after, nothing lost.
TEST_F(PostgresServerTest, ADatabaseRestartIsA503AndThenSyncGoesOn) {
  const std::vector<std::string> ids = NewToilets("wang", 3);
  ASSERT_EQ(Sync("wang", 0).exit_code, 0);
  const std::string token = Login(1, "li").value("token", "");
  ASSERT_TRUE(pg_.Stop()) << pg_.error();
  for (int round = 0; round < 2; ++round) {  // the dropped connection, then no connection at all
    json down = Get(1, "/v1/sync/pull", "li", token);
    EXPECT_EQ(down["http_status"], 503) << down.dump();
    EXPECT_NE(down.value("message", "").find("database"), std::string::npos) << down.dump();
  }
  json login = Login(0, "li");
  EXPECT_EQ(login["http_status"], 503) << login.dump();
  // The load balancer's health check says so too, and recovers with it.
  auto health = [&](int i) {
    return Answer(testing::RawRequest(servers_[i]->port(), testing::HttpRequest("GET", "/healthz", "")));
  };
  EXPECT_EQ(health(0)["http_status"], 503) << health(0).dump();
  EXPECT_EQ(health(0)["ok"], false);
  Set("wang", ids[0], "water", "no");
  auto failed = Sync("wang", 0);
  EXPECT_NE(failed.exit_code, 0);
  ASSERT_TRUE(pg_.Start()) << pg_.error();
  EXPECT_EQ(health(1)["http_status"], 200) << health(1).dump();  // reconnected by the check itself
  // A server's first request on its dropped connection may still fail once
  // (the client retries 503s itself); within a few syncs it goes through.
  auto eventually = [&](const std::string& who, int server) {
    testing::ProcessResult r;
    for (int attempt = 0; attempt < 3; ++attempt) {
      r = Sync(who, server);
      if (r.exit_code == 0) break;
    }
    return r;
  };
  auto again = eventually("wang", 0);
  ASSERT_EQ(again.exit_code, 0) << again.err << again.out;
  auto li = eventually("li", 1);
  ASSERT_EQ(li.exit_code, 0) << li.err << li.out;
  for (const std::string& id : ids) EXPECT_EQ(Fields("li", id), Fields("wang", id)) << id;
  EXPECT_EQ(Fields("li", ids[0]).at("water"), "no");
}

}  // namespace
}  // namespace tianye
