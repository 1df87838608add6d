// The supervisor's pages against a large encrypted server store: the review
// queue (unfiltered, filtered, searched), a record page, the dashboard, and a
// whole-form CSV export with its memory, through the server's request handler
// (JSON encoding included, no sockets). Records are pushed through the real
// ledger, as devices would.
//
// Usage: review_bench [--records N] [--runs R] [--postgres]   (default 100000
// records, 30 runs, on SQLCipher; --postgres: on a throwaway PostgreSQL)
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "app.h"
#include "pg_cluster.h"
#include "tianye/accounts.h"
#include "tianye/attachment.h"
#include "tianye/form_check.h"
#include "tianye/form_store.h"
#include "tianye/sync.h"
#include "tianye/uuid.h"

namespace {

using Clock = std::chrono::steady_clock;
using tianye::FieldOp;
using tianye::PushBatch;

struct County {
  const char* county;
  const char* town;
  const char* village;
};
constexpr County kAreas[] = {{"140602000000", "140602100000", "140602100201"},
                             {"140603000000", "140603100000", "140603100201"},
                             {"140621000000", "140621100000", "140621100201"},
                             {"140622000000", "140622100000", "140622100201"},
                             {"140623000000", "140623100000", "140623100201"},
                             {"140624000000", "140624100000", "140624100201"},
                             {"140681000000", "140681101000", "140681101200"}};

int64_t RssKib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return 0;
}

// Photo `i`: 40 KB of noise behind a JPEG marker (as incompressible as a
// real photo, for the ZIP).
std::string PhotoBytes(int i) {
  std::string bytes = "\xff\xd8\xff\xe0";
  uint64_t x = 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(i + 1);
  while (bytes.size() < 40 * 1024) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    bytes.push_back(static_cast<char>(x));
  }
  return bytes;
}

int g_photos = 10000;  // records 0 .. g_photos-1 name a photo the server holds

// The fields of record `i` (a realistic spread over the three forms).
std::vector<std::pair<std::string, std::string>> Fields(int i) {
  static const char* kForms[] = {"toilet", "housing", "germplasm"};
  static const char* kGrades[] = {"A", "B", "C", "D"};
  const County& a = kAreas[i % 7];
  std::string form = kForms[i % 3];
  std::vector<std::pair<std::string, std::string>> f = {
      {"@form", form},           {"@form_version", "2026.1"}, {"@county", a.county},
      {"@township", a.town},     {"@village", a.village},     {"@author", "inspector" + std::to_string(i % 40)},
      {"@status", "finalized"},
      {"start", "2026-09-01T10:00:00+08:00"}, {"end", "2026-09-01T10:2" + std::to_string(i % 10) + ":00+08:00"},
      {"gps", "39.6" + std::to_string(i % 10) + " 112.4" + std::to_string(i % 7) + " 1350 6"},
      {"gps_in_area", i % 50 == 0 ? "0" : "1"},
      {"hh_head_name", "户主" + std::to_string(i)},
      {"enum_name", "调查员" + std::to_string(i % 40)},
      // Later records' photos have not reached the server (photos pending).
      {"photo_main", tianye::Sha256Hex(i < g_photos ? PhotoBytes(i) : std::to_string(i)) + ".jpg"}};
  if (form == "toilet") {
    f.insert(f.end(), {{"in_scope", "1"}, {"is_sanitary", i % 6 == 0 ? "0" : "1"}, {"is_harmless", "1"},
                       {"problem_found", i % 4 == 0 ? "1" : "0"}, {"n_overdue", i % 9 == 0 ? "1" : "0"},
                       {"toilet_type", "three_compartment"}, {"problems[p1]", "1"},
                       {"problems[p1]/prob_status", i % 2 ? "fixed" : "pending"},
                       {"problems[p1]/deadline", "2026-10-01"}, {"problems[p1]/fixed_date", i % 3 ? "2026-09-20" : "2026-10-09"},
                       {"renovated", "yes"}, {"in_use", i % 5 ? "normal" : "idle"}, {"problem_open", i % 8 ? "0" : "1"},
                       {"has_toilet", "yes"}, {"emptying_mode", i % 3 ? "village" : "self"},
                       {"manure_fate", "field_treated"}, {"old_latrine", "demolished"}, {"satisfaction", "satisfied"},
                       {"subsidy_yuan", "1000"}, {"hh_paid_yuan", "300"}, {"froze_last_winter", i % 7 ? "no" : "yes"},
                       {"hh_key", std::string(a.village) + "-" + std::to_string(i / 3)}});
  } else if (form == "housing") {
    f.insert(f.end(), {{"grade_final", kGrades[i % 4]}, {"category", i % 3 ? "none" : "dibao"},
                       {"secured", i % 4 < 3 ? "1" : "0"}, {"temp_housing", "stays"}, {"id_card", "14062319700101123X"},
                       {"structure", "brick_wood"}, {"advice", "屋面局部渗漏，建议维修加固"},
                       {"grade_calc", kGrades[(i + i / 7) % 4]}, {"measure_status", "in_progress"},
                       {"survey_date", "2026-09-01"}, {"done_date", "2026-10-15"}, {"seismic_focus", "1"},
                       {"dm_final", "partial"}, {"age_over_30", "1"}, {"site_safety", "safe"}, {"monitor_round", "2026"},
                       {"hh_key", std::string(a.village) + "-" + std::to_string(i / 3)}});
  } else {
    f.insert(f.end(), {{"n_at_risk", i % 2 ? "1" : "0"}, {"sample[s1]", "1"}, {"sample[s1]/res_cat", "crop"},
                       {"sample[s1]/local_name", "平鲁红山荞麦"}, {"remark", "农户自留种，耐旱耐寒"},
                       {"sample[s1]/germplasm_type", "landrace"}, {"sample[s1]/deposit_to", "prov_bank"},
                       {"sample[s1]/photo_main", "a.jpg"}, {"sample[s1]/photo_2", "b.jpg"},
                       {"sample[s1]/latin_name", "Fagopyrum esculentum"}, {"sample[s1]/main_traits", "drought cold"},
                       {"gps_acc", "6"}});
  }
  return f;
}

