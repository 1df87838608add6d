// Pieces shared by the sync tests: a server ledger and several devices, each
// on its own real store file, exchanging batches through the JSON codec (the
// same bytes the HTTP API carries).
#ifndef TIANYE_TESTS_CORE_SYNC_TESTING_H_
#define TIANYE_TESTS_CORE_SYNC_TESTING_H_

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "server_stores.h"
#include "store_impl.h"
#include "test_util.h"
#include "tianye/form_store.h"
#include "tianye/record.h"
#include "tianye/sync.h"

namespace tianye::testing {

class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t ms = 1'790'000'000'000) : ms_(ms) {}
  int64_t NowMillis() const override { return ms_.load(); }
  void Advance(int64_t ms) { ms_ += ms; }

 private:
  std::atomic<int64_t> ms_;
};

// A clock `offset` ms away from another one (a device whose clock is wrong).
class SkewedClock final : public Clock {
 public:
  SkewedClock(const Clock* base, int64_t offset) : base_(base), offset_(offset) {}
  int64_t NowMillis() const override { return base_->NowMillis() + offset_; }

 private:
  const Clock* base_;
  int64_t offset_;
};

// Plain (unencrypted) stores: the sync logic is the same code path, and the
// property tests open thousands of them. Encryption has its own tests. A new
// store starts as a copy of one made once per process (building the schema
// step by step was a quarter of the property tests' time); each copy still
// makes its own device id and server epoch when first asked.
inline std::unique_ptr<Store> OpenPlain(const std::string& path, const Clock* clock) {
  static const TempDir template_dir;
  static const std::string kTemplate = [] {
    StoreOptions o;
    o.path = template_dir.File("template.db");
    auto made = internal::OpenUnencryptedForBenchmark(o);
    EXPECT_TRUE(made.has_value()) << made.error().ToString();
    return o.path;  // complete once closed: the last connection checkpoints its WAL
  }();
  if (!Exists(path)) WriteBytes(path, ReadBytes(kTemplate));
  StoreOptions o;
  o.path = path;
  o.clock = clock;
  auto store = internal::OpenUnencryptedForBenchmark(o);
  EXPECT_TRUE(store.has_value()) << store.error().ToString();
  // Durability is tested elsewhere; these stores live for one test.
  (void)internal::StoreAccess::Conn(**store).Exec("PRAGMA synchronous = OFF");
  return std::move(*store);
}

inline constexpr char kTestForm[] = R"({"settings": {"form_id": "t", "version": "1"},
  "survey": [{"type": "text", "name": "a"}, {"type": "text", "name": "b"},
             {"type": "select_multiple kinds", "name": "kinds"},
             {"type": "begin_repeat", "name": "r"}, {"type": "text", "name": "x"},
             {"type": "end_repeat"}],
  "choices": [{"list_name": "kinds", "name": "tank", "label::zh": "三格化粪池式", "label::en": "Septic tank"},
              {"list_name": "kinds", "name": "pit", "label::zh": "旱厕", "label::en": "Dry pit"}]})";

struct Device {
  std::unique_ptr<SkewedClock> clock;
  std::unique_ptr<Store> store;
  std::unique_ptr<SyncReplica> replica;
  std::unique_ptr<RecordStore> records;
  Principal who;
  // Set by SyncWorld::ConnectOnItsOwn: this device's requests reach the
  // ledger through a connection of their own (another server process).
  std::unique_ptr<Store> server;
  std::unique_ptr<SyncLedger> ledger;
};

// Where the server's ledger lives: a store file, or PostgreSQL.
class SyncWorld {
 public:
  // Record values go in as JSON; `scope` "*" sees everything.
  explicit SyncWorld(int devices, const std::vector<int64_t>& skews = {}, ServerStore where = ServerStore::kSqlite) {
    if (where == ServerStore::kSqlite) {
      server_ = OpenPlain(dir_.File("server.db"), &clock_);
    } else {
      conninfo_ = FreshPostgresDatabase();
      auto pg = Store::OpenPostgres(conninfo_, &clock_);
      EXPECT_TRUE(pg.has_value()) << pg.error().ToString();
      if (pg) server_ = std::move(*pg);
    }
    ledger_ = std::make_unique<SyncLedger>(server_.get());
    FormStore forms(server_.get());
    auto installed = forms.Install(kTestForm, {});
    EXPECT_TRUE(installed.has_value()) << installed.error().ToString();
    for (int i = 0; i < devices; ++i) {
      Device d;
      int64_t skew = i < static_cast<int>(skews.size()) ? skews[i] : 0;
      d.clock = std::make_unique<SkewedClock>(&clock_, skew);
      d.store = OpenPlain(dir_.File("device" + std::to_string(i) + ".db"), d.clock.get());
      d.replica = std::make_unique<SyncReplica>(d.store.get());
      d.records = std::make_unique<RecordStore>(d.store.get());
      d.who.username = "inspector" + std::to_string(i);
      d.who.role = "inspector";
      d.who.device_id = *DeviceId(*d.store);
      d.who.scope = {"*"};
      devices_.push_back(std::move(d));
    }
  }

