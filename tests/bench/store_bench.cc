// Store benchmark: the same record workload on the same SQLite build, with
// and without SQLCipher's encryption, in one run so the ratio is fair on a
// shared, noisy machine. Also a 50 MB photo through the attachment store,
// and the upgrade of a server store from schema 15 (before records and
// devices were named by number) to the current schema.
//
// Usage: store_bench [--records N] [--rounds R] [--upgrade-records N] [--dir DIR]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "sha256.h"
#include "sqlite.h"
#include "store_impl.h"
#include "tianye/attachment.h"
#include "tianye/record.h"
#include "tianye/store.h"

namespace tianye {
namespace {

using Stopwatch = std::chrono::steady_clock;

double Seconds(Stopwatch::time_point since) {
  return std::chrono::duration<double>(Stopwatch::now() - since).count();
}

// Peak resident set size of this process in MiB (VmHWM).
double PeakRssMiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return -1;
}

// Resets VmHWM to the current RSS, so the next reading covers one phase.
void ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
}

// About 20 fields and ~500 bytes of JSON, like a toilet-check record.
std::string RealisticValues(std::mt19937& rng, int i) {
  static const char* kNames[] = {"张德明", "李秀英", "王建国", "刘桂兰", "赵志刚", "陈玉梅"};
  static const char* kTypes[] = {"three_compartment", "double_urn", "urine_diversion", "sewer"};
  static const char* kRemarks[] = {"化粪池盖板破损，冬季有冻裂风险", "厕屋无门，需整改",
                                   "使用正常，卫生状况良好", "粪污未及时清掏，已告知农户"};
  std::uniform_int_distribution<int> d(0, 1000000);
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                R"({"visit_type":"first","hh_no":"%d","hh_head_name":"%s","hh_members":%d,)"
                R"("residents":%d,"occupancy":"resident","has_toilet":"yes","toilet_location":)"
                R"("detached","renovated":"yes","renov_year":%d,"toilet_type":"%s",)"
                R"("tank_volume":%.1f,"pan_type":"squat","flush_mode":"manual","cover_ok":"yes",)"
                R"("leak":"no","odour":%d,"clean_score":%d,"gps":"39.%06d 112.%06d 1350 %d",)"
                R"("remark":"%s","enum_name":"%s"})",
                i, kNames[d(rng) % 6], 1 + d(rng) % 8, d(rng) % 8, 2015 + d(rng) % 10,
                kTypes[d(rng) % 4], 1.5 + (d(rng) % 20) / 10.0, d(rng) % 4, d(rng) % 100,
                d(rng) % 1000000, d(rng) % 1000000, 3 + d(rng) % 20, kRemarks[d(rng) % 4],
                kNames[d(rng) % 6]);
  return buf;
}

struct Timings {
  double open_s = 0, insert_s = 0, update_s = 0, read_s = 0;
  double file_mib = 0, peak_rss_mib = 0;
};

