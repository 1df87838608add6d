// Crash safety: a child process writes transactions in a loop and is killed
// with SIGKILL at a random moment. Afterwards the store opens, passes the
// integrity check, holds every transaction the child reported committed, and
// holds every transaction either whole or not at all.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <map>
#include <random>
#include <sstream>
#include <string>

#include "sqlite.h"
#include "store_impl.h"
#include "store_testing.h"
#include "test_util.h"
#include "tianye/attachment.h"
#include "tianye/record.h"

namespace tianye {
namespace {

using testing::OpenOrFail;
using testing::TempDir;

std::string Values(int round, int txn, char part) {
  std::string pad;
  for (int i = 0; i < 40; ++i) pad += "种质资源";
  return "{\"txn\":\"" + std::to_string(round) + "-" + std::to_string(txn) + "\",\"part\":\"" +
         part + "\",\"pad\":\"" + pad + "\"}";
}

class Bytes final : public ByteSource {
 public:
  Bytes(size_t n, char fill) : left_(n), fill_(fill) {}
  Result<size_t> Read(char* buf, size_t n) override {
    n = std::min(n, left_);
    std::fill_n(buf, n, fill_);
    left_ -= n;
    return n;
  }

 private:
  size_t left_;
  char fill_;
};

// The child: writes pairs of records (plus now and then a photo) in one
// transaction each, and reports "idA idB" on `fd` after each commit returns.
[[noreturn]] void WriterChild(const std::string& path, int round, int fd) {
  StoreOptions options;
  options.path = path;
  auto store = Store::Open(options, testing::kPassphrase);
  if (!store) ::_exit(3);
  RecordStore records(store->get());
  AttachmentStore attachments(store->get());
  for (int txn = 0;; ++txn) {
    auto tx = (*store)->Begin();
    if (!tx) ::_exit(4);
    auto a = records.Create({.form_id = "toilet", .values_json = Values(round, txn, 'a')});
    auto b = records.Create({.form_id = "toilet", .values_json = Values(round, txn, 'b')});
    if (!a || !b) ::_exit(5);
    if (txn % 5 == 0) {
      Bytes photo(300000, static_cast<char>('A' + txn % 26));
      auto info = attachments.Put(photo, {});
      if (!info || !attachments.Link(a->id, "photo", info->sha256).ok()) ::_exit(6);
    }
    if (!tx->Commit().ok()) ::_exit(7);
    std::string line = a->id + " " + b->id + " " + std::to_string(txn) + "\n";
    if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) ::_exit(8);
  }
}

enum class Until { kFirstBytes, kTimeIsUp };

// Appends what arrives on `fd` to `out` for up to `ms` milliseconds.
void Collect(int fd, int ms, Until until, std::string& out) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return;
    out.append(buf, static_cast<size_t>(n));
    if (until == Until::kFirstBytes) return;
  }
}

TEST(StoreCrashTest, SlowSigkillDuringWritesLosesNoCommittedTransaction) {
  TempDir dir;
  std::string path = dir.File("s.db");
  { ASSERT_NE(OpenOrFail(path), nullptr); }

  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::map<std::string, std::string> committed;  // record id -> values
  int killed_mid_run = 0;

  constexpr int kRounds = 12;
  for (int round = 0; round < kRounds; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      WriterChild(path, round, fds[1]);
    }
    ::close(fds[1]);

    // Wait for the first commit, then let it write for a random while.
    std::string received;
    Collect(fds[0], 30000, Until::kFirstBytes, received);
    Collect(fds[0], std::uniform_int_distribution<int>(0, 250)(rng), Until::kTimeIsUp, received);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "writer exited early with code " << WEXITSTATUS(status);
    ++killed_mid_run;
    // Lines written before the kill are committed transactions too.
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) received.append(buf, n);
    ::close(fds[0]);

    std::istringstream lines(received);
    std::string a, b;
    int txn;
    while (lines >> a >> b >> txn) {
      committed[a] = Values(round, txn, 'a');
      committed[b] = Values(round, txn, 'b');
    }

    auto store = OpenOrFail(path);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->CheckIntegrity().ok()) << "after round " << round;
    RecordStore records(store.get());
    for (const auto& [id, values] : committed) {
      auto r = records.Get(id);
      ASSERT_TRUE(r.has_value()) << "committed record " << id << " lost in round " << round;
      EXPECT_EQ(nlohmann::json::parse(r->values_json), nlohmann::json::parse(values));
    }
    // Atomicity: every transaction's pair is there whole or not at all.
    auto& conn = internal::StoreAccess::Conn(*store);
    EXPECT_EQ(*conn.QueryInt("SELECT count(*) FROM (SELECT data ->> '$.txn' AS t FROM records "
                             "GROUP BY t HAVING count(*) <> 2)"),
              0);
    EXPECT_EQ(*conn.QueryInt("SELECT count(*) FROM attachments WHERE sha256 IS NULL"), 0);
  }
  EXPECT_EQ(killed_mid_run, kRounds);
  EXPECT_GT(committed.size(), 0u);
}

}  // namespace
}  // namespace tianye
