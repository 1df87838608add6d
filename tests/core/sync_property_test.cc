// Property tests of sync and merge: several devices make random edit
// histories (same field, different fields, repeat instances, deletes and
// restores), push and pull in random orders with lost answers, duplicated
// deliveries, re-batching and crashed pulls, while a reviewer resolves
// conflicts. Each run checks:
//  - the server agrees op by op with a small reference model of the merge
//    rules (outcome, version, final values and conflict sets);
//  - every device ends identical to the server, with the same conflicts;
//  - no value is lost: each pushed value is current, in a conflict, or was
//    superseded by an edit that saw it (or by its own device's later edit).
// A failure prints the seed; rerun one with TIANYE_SYNC_SEED=<seed>.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "sync_testing.h"

namespace tianye {
namespace {

using nlohmann::json;
using testing::SyncWorld;

// ------------------------------------------------------------ the model

// The merge rules, written down as plainly as possible, independent of the
// ledger's SQL.
class Model {
 public:
  struct Cand {
    std::optional<std::string> value;
    std::string device;
    uint64_t hlc = 0;
    auto operator<=>(const Cand&) const = default;
  };
  struct Field {
    bool exists = false;
    std::optional<std::string> value;
    int64_t version = 0;
    std::string device;
    uint64_t hlc = 0;
  };
  using Key = std::pair<std::string, std::string>;  // record, field
  struct Conf {
    Key key;
    bool open = true;
    std::vector<Cand> cands;
    int64_t version = 0;
  };

  // Returns (outcome, version) as the server should answer.
  std::pair<std::string, int64_t> Apply(const FieldOp& op, const std::string& device, int64_t now) {
    uint64_t hlc = op.hlc;
    if (Hlc::Millis(hlc) > now + kMaxClockAheadMs) hlc = Hlc::Pack(now, 0);
    Cand in{op.value, device, hlc};
    const std::string& rec = op.record_id;
    Field& del = fields_[{rec, "@deleted"}];
    bool deleted_now = del.exists && del.value == std::optional<std::string>("1");
    if (op.field == "@deleted" && op.value == std::optional<std::string>("1") && !deleted_now) {
      std::optional<Cand> keeper;
      if (del.exists && del.version > op.base_version && del.device != device) {
        keeper = Cand{std::nullopt, del.device, del.hlc};  // restored meanwhile
      } else {
        for (const Write& w : writes_) {  // edited meanwhile: the latest such edit
          if (w.record == rec && w.field != "@deleted" && w.version > op.base_version && w.device != device) {
            keeper = Cand{std::nullopt, w.device, w.hlc};
          }
        }
      }
      if (keeper) return {"conflict", ContestDelete(rec, in, *keeper, device)};
    } else if (op.field != "@deleted") {
      if (deleted_now && del.device != device) {
        ContestDelete(rec, Cand{del.value, del.device, del.hlc}, Cand{std::nullopt, device, hlc}, device);
      }
    }
    Key key{rec, op.field};
    Field& cur = fields_[key];
    std::vector<const Write*> since;
    bool unknown_base = cur.exists && op.base_version > cur.version;
    if (cur.exists && !unknown_base) {
      for (const Write& w : writes_) {
        if (w.record == rec && w.field == op.field && w.version > op.base_version) since.push_back(&w);
      }
    }
    bool only_own = true;
    for (const Write* w : since) only_own = only_own && w->device == device;
    if (unknown_base) only_own = cur.device == device;
    bool empty = since.empty() && !unknown_base;
    if (!empty && op.value == cur.value) {
      ++seq_;
      return {"convergent", cur.version};
    }
    if (empty || only_own) {
      int64_t v = Set(key, in, device);
      auto it = open_.find(key);
      if (it != open_.end()) {
        Put(&conflicts_[it->second].cands, in);
        conflicts_[it->second].version = v;
      }
      return {"applied", v};
    }
    // Conflict.
    auto it = open_.find(key);
    if (it == open_.end()) {
      conflicts_.push_back({key, true, {Cand{cur.value, cur.device, cur.hlc}}, 0});
      it = open_.emplace(key, conflicts_.size() - 1).first;
    }
    Conf& c = conflicts_[it->second];
    Put(&c.cands, in);
    const Cand& w = *std::max_element(c.cands.begin(), c.cands.end(), [](const Cand& a, const Cand& b) {
      return std::tie(a.hlc, a.device, a.value) < std::tie(b.hlc, b.device, b.value);
    });
    c.version = Set(key, w, device);
    return {"conflict", c.version};
  }

