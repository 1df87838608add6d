// Sync benchmark, all on 127.0.0.1 and self-stopping:
//  1. the server's merge cost per field op (SyncLedger on an encrypted store),
//     without and with conflicts;
//  2. push and pull of N realistic records through the real tianye-server
//     process and the real client code (libcurl);
//  3. many clients syncing at once: throughput and p99 of one sync;
//  4. a 50 MB photo: throughput and the peak memory of server and client;
//  5. the server's stores: SQLCipher, PostgreSQL with one server and with two.
// The PouchDB peer runs in tests/bench/pouch_bench.mjs; scripts/bench sync
// prints both and their ratio.
//
// Usage: sync_bench --server PATH --cli PATH [--records N] [--clients C] [--large]
//                   [--only merge|push|clients|photo|stores]
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "http.h"
#include "pg_cluster.h"
#include "server_process.h"
#include "sqlite.h"
#include "store_impl.h"
#include "sync.h"
#include "test_util.h"
#include "tianye/accounts.h"
#include "tianye/attachment.h"
#include "tianye/form_store.h"
#include "tianye/record.h"
#include "tianye/sync.h"

namespace tianye {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

constexpr char kKey[] = "bench-store-key";
const AreaCodes kArea{"140623000000", "140623100000", "140623100201"};

// ~20 answers, ~450 bytes: a toilet-check record.
std::string Values(std::mt19937& rng, int i) {
  static const char* kNames[] = {"张德明", "李秀英", "王建国", "刘桂兰", "赵志刚", "陈玉梅"};
  static const char* kRemarks[] = {"化粪池盖板破损，冬季有冻裂风险", "厕屋无门，需整改", "使用正常，卫生状况良好"};
  nlohmann::json v = {{"visit_type", "first"},     {"hh_no", std::to_string(i)},
                      {"hh_head_name", kNames[rng() % 6]},
                      {"hh_members", std::to_string(1 + rng() % 7)},
                      {"occupancy", "resident"},    {"has_toilet", "yes"},
                      {"toilet_location", "in_yard"}, {"toilet_type", "three_compartment"},
                      {"build_year", std::to_string(2018 + rng() % 8)},
                      {"subsidy", std::to_string(rng() % 3000)},
                      {"cover", "intact"},          {"water", rng() % 2 ? "yes" : "no"},
                      {"odor", "none"},             {"flies", "few"},
                      {"cleaning", "monthly"},      {"usage", "in_use"},
                      {"satisfied", "yes"},         {"gps", "39.5612 113.1843 1046 4.8"},
                      {"remark", kRemarks[rng() % 3]}, {"phone", "139" + std::to_string(10000000 + rng() % 89999999)}};
  return v.dump();
}

std::unique_ptr<Store> Open(const std::string& path, int cache_mib = StoreOptions().cache_mib) {
  StoreOptions o;
  o.path = path;
  o.cache_mib = cache_mib;
  auto s = Store::Open(o, kKey);
  if (!s) {
    std::fprintf(stderr, "open %s: %s\n", path.c_str(), s.error().ToString().c_str());
    std::exit(1);
  }
  return std::move(*s);
}

void Fill(Store& store, int n, int seed, const AreaCodes& area = kArea) {
  std::mt19937 rng(seed);
  RecordStore records(&store);
  auto tx = store.Begin();
  for (int i = 0; i < n; ++i) {
    NewRecord nr;
    nr.form_id = "toilet";
    nr.form_version = "2026.1";
    nr.status = RecordStatus::kFinalized;
    nr.area = area;
    nr.author = "wang";
    nr.values_json = Values(rng, i);
    if (!records.Create(nr)) std::exit(1);
  }
  (void)tx->Commit();
}

int64_t PeakRssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

pid_t ServerPid(const std::string& data_dir) {
  // The ServerProcess is our child: find it by its data dir.
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::ifstream cmd(e.path() / "cmdline");
    std::string s((std::istreambuf_iterator<char>(cmd)), {});
    if (s.find("tianye-server") != std::string::npos && s.find(data_dir) != std::string::npos) {
      return static_cast<pid_t>(std::atoi(e.path().filename().c_str()));
    }
  }
  return -1;
}

