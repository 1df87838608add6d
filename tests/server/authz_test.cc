// Who may call what: every review, record, export and dashboard route for
// each role and for a supervisor of another county, through the server's
// request handler (no sockets) over each of the server's real stores (a
// SQLCipher file; PostgreSQL). A record of another county never shows in a
// list, a count, an export or a figure.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <iterator>
#include <map>

#include "app.h"
#include "server_stores.h"
#include "test_util.h"
#include "tianye/accounts.h"
#include "tianye/form_store.h"
#include "tianye/record.h"
#include "tianye/sync.h"

namespace tianye::server {
namespace {

using nlohmann::json;

const AreaCodes kYing{"140622000000", "140622100000", "140622100201"};

class AuthzTest : public ::testing::TestWithParam<testing::ServerStore> {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<Store>> store = Status::Internal("no store");
    if (on_postgres()) {
      std::string db = testing::FreshPostgresDatabase();
      ASSERT_NE(db, "");
      store = Store::OpenPostgres(db);
    } else {
      StoreOptions o;
      o.path = dir_.File("server.db");
      store = Store::Open(o, "server key for the test");
    }
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    FormStore forms(store->get());
    ASSERT_TRUE(forms.InstallFile(std::string(TIANYE_FORMS_DIR) + "/toilet.json").has_value());
    Accounts accounts(store->get());
    for (auto [name, role, area] : std::vector<std::tuple<const char*, const char*, const char*>>{
             {"insp", "inspector", "140622000000"}, {"surv", "surveyor", "140622000000"},
             {"sup", "supervisor", "140622000000"}, {"adm", "admin", "*"}, {"other", "supervisor", "140623000000"}}) {
      ASSERT_TRUE(accounts.Add({name, "", role, {area}, false}, std::string(name) + "-password").ok());
    }
    app_ = std::make_unique<ServerApp>(std::move(*store));
    for (const char* name : {"insp", "surv", "sup", "adm", "other"}) tokens_[name] = Login(name);

    // The inspector's device pushes one finalized toilet record of 应县.
    StoreOptions co;
    co.path = dir_.File("device.db");
    auto device = Store::Open(co, "device key");
    ASSERT_TRUE(device.has_value());
    NewRecord nr;
    nr.form_id = "toilet";
    nr.form_version = "2026.1";
    nr.author = "insp";
    nr.status = RecordStatus::kFinalized;
    nr.area = kYing;
    nr.values_json = R"({"hh_head_name": "张德明", "id_card": "140622197001011234"})";
    auto rec = RecordStore(device->get()).Create(nr);
    ASSERT_TRUE(rec.has_value());
    id_ = rec->id;
    auto batch = SyncReplica(device->get()).NextBatch(500);
    ASSERT_TRUE(batch.has_value() && batch->has_value());
    json login = json::parse(Call("POST", "/v1/login", "", json{{"username", "insp"}, {"password", "insp-password"},
                                                                 {"device_id", (*batch)->device_id}}.dump()).body);
    auto pushed = Call("POST", "/v1/sync/push", login["token"], EncodePushBatch(**batch));
    ASSERT_EQ(pushed.status, 200) << pushed.body;
  }

  std::string Login(const std::string& name) {
    auto r = Call("POST", "/v1/login", "", json{{"username", name}, {"password", name + "-password"},
                                                 {"device_id", "web-" + name}}.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body).value("token", "");
  }

  http::Response Call(const std::string& method, const std::string& target, const std::string& token,
                      const std::string& body = "") {
    http::Request r;
    r.method = method;
    r.target = target;
    EXPECT_TRUE(http::ParseTarget(target, &r.path, &r.query).ok()) << target;
    if (!token.empty()) r.headers["authorization"] = "Bearer " + token;
    r.body = body;
    http::Response res = app_->Handle(r);
    if (!res.body_file.empty()) {
      res.body = testing::ReadBytes(res.body_file);
      if (res.remove_body_file) std::filesystem::remove(res.body_file);
    }
    return res;
  }

  static std::string Header(const http::Response& r, const std::string& name) {
    for (const auto& [key, value] : r.headers) {
      if (key == name) return value;
    }
    return "";
  }

  bool on_postgres() const { return GetParam() == testing::ServerStore::kPostgres; }