struct Timing {
  double p50 = 0, p95 = 0;
};
// p50 and p95 of `runs` calls of `f`, after one untimed call that warms the
// page cache of the connection it reads through (as on a running server).
template <class F>
Timing Time(int runs, F f) {
  f();
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    auto t0 = Clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 95 / 100)]};
}

}  // namespace

// Appends the ops of a new record with the answers Fields(i) to `batch`, as
// transaction `txn`, counting on from `*seq` and `*hlc`.
void AddRecord(int i, int64_t txn, int64_t* seq, uint64_t* hlc, PushBatch* batch) {
  const std::string id = tianye::NewUuidV7(*tianye::SystemClock());
  auto fields = Fields(i);
  for (auto& [k, v] : fields) {
    FieldOp op;
    op.push_seq = ++*seq;
    op.txn_id = txn;
    op.record_id = id;
    op.field = k;
    op.value = v;
    op.hlc = ++*hlc;
    op.form_id = fields[0].second;
    op.form_version = "2026.1";
    batch->ops.push_back(std::move(op));
  }
}

int main(int argc, char** argv) {
  int records = 100000, runs = 30;
  bool postgres = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--postgres") postgres = true;
    if (i + 1 == argc) break;
    if (a == "--records") records = std::atoi(argv[i + 1]);
    if (a == "--runs") runs = std::atoi(argv[i + 1]);
    if (a == "--photos") g_photos = std::atoi(argv[i + 1]);
  }
  std::string dir = std::filesystem::temp_directory_path() / ("tianye-review-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  tianye::StoreOptions o;
  o.path = dir + "/server.db";
  o.cache_mib = 64;  // as tianye-server
  // --postgres: a throwaway cluster (with fsync, as a real one) instead.
  std::unique_ptr<tianye::testing::PgCluster> pg;
  std::string conninfo;
  auto open = [&] { return postgres ? tianye::Store::OpenPostgres(conninfo) : tianye::Store::Open(o, "review bench key"); };
  if (postgres) {
    pg = std::make_unique<tianye::testing::PgCluster>(/*durable=*/true);
    conninfo = pg->error().empty() ? pg->NewDatabase("review_bench") : "";
    if (conninfo.empty()) {
      std::fprintf(stderr, "PostgreSQL: %s\n", pg->error().c_str());
      return 1;
    }
  }
  auto store = open();
  if (!store) {
    std::fprintf(stderr, "%s\n", store.error().ToString().c_str());
    return 1;
  }
  tianye::FormStore forms(store->get());
  for (const char* f : {"toilet", "housing", "germplasm"}) {
    if (!forms.InstallFile(std::string(TIANYE_FORMS_DIR) + "/" + f + ".json")) return 1;
  }
  tianye::Accounts accounts(store->get());
  (void)accounts.Add({"zhao", "", "supervisor", {"140600000000"}, false}, "zhao-password");
  (void)accounts.Add({"ying", "", "supervisor", {"140623000000"}, false}, "ying-password");
  (void)accounts.Add({"wang", "", "inspector", {"140600000000"}, false}, "wang-password");
  (void)accounts.Add({"root", "", "admin", {"*"}, false}, "root-password");

  // Load: one device per inspector, batches of 500 ops.
  auto t0 = Clock::now();
  {
    tianye::SyncLedger ledger(store->get());
    tianye::Principal who{"loader", "inspector", tianye::NewUuidV7(*tianye::SystemClock()), {"*"}};
    PushBatch batch;
    batch.device_id = who.device_id;
    int64_t seq = 0;
    uint64_t hlc = tianye::Hlc::Pack(tianye::SystemClock()->NowMillis(), 0);
    auto flush = [&] {
      if (batch.ops.empty()) return;
      auto r = ledger.Push(who, batch);
      if (!r) {
        std::fprintf(stderr, "push: %s\n", r.error().ToString().c_str());
        std::exit(1);
      }
      batch.ops.clear();
    };
    for (int i = 0; i < records; ++i) {
      AddRecord(i, i + 1, &seq, &hlc, &batch);
      if (batch.ops.size() >= 500) flush();
    }
    flush();
  }
  double load_s = std::chrono::duration<double>(Clock::now() - t0).count();
  // PostgreSQL: what autovacuum does within minutes of a bulk load (the
  // load leaves earlier row versions and no statistics behind; right after
  // it, the queue's count read 52 ms instead of 13 at 20,000 records).
  if (postgres) {
    const std::string vacuum = "psql -X -q -h 127.0.0.1 -p " + std::to_string(pg->port()) +
                               " -U tianye -d review_bench -c 'VACUUM ANALYZE'";
    if (std::system(vacuum.c_str()) != 0) {
      std::fprintf(stderr, "%s failed\n", vacuum.c_str());
      return 1;
    }
  }

  // The photos, as the chunked upload's last step stores them.
  g_photos = std::min(g_photos, records);
  auto f0 = Clock::now();
  {
    tianye::AttachmentStore files(store->get());
    tianye::PutOptions put;
    put.mime = "image/jpeg";
    for (int i = 0; i < g_photos; ++i) {
      struct Source : tianye::ByteSource {
        std::string bytes;
        size_t at = 0;
        tianye::Result<size_t> Read(char* buffer, size_t size) override {
          size_t n = std::min(size, bytes.size() - at);
          std::memcpy(buffer, bytes.data() + at, n);
          at += n;
          return n;
        }
      } source;
      source.bytes = PhotoBytes(i);
      if (auto r = files.Put(source, put); !r) {
        std::fprintf(stderr, "photo: %s\n", r.error().ToString().c_str());
        return 1;
      }
    }
  }
  double photos_s = std::chrono::duration<double>(Clock::now() - f0).count();
  const std::string where =
      postgres ? "PostgreSQL" : "an encrypted server store (" + std::to_string(std::filesystem::file_size(o.path) >> 20) + " MiB)";

  auto reader = open();  // as tianye-server's, for exports and the dashboard
  if (!reader) return 1;
  tianye::server::ServerApp app(std::move(*store), std::move(*reader));
  auto call = [&](const std::string& target, const std::string& token) {
    tianye::http::Request r;
    r.method = "GET";
    r.target = target;
    (void)tianye::http::ParseTarget(target, &r.path, &r.query);
    r.headers["authorization"] = "Bearer " + token;
    tianye::http::Response res = app.Handle(r);
    if (res.status != 200) {
      std::fprintf(stderr, "%s -> %d %s\n", target.c_str(), res.status, res.body.c_str());
      std::exit(1);
    }
    if (res.remove_body_file) std::filesystem::remove(res.body_file);
    return res;
  };
  auto login = [&](const std::string& user) {
    tianye::http::Request r;
    r.method = "POST";
    r.target = r.path = "/v1/login";
    r.body = nlohmann::json{{"username", user}, {"password", user + "-password"}, {"device_id", "bench"}}.dump();
    return nlohmann::json::parse(app.Handle(r).body).value("token", "");
  };
  std::string zhao = login("zhao"), ying = login("ying");
  auto first = nlohmann::json::parse(call("/v1/review/records?per_page=1", zhao).body);
  std::string some_id = first["records"][0]["id"];

  std::printf("\nReview pages, %d records on %s, in-process handler, %d runs each\n", records, where.c_str(), runs);
  std::printf("  load through the ledger: %.1f s (%.0f records/s)%s; %d photos of 40 KB stored in %.1f s\n", load_s,
              records / load_s, postgres ? ", then VACUUM ANALYZE" : "", g_photos, photos_s);
  std::printf("  %-58s %9s %9s   %s\n", "", "p50 ms", "p95 ms", "target");
  auto row = [&](const char* what, Timing t, const char* target) {
    std::printf("  %-58s %9.1f %9.1f   %s\n", what, t.p50, t.p95, target);
  };
  row("queue page, unfiltered (50 newest)", Time(runs, [&] { call("/v1/review/records", zhao); }), "p95 < 100");
  row("queue page, form + status + county",
      Time(runs, [&] { call("/v1/review/records?form=housing&status=finalized&area=140623000000", zhao); }),
      "p95 < 100");
  row("queue page 200 of the unfiltered queue",
      Time(runs, [&] { call("/v1/review/records?page=200", zhao); }), "p95 < 100");
  row("queue page, county supervisor", Time(runs, [&] { call("/v1/review/records", ying); }), "p95 < 100");
  row("queue search over answers (q=户主4242)",
      Time(std::max(3, runs / 5), [&] { call("/v1/review/records?q=%E6%88%B7%E4%B8%BB4242", zhao); }), "");
  row("queue search matching every record (q=户主)",
      Time(std::max(3, runs / 5), [&] { call("/v1/review/records?q=%E6%88%B7%E4%B8%BB", zhao); }), "");
  row("record page (answers, history, conflicts)", Time(runs, [&] { call("/v1/records/" + some_id, zhao); }), "");
  row("dashboard, by county", Time(std::max(3, runs / 5), [&] { call("/v1/review/dashboard", zhao); }), "< 300");
  row("dashboard, by inspector",
      Time(std::max(3, runs / 5), [&] { call("/v1/review/dashboard?level=inspector", zhao); }), "");
  row("dashboard, one inspector by month",
      Time(std::max(3, runs / 5), [&] { call("/v1/review/dashboard?level=month&inspector=inspector3", zhao); }), "");
  {
    // C1's denominator: a low-income list as long as the housing records,
    // half of it households that have one (housing record 3m+1 has the key
    // VILLAGE-m), half households not assessed yet.
    std::string csv = "hh_key,category\n";
    const int listed = records / 3;
    for (int m = listed / 2; m < listed / 2 + listed; ++m) {
      csv += std::string(kAreas[(3 * m + 1) % 7].village) + "-" + std::to_string(m) + ",dibao\n";
    }
    tianye::http::Request r;
    r.method = "POST";
    r.target = r.path = "/v1/admin/priority-list";
    r.body = std::move(csv);
    r.headers["authorization"] = "Bearer " + login("root");
    tianye::http::Response res = app.Handle(r);
    if (res.status != 200) {
      std::fprintf(stderr, "list import -> %d %s\n", res.status, res.body.c_str());
      return 1;
    }
    char what[96];
    std::snprintf(what, sizeof what, "dashboard with a low-income list of %d households (C1)", listed);
    row(what, Time(std::max(3, runs / 5), [&] { call("/v1/review/dashboard", zhao); }), "< 300");
  }

  // The server's check of changed records against their forms (tianye-server
  // runs it in the background, 16 records per turn): its cost per record in
  // its three steps, of which reading and writing hold the store's lock,
  // and the queue filtered on its findings while most records still wait
  // for it (the worst case: just after a bulk load).
  const int sample = std::min(records, 2000);
  {
    std::lock_guard<std::mutex> lock(app.mutex());
    tianye::FormStore forms(&app.store());
    tianye::RecordChecker checker(&app.store(), &forms);
    auto c0 = Clock::now();
    auto batch = checker.Take(sample);
    auto c1 = Clock::now();
    if (batch) batch->Check(&app.store().clock());
    auto c2 = Clock::now();
    tianye::Status kept = batch ? checker.Keep(*batch) : batch.error();
    auto c3 = Clock::now();
    if (!kept.ok() || batch->size() == 0) {
      std::fprintf(stderr, "form check: %s\n", kept.ToString().c_str());
      return 1;
    }
    auto us = [&](Clock::time_point a, Clock::time_point b) {
      return 1e6 * std::chrono::duration<double>(b - a).count() / static_cast<double>(batch->size());
    };
    std::printf("  form check: %zu records, us/record: read %.0f, check %.0f, write %.0f "
                "(a background turn of 16 holds the store ~%.1f ms)\n",
                batch->size(), us(c0, c1), us(c1, c2), us(c2, c3), 16e-3 * (us(c0, c1) + us(c2, c3)));
  }
  row("queue page, constraint problems (most records unchecked)",
      Time(runs, [&] { call("/v1/review/records?problems=1", zhao); }), "p95 < 100");

  // Exports: time and the peak RSS each adds, for a tenth of the records and
  // for all (the first ones may include filling the page cache of the
  // connection they read through, at most 64 MiB).
  auto export_row = [&](const std::string& what, const std::string& target) {
    std::atomic<bool> done{false};
    int64_t base = RssKib(), peak = base;
    std::thread sampler([&] {
      while (!done) {
        peak = std::max(peak, RssKib());
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
    auto e0 = Clock::now();
    tianye::http::Response res = call(target, zhao);
    double s = std::chrono::duration<double>(Clock::now() - e0).count();
    done = true;
    sampler.join();
    std::string count;
    for (auto& [k, v] : res.headers) {
      if (k == "X-Record-Count") count = v;
    }
    std::printf("  %-46s %8s records in %6.2f s, RSS +%lld KiB\n", what.c_str(), count.c_str(), s,
                static_cast<long long>(peak - base));
  };
  for (const char* format : {"csv", "xlsx"}) {
    for (const char* q : {"form=housing&area=140623000000", "form=housing"}) {
      export_row(std::string(format) + " export " + q, std::string("/v1/export/records.") + format + "?" + q);
    }
  }
  // Photo ZIPs (stored, not compressed): one county's photos, then every photo.
  export_row("photo ZIP area=140623000000", "/v1/export/photos.zip?area=140623000000");
  export_row("photo ZIP, all", "/v1/export/photos.zip");

  // A device's push while a supervisor exports every housing record: the
  // export reads through its own connection, so the push does not wait for it.
  {
    std::string wang = login("wang");
    std::atomic<bool> exporting{true};
    double export_s = 0;
    std::thread exporter([&] {
      auto e0 = Clock::now();
      call("/v1/export/records.csv?form=housing", zhao);
      export_s = std::chrono::duration<double>(Clock::now() - e0).count();
      exporting = false;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    PushBatch batch;
    batch.device_id = "bench";  // the device wang logged in from
    int64_t push_seq = 0;
    uint64_t hlc = tianye::Hlc::Pack(tianye::SystemClock()->NowMillis(), 0);
    AddRecord(7, 1, &push_seq, &hlc, &batch);
    const int seq = static_cast<int>(batch.ops.size());
    tianye::http::Request push;
    push.method = "POST";
    push.target = push.path = "/v1/sync/push";
    push.headers["authorization"] = "Bearer " + wang;
    push.body = tianye::EncodePushBatch(batch);
    auto p0 = Clock::now();
    tianye::http::Response pushed = app.Handle(push);
    double push_ms = std::chrono::duration<double, std::milli>(Clock::now() - p0).count();
    bool during = exporting;
    exporter.join();
    if (pushed.status != 200) {
      std::fprintf(stderr, "push: %d %s\n", pushed.status, pushed.body.c_str());
      return 1;
    }
    std::printf("  a push of one record (%d ops) %s a %.1f s CSV export: %.1f ms\n", seq,
                during ? "during" : "after (the export ended first)", export_s, push_ms);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