  // PostgreSQL only: device `i` talks to the ledger through a connection of
  // its own from now on, so that devices may sync from threads of their own
  // at once, as through several server processes.
  Status ConnectOnItsOwn(int i) {
    if (conninfo_.empty()) return Status::FailedPrecondition("only a PostgreSQL server has other connections");
    TIANYE_ASSIGN_OR_RETURN(device(i).server, Store::OpenPostgres(conninfo_, &clock_));
    device(i).ledger = std::make_unique<SyncLedger>(device(i).server.get());
    return Status::Ok();
  }

  ManualClock& clock() { return clock_; }
  Store& server() { return *server_; }
  SyncLedger& ledger() { return *ledger_; }
  Device& device(int i) { return devices_[static_cast<size_t>(i)]; }
  int size() const { return static_cast<int>(devices_.size()); }

  // A finalized record of the test form made on device `i`.
  std::string NewRecord(int i, const std::string& values_json, const AreaCodes& area = {}) {
    tianye::NewRecord nr;
    nr.form_id = "t";
    nr.form_version = "1";
    nr.author = device(i).who.username;
    nr.status = RecordStatus::kFinalized;
    nr.values_json = values_json;
    nr.area = area;
    auto r = device(i).records->Create(nr);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? r->id : "";
  }

  // Changes a record on device `i` through RecordStore, as the field client does.
  void Change(int i, const std::string& id, const std::function<void(nlohmann::json&)>& change) {
    auto r = device(i).records->Get(id);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    nlohmann::json values = nlohmann::json::parse(r->values_json);
    change(values);
    r->values_json = values.dump();
    auto saved = device(i).records->Update(*r);
    ASSERT_TRUE(saved.has_value()) << saved.error().ToString();
  }
  void Set(int i, const std::string& id, const std::string& key, const std::string& value) {
    Change(i, id, [&](nlohmann::json& v) { v[key] = value; });
  }

  // The record on device `i` as fields (what must match the server's).
  FieldMap DeviceFields(int i, const std::string& id) {
    auto r = device(i).records->Get(id);
    if (!r) return {};
    return RecordFields(*r);
  }
  // The server's fields of a record, as a device would show them.
  FieldMap ServerFields(const std::string& id) {
    auto f = ledger_->Fields(id);
    if (!f) return {};
    Record r;
    r.status = RecordStatus::kDraft;
    ApplyFields(*f, &r);
    return RecordFields(r);
  }

  // One push round trip through the codec. Returns the server's error, if any.
  Status PushOnce(int i, size_t max_ops = 500, bool lose_answer = false) {
    Device& d = device(i);
    auto batch = d.replica->NextBatch(max_ops);
    if (!batch) return batch.error();
    if (!*batch) return Status::Ok();
    auto decoded = DecodePushBatch(EncodePushBatch(**batch));
    if (!decoded) return decoded.error();
    auto result = LedgerOf(d).Push(d.who, *decoded);
    if (!result) return result.error();
    if (lose_answer) return Status::Ok();
    auto answer = DecodePushResult(EncodePushResult(*result));
    if (!answer) return answer.error();
    return d.replica->ApplyPushResult(**batch, *answer);
  }

  Status PushAll(int i) {
    for (int guard = 0; guard < 1000; ++guard) {
      auto pending = device(i).replica->PendingOps();
      if (!pending) return pending.error();
      if (*pending == 0 && guard > 0) return Status::Ok();  // the first round may queue old records
      auto before = *pending;
      TIANYE_RETURN_IF_ERROR(PushOnce(i));
      auto after = device(i).replica->PendingOps();
      if (after && *after == before) return Status::Ok();  // only drafts left
    }
    return Status::Internal("push did not finish");
  }

  // One pull page. Returns whether there is more.
  Result<bool> PullOnce(int i, int limit = 500, bool crash_before_apply = false) {
    Device& d = device(i);
    TIANYE_ASSIGN_OR_RETURN(std::string cursor, d.replica->PullCursor());
    TIANYE_ASSIGN_OR_RETURN(PullPage page, LedgerOf(d).Pull(d.who, cursor, limit));
    TIANYE_ASSIGN_OR_RETURN(PullPage decoded, DecodePullPage(EncodePullPage(page)));
    if (crash_before_apply) return true;
    TIANYE_RETURN_IF_ERROR(d.replica->ApplyPullPage(decoded));
    return decoded.has_more;
  }

  Status PullAll(int i, int limit = 500) {
    for (int guard = 0; guard < 100000; ++guard) {
      TIANYE_ASSIGN_OR_RETURN(bool more, PullOnce(i, limit));
      if (!more) return Status::Ok();
    }
    return Status::Internal("pull did not finish");
  }

  Status SyncAll() {
    for (int i = 0; i < size(); ++i) TIANYE_RETURN_IF_ERROR(PushAll(i));
    for (int i = 0; i < size(); ++i) TIANYE_RETURN_IF_ERROR(PullAll(i));
    return Status::Ok();
  }

 private:
  SyncLedger& LedgerOf(Device& d) { return d.ledger ? *d.ledger : *ledger_; }

  TempDir dir_;
  std::string conninfo_;  // the PostgreSQL server's database, if it is one
  ManualClock clock_;
  std::unique_ptr<Store> server_;
  std::unique_ptr<SyncLedger> ledger_;
  std::vector<Device> devices_;
};

}  // namespace tianye::testing

#endif  // TIANYE_TESTS_CORE_SYNC_TESTING_H_