void Row(const char* what, double value, const char* unit, const char* note = "") {
  std::printf("  %-52s %12.1f %-8s %s\n", what, value, unit, note);
}

// 1. Merge cost inside the server, no HTTP.
void MergeCost(const std::string& dir, int n) {
  std::printf("Server merge cost per field op (SyncLedger, SQLCipher store, %d records x ~24 fields)\n", n);
  auto server = Open(dir + "/merge-server.db", 64);  // the cache tianye-server opens its store with
  FormStore(server.get()).InstallFile(std::string(TIANYE_FORMS_DIR) + "/toilet.json");
  SyncLedger ledger(server.get());
  auto a = Open(dir + "/merge-a.db");
  auto b = Open(dir + "/merge-b.db");
  Fill(*a, n, 1);
  SyncReplica ra(a.get()), rb(b.get());
  Principal pa{"wang", "inspector", *DeviceId(*a), {"*"}};
  Principal pb{"li", "inspector", *DeviceId(*b), {"*"}};
  std::string first_batch;  // as a device sends it, before compression
  // The device's own share, per op: numbering a batch (NextBatch) and
  // storing the server's answers (ApplyPushResult), of the last push_all.
  double device_number_s = 0, device_answer_s = 0;
  auto push_all = [&](SyncReplica& r, const Principal& who, int64_t* ops) {
    double t = 0;
    device_number_s = device_answer_s = 0;
    while (true) {
      auto numbering = Clock::now();
      auto batch = r.NextBatch(500);
      device_number_s += Since(numbering);
      if (!batch || !*batch) break;
      if (first_batch.empty()) first_batch = EncodePushBatch(**batch);
      auto start = Clock::now();
      auto res = ledger.Push(who, **batch);
      t += Since(start);
      if (!res) {
        std::fprintf(stderr, "push: %s\n", res.error().ToString().c_str());
        std::exit(1);
      }
      *ops += static_cast<int64_t>((*batch)->ops.size());
      auto answering = Clock::now();
      if (!r.ApplyPushResult(**batch, *res).ok()) std::exit(1);
      device_answer_s += Since(answering);
    }
    return t;
  };
  // Pages the server's store wrote since the last call (each one encrypted
  // and written to the WAL): what a commit costs grows with them.
  sqlite3* server_db = *internal::SqliteHandle(internal::StoreAccess::Conn(*server), "bench");
  auto pages_written = [&] {
    int cur = 0, high = 0;
    sqlite3_db_status(server_db, SQLITE_DBSTATUS_CACHE_WRITE, &cur, &high, 1);
    return static_cast<double>(cur);
  };
  // Pushes all of `r`'s ops and prints the server's cost per op and pages
  // per 1,000 ops under `label`; returns the ops and the seconds merging.
  struct Phase {
    int64_t ops = 0;
    double seconds = 0;
  };
  auto push_phase = [&](SyncReplica& r, const Principal& who, const char* label, const char* note) {
    Phase p;
    pages_written();
    p.seconds = push_all(r, who, &p.ops);
    const double pages = pages_written();
    const double ops = static_cast<double>(p.ops);
    Row(label, p.seconds / ops * 1e6, "us", note);
    Row("  store pages written per 1,000 ops", pages * 1000 / ops, "pages");
    return p;
  };
  const Phase fresh = push_phase(ra, pa, "new records (fast-forward): us per op", "");
  const double ops = static_cast<double>(fresh.ops);
  Row("  field ops per second (one core)", ops / fresh.seconds, "ops/s", "target >= 5,000");
  Row("  device: numbering the ops of a batch, us per op", device_number_s / ops * 1e6, "us");
  Row("  device: storing the server's answers, us per op", device_answer_s / ops * 1e6, "us");
  // b pulls everything, then a and b edit the same 5 fields of every record.
  std::string first_page;  // as the server sends it, before compression
  while (true) {
    auto page = ledger.Pull(pb, *rb.PullCursor(), 5000);
    if (first_page.empty()) first_page = EncodePullPage(*page);
    (void)rb.ApplyPullPage(*page);
    if (!page->has_more) break;
  }
  // Sets `fields` of every record in `store` to the field's name + `suffix`,
  // a save per record, in the order the store lists them (the order they
  // were made) or shuffled.
  auto edit_all = [](Store& store, const std::vector<const char*>& fields, const std::string& suffix,
                     bool shuffled) {
    RecordStore records(&store);
    auto list = records.List({});
    if (shuffled) std::shuffle(list->begin(), list->end(), std::mt19937(42));
    auto tx = store.Begin();
    for (Record r : *list) {
      auto v = nlohmann::json::parse(r.values_json);
      for (const char* f : fields) v[f] = std::string(f) + suffix;
      r.values_json = v.dump();
      (void)records.Update(r);
    }
    (void)tx->Commit();
  };
  const std::vector<const char*> kContested = {"cover", "water", "odor", "flies", "remark"};
  edit_all(*a, kContested, "-A", false);
  edit_all(*b, kContested, "-B", false);
  push_phase(ra, pa, "edits, no conflict (first device): us per op", "target <= 20");
  push_phase(rb, pb, "edits, all in conflict (second device): us per op", "target <= 20");
  auto conflicts = ledger.Conflicts("");
  Row("conflicts recorded (expected = records x 5)", static_cast<double>(conflicts->size()), "");
  // Edits as above (five fields of each record, fields nobody else set),
  // with the records in random order, as inspectors revisit households:
  // a batch's records lie apart in the server's tables, not side by side.
  edit_all(*a, {"hh_members", "build_year", "subsidy", "cleaning", "phone"}, "-R", true);
  push_phase(ra, pa, "edits, records in random order: us per op", "target <= 20");

  // Milliseconds per call of `run`, over ten calls.
  auto ms_per_run = [](auto run) {
    constexpr int kRuns = 10;
    auto start = Clock::now();
    for (int i = 0; i < kRuns; ++i) run();
    return Since(start) / kRuns * 1e3;
  };
  // What compressing that pull page costs the server, in each coding it
  // answers in.
  std::printf("A pull page of 5,000 changes (%.0f KB of JSON), compressed as the server sends it\n",
              static_cast<double>(first_page.size()) / 1e3);
  size_t gzip_size = 0, zstd_size = 0;
  const double gzip_ms = ms_per_run([&] { gzip_size = http::Gzip(first_page).size(); });
  const double zstd_ms = ms_per_run([&] { zstd_size = http::Zstd(first_page).size(); });
  const double gzip_kb = static_cast<double>(gzip_size) / 1e3, zstd_kb = static_cast<double>(zstd_size) / 1e3;
  Row("gzip: ms per page", gzip_ms, "ms");
  Row("  size", gzip_kb, "KB");
  Row("zstd: ms per page", zstd_ms, "ms");
  Row("  size", zstd_kb, "KB");
  std::printf("  %-52s %12.2f\n", "zstd / gzip: time", zstd_ms / gzip_ms);
  std::printf("  %-52s %12.2f\n", "zstd / gzip: size", zstd_kb / gzip_kb);

  // What reading JSON back costs: the device decodes every page it pulls,
  // the server every batch pushed to it.
  std::printf("Decoding sync messages\n");
  auto decode_ms = [&](const std::string& text, auto decode) {
    return ms_per_run([&] {
      if (!decode(text)) std::exit(1);
    });
  };
  Row("decode: ms per page (device)", decode_ms(first_page, DecodePullPage), "ms");
  // The first page a device gets of the contested records: changes and
  // their conflicts, with every candidate.
  auto contested = ledger.Pull(pa, "", 5000);
  if (!contested) std::exit(1);
  const std::string conflict_page = EncodePullPage(*contested);
  Row("decode: ms per page with conflicts (device)", decode_ms(conflict_page, DecodePullPage), "ms",
      (std::to_string(contested->changes.size()) + " changes, " + std::to_string(contested->conflicts.size()) +
       " conflicts, " + std::to_string(conflict_page.size() / 1000) + " KB")
          .c_str());
  Row("decode a push batch of 500 ops (server): ms", decode_ms(first_batch, DecodePushBatch), "ms",
      (std::to_string(first_batch.size() / 1000) + " KB").c_str());
}