bool Check(const Status& s, const char* what) {
  if (s.ok()) return true;
  std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

Timings RunWorkload(const std::string& path, bool encrypted, int n) {
  std::filesystem::remove(path);
  StoreOptions options;
  options.path = path;
  // Create first, so that "open" below measures unlocking an existing file.
  {
    auto s = encrypted ? Store::Open(options, "bench 口令")
                       : internal::OpenUnencryptedForBenchmark(options);
    Check(s.error(), "create");
  }
  ResetPeakRss();
  Timings t;
  auto start = Stopwatch::now();
  auto opened = encrypted ? Store::Open(options, "bench 口令")
                          : internal::OpenUnencryptedForBenchmark(options);
  Check(opened.error(), "open");
  t.open_s = Seconds(start);
  Store& store = **opened;
  RecordStore records(&store);

  std::mt19937 rng(42);
  std::vector<std::string> values(n);
  for (int i = 0; i < n; ++i) values[i] = RealisticValues(rng, i);
  std::vector<std::string> ids;
  ids.reserve(n);

  start = Stopwatch::now();
  for (int i = 0; i < n; i += 100) {
    auto tx = store.Begin();
    Check(tx.error(), "begin");
    for (int j = i; j < std::min(n, i + 100); ++j) {
      auto r = records.Create({.form_id = "toilet",
                               .form_version = "2026.1",
                               .area = {"140622", "140622100", "140622100201"},
                               .author = "李秀英",
                               .values_json = values[j]});
      Check(r.error(), "create");
      ids.push_back(r->id);
    }
    Check(tx->Commit(), "commit");
  }
  t.insert_s = Seconds(start);

  start = Stopwatch::now();
  for (int i = 0; i < n; i += 100) {
    auto tx = store.Begin();
    for (int j = i; j < std::min(n, i + 100); ++j) {
      auto r = records.Get(ids[j]);
      Check(r.error(), "get for update");
      r->status = RecordStatus::kFinalized;
      r->values_json = values[(j + 1) % n];
      Check(records.Update(*r).error(), "update");
    }
    Check(tx->Commit(), "commit");
  }
  t.update_s = Seconds(start);

  std::shuffle(ids.begin(), ids.end(), rng);
  start = Stopwatch::now();
  size_t bytes = 0;
  for (const std::string& id : ids) {
    auto r = records.Get(id);
    Check(r.error(), "get");
    bytes += r->values_json.size();
  }
  t.read_s = Seconds(start);
  if (bytes == 0) std::exit(1);
  Check(store.Checkpoint(), "checkpoint");
  t.file_mib = static_cast<double>(std::filesystem::file_size(path)) / (1 << 20);
  t.peak_rss_mib = PeakRssMiB();
  return t;
}

class Generated final : public ByteSource {
 public:
  explicit Generated(int64_t n) : left_(n) {}
  Result<size_t> Read(char* buf, size_t n) override {
    n = std::min<size_t>(n, static_cast<size_t>(left_));
    for (size_t i = 0; i < n; ++i) buf[i] = static_cast<char>((x_ = x_ * 6364136223846793005ULL + 1) >> 56);
    left_ -= static_cast<int64_t>(n);
    return n;
  }

 private:
  int64_t left_;
  uint64_t x_ = 1;
};

class Discard final : public ByteSink {
 public:
  Status Write(std::string_view b) override {
    n += b.size();
    return Status::Ok();
  }
  size_t n = 0;
};

// A server store as schema 15 left it after `n` records of 27 fields came
// in from 20 devices: each field's current row, its history row and the
// op's stored answer, all naming the record and the device by their ids.
// Then the time Store::Open takes to bring it to the current schema.
void RunUpgrade(const std::string& dir, int n) {
  StoreOptions options;
  options.path = dir + "/upgrade.db";
  std::filesystem::remove(options.path);
  {
    auto old = internal::OpenAtSchemaForTesting(options, "bench 口令", 15);
    Check(old.error(), "open a store at schema 15");
    internal::Connection& conn = internal::StoreAccess::Conn(**old);
    const std::string sql = R"sql(
      BEGIN;
      CREATE TEMP TABLE n AS WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < )sql" +
                            std::to_string(n) + R"sql()
        SELECT i, printf('%08x-7d3a-7000-8000-%012x', i, i * 7919) AS rec,
               printf('device-%02d-5f0e-4c1b-9a7d-00000000', i % 20) AS dev FROM c;
      CREATE TEMP TABLE f AS WITH RECURSIVE c(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM c WHERE j < 27)
        SELECT j, printf('field_%02d', j) AS field FROM c;
      INSERT INTO server_records (record_id, form_id, form_version, county_code, township_code, village_code,
                                  status, author, version, created_ms, updated_ms)
        SELECT rec, 'toilet', '2026.1', '140621000000', printf('1406211%02d000', i % 12),
               printf('1406211%02d2%02d', i % 12, i % 30), 'finalized', '李秀英', i * 27, 1790000000000 + i,
               1790000000000 + i FROM n;
      INSERT INTO server_fields (record_id, field, value, version, device_id, author, hlc, received_ms, pushed_by)
        SELECT rec, field, printf('答案 %d，户 %d', j, i), (i - 1) * 27 + j, dev, '李秀英', 1790000000000 + i,
               1790000000000 + i, dev
        FROM n, f;
      INSERT INTO server_history (version, record_id, field, value, device_id, author, hlc, received_ms,
                                  push_seq, kind)
        SELECT (i - 1) * 27 + j, rec, field, printf('答案 %d，户 %d', j, i), dev, '李秀英', 1790000000000 + i,
               1790000000000 + i, (i - 1) * 27 + j, 'edit'
        FROM n, f;
      INSERT INTO server_devices (device_id, username, last_push_seq, last_seen_ms)
        SELECT dev, '李秀英', max((i - 1) * 27 + 27), 1 FROM n GROUP BY dev;
      INSERT INTO server_op_results (device_id, push_seq, outcome, version)
        SELECT dev, (i - 1) * 27 + j, 'applied', (i - 1) * 27 + j FROM n, f;
      COMMIT;
    )sql";
    Check(conn.Exec(sql.c_str()), "write the schema 15 rows");
    Check((*old)->Checkpoint(), "checkpoint");
  }
  const double before_mb = static_cast<double>(std::filesystem::file_size(options.path)) / 1e6;
  // The upgrade empties its write-ahead log when done: watch its size while
  // it runs.
  std::atomic<uintmax_t> wal_peak{0};
  std::atomic<bool> upgraded{false};
  std::thread watch([&] {
    while (!upgraded) {
      std::error_code none;
      const uintmax_t bytes = std::filesystem::file_size(options.path + "-wal", none);
      if (!none && bytes > wal_peak) wal_peak = bytes;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  auto start = Stopwatch::now();
  auto store = Store::Open(options, "bench 口令");
  const double upgrade_s = Seconds(start);
  upgraded = true;
  watch.join();
  Check(store.error(), "upgrade");
  const double wal_mb = static_cast<double>(wal_peak.load()) / 1e6;
  const double after_mb = static_cast<double>(std::filesystem::file_size(options.path)) / 1e6;
  std::printf("Server store upgrade from schema 15 to %d: %d records, %d field rows and as many history rows "
              "and answers: %.1f s; the store %.0f MB before, %.0f MB after (free pages the rewrite left "
              "included), write-ahead log %.0f MB at its largest\n\n",
              Store::LatestSchemaVersion(), n, n * 27, upgrade_s, before_mb, after_mb, wal_mb);
  store->reset();
  std::filesystem::remove(options.path);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace
}  // namespace tianye

int main(int argc, char** argv) {
  using namespace tianye;
  int n = 100000, rounds = 3, upgrade_records = 20000;
  std::string dir = std::filesystem::temp_directory_path().string() + "/tianye-bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--records") n = std::atoi(argv[i + 1]);
    if (a == "--rounds") rounds = std::atoi(argv[i + 1]);
    if (a == "--upgrade-records") upgrade_records = std::atoi(argv[i + 1]);
    if (a == "--dir") dir = argv[i + 1];
  }
  std::filesystem::create_directories(dir);
  std::printf("Store benchmark: %d records of ~500 B JSON, transactions of 100, %d rounds "
              "(median), plain and encrypted alternating\n\n", n, rounds);

  // First, while the process is still small: a 50 MB photo through the
  // encrypted attachment store.
  {
    StoreOptions options;
    options.path = dir + "/photo.db";
    std::filesystem::remove(options.path);
    auto store = Store::Open(options, "bench 口令");
    Check(store.error(), "open photo store");
    AttachmentStore as(store->get());
    constexpr int64_t kSize = 50LL * 1000 * 1000;
    ResetPeakRss();
    double rss_before = PeakRssMiB();
    Generated src(kSize);
    auto start = Stopwatch::now();
    auto info = as.Put(src, {.mime = "image/jpeg"});
    Check(info.error(), "put photo");
    double put_s = Seconds(start);
    Discard sink;
    start = Stopwatch::now();
    Check(as.Read(info->sha256, sink), "read photo");
    double read_s = Seconds(start);
    double peak = PeakRssMiB();
    std::printf("50 MB photo, encrypted store: put %.0f MB/s, read (verified) %.0f MB/s, "
                "peak RSS grew by %.1f MiB during both (page cache + one chunk, not the file)\n\n",
                kSize / 1e6 / put_s, kSize / 1e6 / read_s, peak - rss_before);
  }
  if (upgrade_records > 0) RunUpgrade(dir, upgrade_records);
  std::vector<double> p_ins, p_upd, p_read, p_open, e_ins, e_upd, e_read, e_open;
  Timings last_plain, last_enc;
  for (int r = 0; r < rounds; ++r) {
    last_plain = RunWorkload(dir + "/plain.db", false, n);
    last_enc = RunWorkload(dir + "/encrypted.db", true, n);
    p_ins.push_back(n / last_plain.insert_s), e_ins.push_back(n / last_enc.insert_s);
    p_upd.push_back(n / last_plain.update_s), e_upd.push_back(n / last_enc.update_s);
    p_read.push_back(n / last_plain.read_s), e_read.push_back(n / last_enc.read_s);
    p_open.push_back(last_plain.open_s * 1000), e_open.push_back(last_enc.open_s * 1000);
  }
  auto row = [](const char* what, double plain, double enc, const char* unit) {
    std::printf("| %-30s | %12.0f | %12.0f | %6.2f |  %s\n", what, plain, enc, enc / plain, unit);
  };
  std::printf("| %-30s | %12s | %12s | %6s |\n", "operation", "plain", "encrypted", "ratio");
  std::printf("|--------------------------------|--------------|--------------|--------|\n");
  row("insert (records/s)", Median(p_ins), Median(e_ins), "target ratio >= 0.80");
  row("get + update (records/s)", Median(p_upd), Median(e_upd), "");
  row("random read by id (records/s)", Median(p_read), Median(e_read), "");
  row("open existing store (ms)", Median(p_open), Median(e_open), "PBKDF2, 256,000 iterations");
  row("file size (MiB)", last_plain.file_mib, last_enc.file_mib, "");
  row("peak RSS during run (MiB)", last_plain.peak_rss_mib, last_enc.peak_rss_mib, "");

  std::filesystem::remove_all(dir);
  return 0;
}