  testing::TempDir dir_;
  std::unique_ptr<ServerApp> app_;
  std::map<std::string, std::string> tokens_;
  std::string id_;
};
INSTANTIATE_TEST_SUITE_P(Stores, AuthzTest, testing::BothServerStores(), testing::ServerStoreName);

TEST_P(AuthzTest, EveryReviewRouteForEveryRole) {
  struct Route {
    std::string method, target, body;
    std::map<std::string, int> expect;  // user -> status
  };
  const std::string review = json{{"status", "has_issues"}, {"comment", "请核实"}}.dump();
  const std::vector<Route> routes = {
      {"GET", "/v1/review/records", "", {{"insp", 403}, {"surv", 403}, {"sup", 200}, {"adm", 200}, {"other", 200}}},
      {"GET", "/v1/records/" + id_, "", {{"insp", 403}, {"surv", 403}, {"sup", 200}, {"adm", 200}, {"other", 404}}},
      {"GET", "/v1/review/conflicts", "", {{"insp", 403}, {"surv", 403}, {"sup", 200}, {"adm", 200}, {"other", 200}}},
      {"GET", "/v1/review/dashboard", "", {{"insp", 403}, {"surv", 403}, {"sup", 200}, {"adm", 200}, {"other", 200}}},
      {"GET", "/v1/export/records.csv?form=toilet", "",
       {{"insp", 403}, {"surv", 403}, {"sup", 200}, {"adm", 200}, {"other", 200}}},
      {"GET", "/v1/export/records.geojson", "",
       {{"insp", 403}, {"surv", 403}, {"sup", 200}, {"adm", 200}, {"other", 200}}},
      {"GET", "/v1/export/records.xlsx?form=toilet", "",
       {{"insp", 403}, {"surv", 403}, {"sup", 200}, {"adm", 200}, {"other", 200}}},
      {"GET", "/v1/export/photos.zip", "", {{"insp", 403}, {"surv", 403}, {"sup", 200}, {"adm", 200}, {"other", 200}}},
      {"GET", "/v1/admin/users", "", {{"insp", 403}, {"surv", 403}, {"sup", 403}, {"adm", 200}, {"other", 403}}},
      {"GET", "/v1/admin/forms", "", {{"insp", 403}, {"surv", 403}, {"sup", 403}, {"adm", 200}, {"other", 403}}},
      {"POST", "/v1/admin/users",
       json{{"username", "qian"}, {"role", "inspector"}, {"scope", {"140623000000"}}, {"password", "qian-password"}}.dump(),
       {{"insp", 403}, {"surv", 403}, {"sup", 403}, {"other", 403}, {"adm", 201}}},
      {"POST", "/v1/admin/users/insp", json{{"role", "admin"}}.dump(),
       {{"insp", 403}, {"surv", 403}, {"sup", 403}, {"other", 403}}},
      {"POST", "/v1/admin/forms", "{}", {{"insp", 403}, {"surv", 403}, {"sup", 403}, {"other", 403}, {"adm", 400}}},
      {"GET", "/v1/admin/priority-list", "", {{"insp", 403}, {"surv", 403}, {"sup", 403}, {"adm", 200}, {"other", 403}}},
      {"POST", "/v1/admin/priority-list", "hh_key,category\n140623100201-1,dibao\n",
       {{"insp", 403}, {"surv", 403}, {"sup", 403}, {"other", 403}, {"adm", 200}}},
      {"POST", "/v1/records/" + id_ + "/review", review,
       {{"insp", 403}, {"surv", 403}, {"other", 404}, {"sup", 200}, {"adm", 200}}},
      {"GET", "/v1/sync/pull", "", {{"insp", 200}, {"surv", 200}, {"sup", 200}, {"adm", 200}, {"other", 200}}},
      {"GET", "/v1/forms/toilet/2026.1", "", {{"insp", 200}, {"surv", 200}, {"sup", 200}, {"adm", 200}, {"other", 200}}},
      {"GET", "/v1/records/" + id_ + "/files/" + std::string(64, 'b'), "",
       {{"insp", 404}, {"surv", 404}, {"sup", 404}, {"adm", 404}, {"other", 404}}},
      {"POST", "/v1/blobs", json{{"sha256", std::string(64, 'a')}, {"size", 10}, {"mime", "image/jpeg"}}.dump(),
       {{"sup", 403}, {"other", 403}}},
  };
  for (const Route& route : routes) {
    EXPECT_EQ(Call(route.method, route.target, "", route.body).status, 401) << route.target << " without a token";
    for (const auto& [user, status] : route.expect) {
      http::Response r = Call(route.method, route.target, tokens_.at(user), route.body);
      EXPECT_EQ(r.status, status) << route.method << " " << route.target << " as " << user << ": " << r.body;
      if (status == 403) {
        EXPECT_NE(r.body.find("forbidden"), std::string::npos) << r.body;
      }
    }
  }
}

TEST_P(AuthzTest, AnotherCountysRecordIsInNoListCountExportOrFigure) {
  const std::string other = tokens_.at("other");
  EXPECT_EQ(json::parse(Call("GET", "/v1/review/records", other).body)["total"], 0);
  EXPECT_EQ(json::parse(Call("GET", "/v1/review/records", tokens_.at("sup")).body)["total"], 1);
  json dash = json::parse(Call("GET", "/v1/review/dashboard", other).body);
  EXPECT_EQ(dash["total"]["toilet"]["records"], 0) << dash.dump();
  EXPECT_EQ(json::parse(Call("GET", "/v1/review/dashboard", tokens_.at("sup")).body)["total"]["toilet"]["records"], 1);
  std::string csv = Call("GET", "/v1/export/records.csv?form=toilet", other).body;
  EXPECT_EQ(csv.find(id_), std::string::npos);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1) << "the header only";
  for (const char* target : {"/v1/export/records.xlsx?form=toilet", "/v1/export/photos.zip",
                             "/v1/export/records.geojson"}) {
    http::Response r = Call("GET", target, other);
    EXPECT_EQ(r.status, 200) << target;
    EXPECT_EQ(Header(r, "X-Record-Count"), "0") << target;
    EXPECT_EQ(r.body.find(id_), std::string::npos) << target;
  }
  // (The record has no GPS point, so only the other two count it.)
  for (const char* target : {"/v1/export/records.xlsx?form=toilet", "/v1/export/photos.zip"}) {
    EXPECT_EQ(Header(Call("GET", target, tokens_.at("sup")), "X-Record-Count"), "1") << target;
  }
  EXPECT_EQ(Call("GET", "/v1/sync/pull", other).body.find(id_), std::string::npos);
  // Nothing the other county's supervisor tried changed the record.
  json rec = json::parse(Call("GET", "/v1/records/" + id_, tokens_.at("sup")).body);
  EXPECT_EQ(rec["record"]["status"], "finalized");
}