struct Env {
  std::string server_bin, cli, dir;
};

// A village of 应县 per team: teams of inspectors see only their own village.
std::string Village(int team) { return "14062310" + std::to_string(2000 + team).substr(0, 4); }

std::unique_ptr<testing::ServerProcess> StartServer(const Env& env, const std::string& data, int teams = 0) {
  {
    std::filesystem::create_directories(data);
    auto store = Open(data + "/tianye-server.db");
    Accounts accounts(store.get());
    for (const char* user : {"wang", "li"}) (void)accounts.Add({user, "", "inspector", {"*"}, false}, "bench-password");
    for (int t = 0; t < teams; ++t) {
      (void)accounts.Add({"team" + std::to_string(t), "", "inspector", {Village(t)}, false}, "bench-password");
    }
  }
  auto s = std::make_unique<testing::ServerProcess>(
      env.server_bin, // Plain HTTP, as the PouchDB peer is measured.
      std::vector<std::string>{"--data-dir", data, "--forms", TIANYE_FORMS_DIR, "--workers", "2", "--tls", "off"},
      std::map<std::string, std::string>{{"TIANYE_SERVER_KEY", kKey}});
  if (s->port() == 0) {
    std::fprintf(stderr, "server did not start: %s\n", s->output().c_str());
    std::exit(1);
  }
  return s;
}