  void Resolve(const Key& key, const std::optional<std::string>& value, int64_t now) {
    auto it = open_.find(key);
    ASSERT_NE(it, open_.end());
    conflicts_[it->second].open = false;
    open_.erase(it);
    Set(key, Cand{value, "server", Hlc::Pack(now, 0)}, "server");
  }

  const std::map<Key, Field>& fields() const { return fields_; }
  // (record, field, open) -> candidate sets, for comparing with the ledger.
  std::multiset<std::tuple<std::string, std::string, bool, std::set<Cand>>> ConflictSet() const {
    std::multiset<std::tuple<std::string, std::string, bool, std::set<Cand>>> out;
    for (const Conf& c : conflicts_) {
      out.insert({c.key.first, c.key.second, c.open, std::set<Cand>(c.cands.begin(), c.cands.end())});
    }
    return out;
  }

 private:
  struct Write {
    std::string record, field;
    int64_t version;
    std::string device;  // whose op caused it
    uint64_t hlc;
  };

  static void Put(std::vector<Cand>* cands, const Cand& c) {
    std::erase_if(*cands, [&](const Cand& k) { return k.device == c.device; });
    cands->push_back(c);
  }

  int64_t Set(const Key& key, const Cand& by, const std::string& cause) {
    Field& f = fields_[key];
    f = {true, by.value, ++seq_, by.device, by.hlc};
    writes_.push_back({key.first, key.second, seq_, cause, by.hlc});
    return seq_;
  }

  int64_t ContestDelete(const std::string& rec, const Cand& deleter, const Cand& keeper, const std::string& cause) {
    Key key{rec, "@deleted"};
    auto it = open_.find(key);
    if (it == open_.end()) {
      conflicts_.push_back({key, true, {}, 0});
      it = open_.emplace(key, conflicts_.size() - 1).first;
    }
    Conf& c = conflicts_[it->second];
    for (const Cand& k : {deleter, keeper}) {
      bool present = false;
      for (const Cand& x : c.cands) present = present || (x.device == k.device && x.value == k.value);
      if (!present) c.cands.push_back(k);
    }
    c.version = Set(key, keeper, cause);
    return c.version;
  }

  int64_t seq_ = 0;
  std::map<Key, Field> fields_;
  std::vector<Write> writes_;
  std::vector<Conf> conflicts_;
  std::map<Key, size_t> open_;
};

// ------------------------------------------------------------ the run

struct Applied {
  FieldOp op;
  std::string device;
  std::string outcome;
  int64_t version;
};

class Run {
 public:
  Run(uint64_t seed, int devices, int steps, testing::ServerStore where)
      : rng_(seed), w_(devices, Skews(seed, devices), where), steps_(steps) {}

  void Go() {
    for (int step = 0; step < steps_ && !::testing::Test::HasFatalFailure(); ++step) Step(step);
    // Quiesce: everything pushed, everything pulled.
    for (int round = 0; round < 2; ++round) {
      for (int i = 0; i < w_.size(); ++i) {
        for (int guard = 0; guard < 200; ++guard) {
          auto batch = w_.device(i).replica->NextBatch(Pick(1, 7));
          ASSERT_TRUE(batch.has_value());
          if (!*batch) break;
          Push(i, **batch, false, false);
        }
      }
      for (int i = 0; i < w_.size(); ++i) {
        for (int guard = 0; guard < 100000; ++guard) {
          auto more = w_.PullOnce(i, Pick(1, 9));
          ASSERT_TRUE(more.has_value()) << more.error().ToString();
          if (!*more) break;
        }
      }
    }
    Check();
  }

 private:
  static std::vector<int64_t> Skews(uint64_t seed, int devices) {
    // One device in three runs a week fast or slow.
    std::vector<int64_t> skews(static_cast<size_t>(devices), 0);
    constexpr int64_t kWeek = 7LL * 24 * 3600 * 1000;
    if (seed % 3 == 0) skews[0] = kWeek;
    if (seed % 3 == 1) skews[0] = -kWeek;
    return skews;
  }