TEST_P(AuthzTest, SensitiveAnswersAreMaskedInExportsButForAdmins) {
  std::string sup = Call("GET", "/v1/export/records.csv?form=toilet", tokens_.at("sup")).body;
  EXPECT_EQ(sup.find("140622197001011234"), std::string::npos);
  EXPECT_NE(sup.find("***"), std::string::npos);
  EXPECT_NE(sup.find("张德明"), std::string::npos);
  std::string adm = Call("GET", "/v1/export/records.csv?form=toilet", tokens_.at("adm")).body;
  EXPECT_NE(adm.find("140622197001011234"), std::string::npos);
}

// The villages' household counts in the forms' villages.csv reach the pages
// (the dashboard's B3 denominator); a blank or a word in the column gives
// no count rather than a wrong one.
TEST(AreasTest, VillagesCarryTheirHouseholdCountsWhereTheListGivesThem) {
  testing::TempDir dir;
  StoreOptions o;
  o.path = dir.File("server.db");
  auto store = Store::Open(o, "server key for the test");
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto read = [](const std::string& name) {
    std::ifstream in(std::string(TIANYE_FORMS_DIR) + "/" + name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  std::map<std::string, std::string> files;
  for (const char* f : {"counties.csv", "towns.csv", "units.csv"}) files[f] = read(f);
  files["villages.csv"] =
      "name,label::zh,town,ur_class,hh_registered,hh_resident,seismic_pga,seismic_intensity,frost_depth_cm\n"
      "140622100201,东关村,140622100,,412,367,,,\n"
      "140622100202,西关村,140622100,,,,,,\n"
      "140622100203,南关村,140622100,,约300,,,,\n";
  auto installed = FormStore(store->get()).Install(read("toilet.json"), files);
  ASSERT_TRUE(installed.has_value()) << installed.error().ToString();
  ASSERT_TRUE(Accounts(store->get()).Add({"sup", "", "supervisor", {"140622000000"}, false}, "sup-password").ok());
  ServerApp app(std::move(*store));
  auto call = [&](const std::string& method, const std::string& target, const std::string& token,
                  const std::string& body) {
    http::Request r;
    r.method = method;
    r.target = target;
    EXPECT_TRUE(http::ParseTarget(target, &r.path, &r.query).ok());
    if (!token.empty()) r.headers["authorization"] = "Bearer " + token;
    r.body = body;
    return app.Handle(r);
  };
  auto login = call("POST", "/v1/login", "", json{{"username", "sup"}, {"password", "sup-password"},
                                                    {"device_id", "web"}}.dump());
  ASSERT_EQ(login.status, 200) << login.body;
  auto areas = call("GET", "/v1/areas", json::parse(login.body)["token"], "");
  ASSERT_EQ(areas.status, 200) << areas.body;
  std::map<std::string, json> villages;
  const json listed = json::parse(areas.body);
  for (const json& v : listed["villages"]) villages[v["code"]] = v;
  ASSERT_EQ(villages.size(), 3u);
  EXPECT_EQ(villages["140622100201"]["hh_registered"], 412);
  EXPECT_EQ(villages["140622100201"]["hh_resident"], 367);
  EXPECT_EQ(villages["140622100201"]["name"], "东关村");
  EXPECT_FALSE(villages["140622100202"].contains("hh_registered"));
  EXPECT_FALSE(villages["140622100203"].contains("hh_registered"));
}

}  // namespace
}  // namespace tianye::server