// Bytes of an SQLite store on disk: the file and its write-ahead log.
double StoreMb(const std::string& path) {
  double bytes = 0;
  for (const char* suffix : {"", "-wal"}) {
    std::error_code ec;
    auto size = std::filesystem::file_size(path + suffix, ec);
    if (!ec) bytes += static_cast<double>(size);
  }
  return bytes / 1e6;
}

cli::SyncOptions Login(const std::string& url, const std::string& user) {
  cli::SyncOptions o;
  o.server = url;
  o.username = user;
  o.password = "bench-password";
  o.batch_ops = 2000;
  o.pull_limit = 5000;
  return o;
}

// 2. Push and pull through HTTP.
void PushPull(const Env& env, int n) {
  std::printf("\nPush and pull through tianye-server on 127.0.0.1 (%d records, HTTP + zstd, SQLCipher on both sides)\n", n);
  std::string data = env.dir + "/pp-server-" + std::to_string(n);
  auto server = StartServer(env, data);
  auto a = Open(env.dir + "/pp-a-" + std::to_string(n) + ".db");
  Fill(*a, n, 7);
  int64_t ops = *SyncReplica(a.get()).ReadyOps();
  auto start = Clock::now();
  auto report = cli::RunSync(*a, Login(server->url(), "wang"));
  double t = Since(start);
  if (!report) {
    std::fprintf(stderr, "sync: %s\n", report.error().ToString().c_str());
    std::exit(1);
  }
  Row("push: field ops per second", static_cast<double>(ops) / t, "ops/s");
  const double push_rate = n / t;
  Row("push: records per second", push_rate, "rec/s");
  Row("push: MB sent (compressed)", static_cast<double>(report->totals.bytes_up) / 1e6, "MB");
  auto b = Open(env.dir + "/pp-b-" + std::to_string(n) + ".db");
  start = Clock::now();
  auto pulled = cli::RunSync(*b, Login(server->url(), "li"));
  t = Since(start);
  Row("pull into a fresh device: records per second", n / t, "rec/s", "target >= 10,000");
  std::printf("RESULT pull_records_per_s=%d:%.1f\n", n, n / t);
  Row("pull: field changes per second", static_cast<double>(pulled->totals.changes_pulled) / t, "ops/s");
  // What the server keeps: fields, every change's history row, search index
  // and dashboard figures (growth for capacity planning; nothing compacted).
  const double server_mb = StoreMb(data + "/tianye-server.db");
  Row("server store after the push", server_mb, "MB");
  Row("  per record", server_mb * 1e3 / n, "KB");
  Row("device store after the pull", StoreMb(env.dir + "/pp-b-" + std::to_string(n) + ".db"), "MB");
  std::printf("RESULT push_records_per_s=%d:%.1f\n", n, push_rate);
}