  int Pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(int percent) { return Pick(1, 100) <= percent; }

  std::vector<std::string> LocalRecords(int i, bool deleted) {
    RecordFilter f;
    f.deleted = deleted ? RecordFilter::Deleted::kOnly : RecordFilter::Deleted::kExclude;
    std::vector<std::string> ids;
    auto list = w_.device(i).records->List(f);
    EXPECT_TRUE(list.has_value());
    for (const Record& r : *list) ids.push_back(r.id);
    return ids;
  }

  std::string Value(int step, int dev) {
    if (Chance(10)) return "same";  // convergent edits happen
    return "d" + std::to_string(dev) + "s" + std::to_string(step);
  }

  void Step(int step) {
    int d = Pick(0, w_.size() - 1);
    int roll = Pick(1, 100);
    std::vector<std::string> mine = LocalRecords(d, false);
    if (roll <= 8 || (mine.empty() && roll <= 45)) {
      w_.NewRecord(d, json{{"a", Value(step, d)}}.dump());
    } else if (roll <= 45) {
      const std::string& id = mine[static_cast<size_t>(Pick(0, static_cast<int>(mine.size()) - 1))];
      int what = Pick(1, 10);
      std::string v = Value(step, d);
      if (what <= 6) {
        w_.Set(d, id, Chance(50) ? "a" : "b", v);
      } else if (what <= 8) {
        w_.Change(d, id, [&](json& j) {
          if (!j.contains("r")) j["r"] = json::array();
          j["r"].push_back({{"_id", "i" + std::to_string(d) + "-" + std::to_string(step)}, {"x", v}});
        });
      } else if (what == 9) {
        w_.Change(d, id, [&](json& j) {
          if (j.contains("r") && !j["r"].empty()) j["r"][0]["x"] = v;
        });
      } else {
        w_.Change(d, id, [&](json& j) {
          if (j.contains("r") && !j["r"].empty()) j["r"].erase(0);
        });
      }
    } else if (roll <= 49) {
      if (!mine.empty()) {
        ASSERT_TRUE(w_.device(d).records->Delete(mine[0]).ok());
      }
    } else if (roll <= 51) {
      auto gone = LocalRecords(d, true);
      if (!gone.empty()) {
        ASSERT_TRUE(w_.device(d).records->Restore(gone[0]).ok());
      }
    } else if (roll <= 73) {
      auto batch = w_.device(d).replica->NextBatch(Pick(1, 6));
      ASSERT_TRUE(batch.has_value()) << batch.error().ToString();
      if (!*batch) return;
      if (Chance(30)) {
        // As the client does: the next batch numbered while this one is
        // in flight, then sent after its answer, or never (a cut sync
        // leaves it numbered for the next NextBatch).
        auto next = w_.device(d).replica->NextBatchAfter(**batch, Pick(1, 6));
        ASSERT_TRUE(next.has_value()) << next.error().ToString();
        Push(d, **batch, Chance(15), Chance(10));
        if (*next && Chance(70)) Push(d, **next, Chance(15), Chance(10));
      } else {
        Push(d, **batch, Chance(15), Chance(10));
      }
    } else if (roll <= 93) {
      auto more = w_.PullOnce(d, Pick(1, 8), Chance(10));
      ASSERT_TRUE(more.has_value()) << more.error().ToString();
    } else if (roll <= 96) {
      ResolveSomething();
    } else {
      w_.clock().Advance(Pick(0, 5000));
    }
  }

