// The field client's JSON API without a browser: a real UiApp behind the
// real HTTP layer on loopback, driven with raw requests.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "http.h"
#include "raw_http.h"
#include "test_util.h"
#include "tianye/form_store.h"
#include "tianye/record.h"
#include "tianye/sync.h"
#include "ui_app.h"

namespace tianye::cli {
namespace {

using testing::RawRequest;

class UiApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_path_ = dir_.File("field.db");
    {
      StoreOptions so;
      so.path = store_path_;
      auto store = Store::Open(so, "口令");
      ASSERT_TRUE(store.has_value());
      FormStore forms(store->get());
      ASSERT_TRUE(forms.InstallFile(std::string(TIANYE_FORMS_DIR) + "/toilet.json").has_value());
    }
    UiOptions options;
    options.store_path = store_path_;
    options.idle_lock_seconds = 600;
    app_ = std::make_unique<UiApp>(options);
    http::ServerOptions so;
    so.worker_threads = 1;
    so.upload_limit = 1 << 20;
    so.spool_dir = dir_.path();
    so.limits = [](std::string_view method, std::string_view path) {
      http::RouteLimits l;
      l.body_limit = 64 * 1024;
      l.spool_to_file = method == "POST" && path.ends_with("/photo");
      return l;
    };
    auto server = http::Server::Start(so, [this](const http::Request& r) { return app_->Handle(r); });
    ASSERT_TRUE(server.has_value());
    server_ = std::move(server).value();
    app_->set_port(server_->port());
    host_ = "127.0.0.1:" + std::to_string(server_->port());
  }
  void TearDown() override { server_.reset(); }

  testing::RawResponse Call(const std::string& method, const std::string& target, const std::string& body = "",
                            const std::string& headers = "Content-Type: application/json\r\n",
                            const std::string& host = "") {
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + (host.empty() ? host_ : host) +
                      "\r\nConnection: close\r\n" + headers + "Content-Length: " + std::to_string(body.size()) +
                      "\r\n\r\n" + body;
    return RawRequest(server_->port(), req);
  }
  static nlohmann::json J(const testing::RawResponse& r) { return nlohmann::json::parse(r.body, nullptr, false); }

  testing::TempDir dir_;
  std::string store_path_, host_;
  std::unique_ptr<UiApp> app_;
  std::unique_ptr<http::Server> server_;
};

TEST_F(UiApiTest, NothingButStatusAndUnlockBeforeUnlocking) {
  auto status = Call("GET", "/v1/status");
  EXPECT_EQ(status.status, 200);
  EXPECT_EQ(J(status)["locked"], true);
  for (const char* path : {"/v1/records", "/v1/forms", "/v1/forms/toilet/2026.1"}) {
    auto r = Call("GET", path);
    EXPECT_EQ(r.status, 401) << path;
    EXPECT_EQ(J(r)["error"], "locked");
  }
  EXPECT_EQ(Call("GET", "/").status, 200);  // the page itself
}

// Without --user, records are made by the user this device logged in to the
// server as (its first sync), and by "inspector" before any login.
TEST_F(UiApiTest, NewRecordsAreMadeByTheUserTheDeviceLoggedInAs) {
  auto unlock = [&] { ASSERT_EQ(Call("POST", "/v1/unlock", R"({"passphrase": "口令"})").status, 200); };
  auto author = [&] {
    auto r = Call("POST", "/v1/records", R"({"form_id": "toilet"})");
    EXPECT_EQ(r.status, 200) << r.body;
    return J(r).value("author", "?");
  };
  unlock();
  EXPECT_EQ(author(), "inspector");
  ASSERT_EQ(Call("POST", "/v1/lock", "{}").status, 200);
  {
    StoreOptions so;
    so.path = store_path_;
    auto store = Store::Open(so, "口令");
    ASSERT_TRUE(store.has_value());
    ASSERT_TRUE((*store)->PutSetting("sync.user", "wang").ok());  // as `tianye sync` keeps its login
  }
  unlock();
  EXPECT_EQ(author(), "wang");
}

TEST_F(UiApiTest, WrongPassphraseSaysSo) {
  auto r = Call("POST", "/v1/unlock", R"({"passphrase": "不对"})");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(J(r)["error"], "wrong_passphrase");
  EXPECT_EQ(Call("POST", "/v1/unlock", R"({"passphrase": ""})").status, 400);
  EXPECT_EQ(Call("POST", "/v1/unlock", R"({"passphrase": "口令"})").status, 200);
  EXPECT_EQ(J(Call("GET", "/v1/status"))["locked"], false);
  EXPECT_EQ(Call("POST", "/v1/lock", "{}").status, 200);
  EXPECT_EQ(Call("GET", "/v1/records").status, 401);
}