// 3. Many clients at once.
void ManyClients(const Env& env, int clients, int per_client) {
  std::printf("\n%d clients syncing at once (%d records each; 10 teams, a village each)\n", clients, per_client);
  constexpr int kTeams = 10;
  std::string data = env.dir + "/many-server";
  auto server = StartServer(env, data, kTeams);
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < clients; ++i) {
    StoreOptions o;
    o.path = env.dir + "/many-" + std::to_string(i) + ".db";
    auto s = internal::OpenUnencryptedForBenchmark(o);  // the server side is what is measured
    stores.push_back(std::move(*s));
  }
  // Devices log in once (Argon2id makes each login deliberately slow), then
  // collect records offline, then all sync at once.
  auto login_start = Clock::now();
  {
    std::vector<std::thread> logins;
    for (int i = 0; i < clients; ++i) {
      logins.emplace_back([&, i] {
        (void)cli::RunSync(*stores[static_cast<size_t>(i)], Login(server->url(), "team" + std::to_string(i % kTeams)));
      });
    }
    for (auto& t : logins) t.join();
  }
  double login_time = Since(login_start);
  for (int i = 0; i < clients; ++i) {
    Fill(*stores[static_cast<size_t>(i)], per_client, 100 + i, {"140623000000", "140623100000", Village(i % kTeams)});
  }
  std::vector<double> latency(static_cast<size_t>(clients));
  std::vector<std::thread> threads;
  std::mutex mu;
  int failures = 0;
  auto start = Clock::now();
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      auto t0 = Clock::now();
      cli::SyncOptions o = Login(server->url(), "");
      o.password.clear();  // the stored login
      auto r = cli::RunSync(*stores[static_cast<size_t>(i)], o);
      latency[static_cast<size_t>(i)] = Since(t0);
      if (!r) {
        std::lock_guard<std::mutex> l(mu);
        ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  double total = Since(start);
  std::sort(latency.begin(), latency.end());
  Row("all devices logging in at once (first sync, empty)", login_time, "s");
  Row("records per second, all clients syncing at once", static_cast<double>(clients) * per_client / total, "rec/s");
  Row("one sync, p50 (push + pull + photos check)", latency[latency.size() / 2] * 1000, "ms");
  Row("one sync, p99", latency[latency.size() * 99 / 100] * 1000, "ms");
  Row("failed syncs", failures, "");
}