  void Push(int d, const PushBatch& batch, bool lose_answer, bool deliver_twice) {
    Device& dev = w_.device(d);
    auto decoded = DecodePushBatch(EncodePushBatch(batch));
    ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
    int64_t now = w_.clock().NowMillis();
    auto result = w_.ledger().Push(dev.who, *decoded);
    ASSERT_TRUE(result.has_value()) << result.error().ToString();
    int64_t& last = last_[dev.who.device_id];
    for (size_t k = 0; k < batch.ops.size(); ++k) {
      const FieldOp& op = batch.ops[k];
      ASSERT_LT(k, result->outcomes.size());
      const OpOutcome& got = result->outcomes[k];
      if (op.push_seq <= last) {
        int64_t first_answer = seen_[{dev.who.device_id, op.push_seq}];
        EXPECT_EQ(got.version, first_answer) << "a re-push answered differently";
        continue;
      }
      auto [outcome, version] = model_.Apply(op, dev.who.device_id, now);
      EXPECT_EQ(got.outcome, outcome) << op.record_id << " " << op.field;
      EXPECT_EQ(got.version, version) << op.record_id << " " << op.field;
      seen_[{dev.who.device_id, op.push_seq}] = got.version;
      applied_.push_back({op, dev.who.device_id, got.outcome, got.version});
      last = op.push_seq;
    }
    if (deliver_twice) {
      auto again = w_.ledger().Push(dev.who, *decoded);
      ASSERT_TRUE(again.has_value());
      EXPECT_EQ(EncodePushResult(*again), EncodePushResult(*result));
    }
    if (!lose_answer) {
      ASSERT_TRUE(dev.replica->ApplyPushResult(batch, *result).ok());
    }
  }

  void ResolveSomething() {
    auto all = w_.ledger().Conflicts("");
    ASSERT_TRUE(all.has_value());
    for (const Conflict& c : *all) {
      if (c.state != "open") continue;
      const Candidate& pick = c.candidates[static_cast<size_t>(Pick(0, static_cast<int>(c.candidates.size()) - 1))];
      Principal sup{"reviewer", "supervisor", "web", {"*"}};
      int64_t now = w_.clock().NowMillis();
      auto done = w_.ledger().Resolve(sup, c.id, pick.value, c.version, "");
      ASSERT_TRUE(done.has_value()) << done.error().ToString();
      model_.Resolve({c.record_id, c.field}, pick.value, now);
      resolved_.insert({c.record_id, c.field});
      return;
    }
  }

  // What the server applied to one record, for a failure message.
  void Dump(const std::string& record_id) {
    auto conflicts = w_.ledger().Conflicts(record_id);
    for (const Conflict& c : *conflicts) {
      std::cerr << "  conflict " << c.field << " " << c.state << " v" << c.version << ":";
      for (const Candidate& k : c.candidates) std::cerr << " " << k.device_id.substr(k.device_id.size() > 6 ? k.device_id.size() - 6 : 0) << "=" << k.value.value_or("(null)");
      std::cerr << " " << c.resolution_json << "\n";
    }
    for (const Applied& b : applied_) {
      if (b.op.record_id != record_id) continue;
      std::cerr << "  " << b.device.substr(b.device.size() > 6 ? b.device.size() - 6 : 0) << " #" << b.op.push_seq << " " << b.op.field << "="
                << b.op.value.value_or("(null)") << " base " << b.op.base_version << " -> " << b.outcome << " v"
                << b.version << "\n";
    }
  }