TEST_F(UiApiTest, ForeignHostsOriginsAndNonJsonWritesAreRefused) {
  EXPECT_EQ(Call("GET", "/v1/status", "", "", "evil.example:80").status, 403);  // DNS rebinding
  EXPECT_EQ(Call("POST", "/v1/unlock", R"({"passphrase": "口令"})",
                 "Content-Type: application/json\r\nOrigin: http://evil.example\r\n").status, 403);
  EXPECT_EQ(Call("POST", "/v1/unlock", "passphrase=口令",
                 "Content-Type: application/x-www-form-urlencoded\r\n").status, 415);
  EXPECT_EQ(J(Call("GET", "/v1/status"))["locked"], true);
}

TEST_F(UiApiTest, RecordLifecycleBadJsonAndOversizedPhoto) {
  ASSERT_EQ(Call("POST", "/v1/unlock", R"({"passphrase": "口令"})").status, 200);
  auto created = Call("POST", "/v1/records", R"({"form_id": "toilet"})");
  ASSERT_EQ(created.status, 200) << created.body;
  std::string id = J(created)["id"];
  auto bad = Call("POST", "/v1/records/" + id + "/answer", "{not json");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(J(bad)["error"], "invalid_argument");
  auto ans = Call("POST", "/v1/records/" + id + "/answer", R"({"path": "has_toilet", "value": "no"})");
  ASSERT_EQ(ans.status, 200) << ans.body;
  bool shown = false;
  const nlohmann::json changes = J(ans)["changes"];
  for (const auto& c : changes) shown = shown || (c["path"] == "no_toilet_reason" && c["relevant"] == true);
  EXPECT_TRUE(shown);
  EXPECT_EQ(Call("POST", "/v1/records/" + id + "/answer", R"({"path": "nope", "value": "x"})").status, 404);
  // Saved at once: a fresh read of the record has the answer.
  auto rec = J(Call("GET", "/v1/records/" + id));
  EXPECT_EQ(rec["resume_path"], "has_toilet");
  // A photo over the limit is a clear 413, and nothing is attached.
  auto big = Call("POST", "/v1/records/" + id + "/photo?path=photo_room", std::string(2 << 20, 'x'),
                  "Content-Type: image/jpeg\r\n");
  EXPECT_EQ(big.status, 413);
  EXPECT_NE(J(big)["message"].get<std::string>().find("MiB"), std::string::npos);
  auto fin = J(Call("POST", "/v1/records/" + id + "/finalize", "{}"));
  EXPECT_EQ(fin["finalized"], false);
  EXPECT_FALSE(fin["problems"].empty());
  EXPECT_EQ(Call("GET", "/v1/records/nope").status, 404);
}

// "Move up" on a problem row is saved as that row's order, so a sync carries
// the move (before, rows listed by when they were added once synced).
TEST_F(UiApiTest, AMovedRepeatRowIsSavedWithItsPlace) {
  ASSERT_EQ(Call("POST", "/v1/unlock", R"({"passphrase": "口令"})").status, 200);
  std::string id = J(Call("POST", "/v1/records", R"({"form_id": "toilet"})"))["id"];
  const std::vector<std::string> cats = {"product", "construction", "siting"};
  for (size_t row = 1; row <= cats.size(); ++row) {
    ASSERT_EQ(Call("POST", "/v1/records/" + id + "/repeat", R"({"op": "add", "path": "problems"})").status, 200);
    auto a = Call("POST", "/v1/records/" + id + "/answer",
                  nlohmann::json{{"path", "problems[" + std::to_string(row) + "]/prob_cat"}, {"value", cats[row - 1]}}.dump());
    ASSERT_EQ(a.status, 200) << a.body;
  }
  auto moved = Call("POST", "/v1/records/" + id + "/repeat", R"({"op": "move", "path": "problems[3]", "to": 2})");
  ASSERT_EQ(moved.status, 200) << moved.body;

  StoreOptions so;
  so.path = store_path_;
  auto store = Store::Open(so, "口令");
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto record = RecordStore(store->get()).Get(id);
  ASSERT_TRUE(record.has_value());
  Record synced;
  ApplyFields(RecordFields(*record), &synced);  // what another device builds from the fields
  const nlohmann::json values = nlohmann::json::parse(synced.values_json);
  std::string order;
  for (const auto& p : values["problems"]) order += p["prob_cat"].get<std::string>() + " ";
  EXPECT_EQ(order, "product siting construction ") << record->values_json;
}

}  // namespace
}  // namespace tianye::cli