// 4. A 50 MB photo through `tianye sync` (a separate process, so its peak
// memory is its own).
void BigPhoto(const Env& env) {
  std::printf("\nA 50 MB photo through tianye sync (chunks of %zu KiB)\n", AttachmentStore::kChunkSize / 1024);
  std::string data = env.dir + "/photo-server";
  auto server = StartServer(env, data);
  std::string path = env.dir + "/photo-client.db";
  {
    auto store = Open(path);
    Fill(*store, 1, 9);
    std::string file = env.dir + "/photo.bin";
    {
      std::ofstream out(file, std::ios::binary);
      std::mt19937 rng(5);
      std::string block(1 << 20, '\0');
      for (int mb = 0; mb < 50; ++mb) {
        for (char& c : block) c = static_cast<char>(rng());
        out.write(block.data(), static_cast<std::streamsize>(block.size()));
      }
    }
    PutOptions put;
    put.mime = "image/jpeg";
    auto info = AttachmentStore(store.get()).PutFile(file, put);
    auto id = RecordStore(store.get()).List({})->front().id;
    (void)AttachmentStore(store.get()).Link(id, "photo", info->sha256);
  }
  testing::WriteBytes(env.dir + "/pw", "bench-password\n");
  pid_t spid = ServerPid(data);
  auto start = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    setenv("TIANYE_PASSPHRASE", kKey, 1);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(env.cli.c_str(), env.cli.c_str(), "sync", "--store", path.c_str(), "--server", server->url().c_str(),
          "--user", "wang", "--password-file", (env.dir + "/pw").c_str(), nullptr);
    _exit(127);
  }
  // The child's own peak (VmHWM of its image after exec; wait4's ru_maxrss
  // would also count the pages it shared with this process before exec).
  int status = 0;
  int64_t peak_kib = 0;
  const std::string exe = std::filesystem::canonical(env.cli).string();
  while (waitpid(pid, &status, WNOHANG) == 0) {
    // Until it has exec'd, the child is a copy of this process (whose pages,
    // after the other parts of the run, are far larger): not read then.
    std::error_code ec;
    if (std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec).string() == exe) {
      peak_kib = std::max(peak_kib, PeakRssKiB(pid));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  double t = Since(start);
  Row("upload throughput (login and records included)", 50.0 / t, "MB/s");
  Row("client peak RSS (tianye sync)", static_cast<double>(peak_kib) / 1024.0, "MiB", "target: bounded by the chunk size");
  Row("server peak RSS (whole run)", static_cast<double>(PeakRssKiB(spid)) / 1024.0, "MiB");
  if (WEXITSTATUS(status) != 0) std::printf("  (tianye sync exited %d)\n", WEXITSTATUS(status));
}