  void Check() {
    Connection& server = internal::StoreAccess::Conn(w_.server());
    // 1. The server's fields are the model's.
    std::map<Model::Key, std::pair<std::optional<std::string>, int64_t>> real;
    {
      auto s = server.Prepare("SELECT r.record_id, f.field, f.value, f.version FROM server_fields f "
                              "JOIN server_records r ON r.rid = f.rid");
      ASSERT_TRUE(s.has_value());
      while (*s->Step()) {
        real[{s->Text(0), s->Text(1)}] = {s->IsNull(2) ? std::nullopt : std::optional(s->Text(2)), s->Int(3)};
      }
    }
    std::map<Model::Key, std::pair<std::optional<std::string>, int64_t>> expected;
    for (const auto& [k, f] : model_.fields()) {
      if (f.exists) expected[k] = {f.value, f.version};
    }
    EXPECT_EQ(real, expected);
    // 2. The conflict sets match.
    std::multiset<std::tuple<std::string, std::string, bool, std::set<Model::Cand>>> conflicts;
    auto all = w_.ledger().Conflicts("");
    ASSERT_TRUE(all.has_value());
    for (const Conflict& c : *all) {
      std::set<Model::Cand> cands;
      for (const Candidate& k : c.candidates) cands.insert({k.value, k.device_id, k.hlc});
      conflicts.insert({c.record_id, c.field, c.state == "open", cands});
    }
    EXPECT_EQ(conflicts, model_.ConflictSet());
    // 3. Every device shows what the server has, with the same conflicts.
    std::set<std::string> ids;
    for (const auto& [k, v] : real) ids.insert(k.first);
    // string_agg with its order: SQLite and PostgreSQL both have it.
    constexpr char kConflictsSql[] =
        "SELECT coalesce(string_agg(id || state || version || candidates, '|' ORDER BY id), '') FROM conflicts";
    auto server_conflicts = server.QueryText(kConflictsSql);
    ASSERT_TRUE(server_conflicts.has_value()) << server_conflicts.error().ToString();
    for (int i = 0; i < w_.size(); ++i) {
      SCOPED_TRACE("device " + std::to_string(i));
      EXPECT_EQ(w_.device(i).replica->PendingOps().value(), 0);
      for (const std::string& id : ids) {
        EXPECT_EQ(w_.DeviceFields(i, id), w_.ServerFields(id)) << id;
        if (w_.DeviceFields(i, id) != w_.ServerFields(id)) Dump(id);
      }
      RecordFilter everything;
      everything.deleted = RecordFilter::Deleted::kInclude;
      EXPECT_EQ(w_.device(i).records->Count(everything).value(), static_cast<int64_t>(ids.size()));
      auto theirs = internal::StoreAccess::Conn(*w_.device(i).store).QueryText(kConflictsSql);
      EXPECT_EQ(*theirs, *server_conflicts);
    }
    // 4. Nothing lost.
    for (size_t n = 0; n < applied_.size(); ++n) {
      const Applied& a = applied_[n];
      if (a.outcome == "convergent") continue;
      Model::Key key{a.op.record_id, a.op.field};
      bool kept = real.count(key) && real[key].first == a.op.value;
      for (const Conflict& c : *all) {
        if (c.record_id != key.first || c.field != key.second) continue;
        for (const Candidate& k : c.candidates) kept = kept || (k.device_id == a.device && k.value == a.op.value);
      }
      for (size_t m = n + 1; m < applied_.size() && !kept; ++m) {
        const Applied& b = applied_[m];
        if (b.op.record_id != key.first || b.op.field != key.second) continue;
        kept = b.op.base_version >= a.version || b.device == a.device;
      }
      if (!kept) Dump(key.first);
      EXPECT_TRUE(kept) << "lost: " << a.device << " set " << key.first << " " << key.second << " to "
                        << a.op.value.value_or("(removed)") << " at version " << a.version;
    }
  }

  using Device = testing::Device;
  using Connection = internal::Connection;
  std::mt19937_64 rng_;
  SyncWorld w_;
  int steps_;
  Model model_;
  std::map<std::string, int64_t> last_;
  std::map<std::pair<std::string, int64_t>, int64_t> seen_;
  std::vector<Applied> applied_;
  std::set<Model::Key> resolved_;
};

void RunMany(int cases, int steps, testing::ServerStore where = testing::ServerStore::kSqlite) {
  uint64_t first = 1;
  if (const char* s = std::getenv("TIANYE_SYNC_SEED")) {
    first = std::strtoull(s, nullptr, 10);
    cases = 1;
  }
  for (uint64_t seed = first; seed < first + static_cast<uint64_t>(cases); ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun: TIANYE_SYNC_SEED=" + std::to_string(seed) + ")");
    int devices = 3 + static_cast<int>(seed % 3);
    Run(seed, devices, steps, where).Go();
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(SyncPropertyTest, RandomHistoriesConvergeAndLoseNothing) { RunMany(40, 60); }

TEST(SyncPropertySlowTest, ThousandsOfRandomHistories) { RunMany(1000, 100); }

// The same with the server's ledger in PostgreSQL (a database per case).
TEST(SyncPropertyTest, RandomHistoriesConvergeOnPostgres) { RunMany(20, 60, testing::ServerStore::kPostgres); }

TEST(SyncPropertySlowTest, HundredsOfRandomHistoriesOnPostgres) {
  RunMany(200, 100, testing::ServerStore::kPostgres);
}

}  // namespace
}  // namespace tianye