// 5. The server's stores side by side (README "Running at scale"): the same
// records synced by two devices at once (half each) and then pulled whole
// by a third, through one server on its SQLCipher file, one server on
// PostgreSQL, and two servers on one PostgreSQL (each device through its
// own). PostgreSQL with its default durability (fsync on), as the
// SQLCipher store commits with synchronous=FULL.
void Stores(const Env& env, int n) {
  std::printf("\nThe server's stores (%d records: two devices syncing %d each at once, then a fresh device pulling all)\n",
              n, n / 2);
  testing::PgCluster pg(/*durable=*/true);
  if (!pg.error().empty()) {
    std::printf("  PostgreSQL did not start: %s\n", pg.error().c_str());
    return;
  }
  struct Setup {
    const char* name;
    bool postgres;
    int servers;
  };
  const Setup setups[] = {{"SQLCipher, one server", false, 1},
                          {"PostgreSQL, one server", true, 1},
                          {"PostgreSQL, two servers", true, 2}};
  double sync_rate[3] = {0, 0, 0}, pull_rate[3] = {0, 0, 0};
  for (int k = 0; k < 3; ++k) {
    const Setup& setup = setups[k];
    const std::string data = env.dir + "/stores-" + std::to_string(k);
    std::vector<std::unique_ptr<testing::ServerProcess>> servers;
    if (!setup.postgres) {
      servers.push_back(StartServer(env, data));
    } else {
      const std::string name = "bench" + std::to_string(k);
      if (pg.NewDatabase(name).empty()) {
        std::printf("  %s\n", pg.error().c_str());
        return;
      }
      const std::string uri = "postgresql://tianye@127.0.0.1:" + std::to_string(pg.port()) + "/" + name;
      {
        auto store = Store::OpenPostgres(uri);
        if (!store) {
          std::printf("  %s\n", store.error().ToString().c_str());
          return;
        }
        Accounts accounts(store->get());
        for (const char* user : {"wang", "li"}) (void)accounts.Add({user, "", "inspector", {"*"}, false}, "bench-password");
      }
      for (int i = 0; i < setup.servers; ++i) {
        servers.push_back(std::make_unique<testing::ServerProcess>(
            env.server_bin,
            std::vector<std::string>{"--data-dir", data + "/s" + std::to_string(i), "--store", uri, "--forms",
                                     TIANYE_FORMS_DIR, "--workers", "2", "--tls", "off"}));
        if (servers.back()->port() == 0) {
          std::printf("  server did not start: %s\n", servers.back()->output().c_str());
          return;
        }
      }
    }
    std::unique_ptr<Store> devices[2] = {Open(data + "-a.db"), Open(data + "-b.db")};
    Fill(*devices[0], n / 2, 11);
    Fill(*devices[1], n - n / 2, 12);
    auto start = Clock::now();
    std::thread threads[2];
    bool ok[2] = {false, false};
    for (int d = 0; d < 2; ++d) {
      threads[d] = std::thread([&, d] {
        const std::string url = servers[static_cast<size_t>(d) % servers.size()]->url();
        auto report = cli::RunSync(*devices[d], Login(url, d == 0 ? "wang" : "li"));
        ok[d] = report.has_value();
        if (!report) std::fprintf(stderr, "sync: %s\n", report.error().ToString().c_str());
      });
    }
    for (std::thread& t : threads) t.join();
    sync_rate[k] = n / Since(start);
    auto fresh = Open(data + "-c.db");
    start = Clock::now();
    auto pulled = cli::RunSync(*fresh, Login(servers.back()->url(), "li"));
    pull_rate[k] = n / Since(start);
    if (!ok[0] || !ok[1] || !pulled) std::printf("  (%s: a sync failed, see above)\n", setup.name);
    Row((std::string(setup.name) + ": sync, records/s").c_str(), sync_rate[k], "rec/s");
    Row((std::string(setup.name) + ": pull, records/s").c_str(), pull_rate[k], "rec/s");
  }
  auto ratio = [](const char* what, double value) { std::printf("  %-52s %12.2f\n", what, value); };
  ratio("sync: PostgreSQL one server / SQLCipher", sync_rate[1] / sync_rate[0]);
  ratio("sync: PostgreSQL two servers / one server", sync_rate[2] / sync_rate[1]);
  ratio("pull: PostgreSQL one server / SQLCipher", pull_rate[1] / pull_rate[0]);
  ratio("pull: PostgreSQL two servers / one server", pull_rate[2] / pull_rate[1]);
}

}  // namespace
}  // namespace tianye

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  tianye::Env env;
  int records = 10000, clients = 200, merge = 5000;
  bool large = false;
  std::string only;  // merge, push, clients or photo: just that part
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--server") env.server_bin = next();
    else if (a == "--cli") env.cli = next();
    else if (a == "--records") records = std::stoi(next());
    else if (a == "--clients") clients = std::stoi(next());
    else if (a == "--merge-records") merge = std::stoi(next());
    else if (a == "--large") large = true;
    else if (a == "--only") only = next();
  }
  if (env.server_bin.empty() || env.cli.empty()) {
    std::fprintf(stderr, "usage: sync_bench --server PATH --cli PATH [--records N] [--clients C] [--large] [--only PART]\n");
    return 2;
  }
  tianye::testing::TempDir dir;
  env.dir = dir.path();
  auto want = [&](const char* part) { return only.empty() || only == part; };
  if (want("merge")) tianye::MergeCost(env.dir, merge);
  if (want("push")) tianye::PushPull(env, records);
  if (want("push") && large) tianye::PushPull(env, 100000);
  if (want("clients") && clients > 0) tianye::ManyClients(env, clients, 20);
  if (want("photo")) tianye::BigPhoto(env);
  if (want("stores")) tianye::Stores(env, records);
  return 0;
}
