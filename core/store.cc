#include "tianye/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>

#include "postgres.h"
#include "schema.h"
#include "sqlite.h"
#include "store_impl.h"

namespace tianye {
namespace {

using internal::Connection;
using internal::DbHandle;
using internal::SqliteConnection;

// SQLCipher 4's default page size; every store we create uses it.
constexpr int64_t kPageSize = 4096;
constexpr char kPlainSqliteHeader[16] = "SQLite format 3";  // with its NUL

Status Errno(std::string_view what, const std::string& path) {
  return Status::IOError(std::string(what) + " " + path + ": " + std::strerror(errno));
}

// Looks at the raw file before SQLite does, to tell apart the ways a file can
// fail to be a store and to report each one clearly.
Status CheckFileShape(const std::string& path, bool encrypted) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path);
  struct stat st {};
  char header[16] = {};
  ssize_t got = 0;
  if (::fstat(fd, &st) == 0) got = ::pread(fd, header, sizeof header, 0);
  ::close(fd);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + " is not a regular file");
  if (st.st_size == 0) {
    return Status::Corruption("store file " + path +
                              " is empty (0 bytes): it holds no Tianye data. Move it away and "
                              "restore a backup, or remove it to start a new store");
  }
  if (got == static_cast<ssize_t>(sizeof header) &&
      std::memcmp(header, kPlainSqliteHeader, sizeof header) == 0) {
    if (encrypted) {
      return Status::InvalidArgument(path +
                                     " is a plain, unencrypted SQLite database, not an encrypted "
                                     "Tianye store");
    }
    return Status::Ok();
  }
  if (encrypted && (st.st_size < kPageSize || st.st_size % kPageSize != 0)) {
    return Status::Corruption("store file " + path + " is truncated or damaged: " +
                              std::to_string(st.st_size) +
                              " bytes is not a whole number of 4096-byte pages");
  }
  return Status::Ok();
}

Result<SqliteConnection> OpenConnection(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_EXRESCODE, nullptr);
  DbHandle db(raw);
  if (rc != SQLITE_OK) return internal::SqliteStatus(raw, rc, "open " + path);
  return SqliteConnection(std::move(db));
}

Status CheckCipherVersion(Connection& conn) {
  // SQLCipher logs failed page checks to stderr by default; Tianye reports
  // them as Status values instead, so silence the library's own log.
  (void)conn.Exec("PRAGMA cipher_log_level = NONE");
  Result<std::string> v = conn.QueryText("PRAGMA cipher_version");
  if (!v || v->empty()) {
    return Status::FailedPrecondition(
        "the linked SQLite has no SQLCipher encryption; Tianye needs SQLCipher 4 or newer");
  }
  int major = std::atoi(v->c_str());
  if (major < 4) {
    return Status::FailedPrecondition("SQLCipher " + *v +
                                      " is too old; Tianye needs SQLCipher 4 or newer");
  }
  return Status::Ok();
}

Status ApplyKey(SqliteConnection& conn, std::string_view passphrase) {
  int rc = sqlite3_key_v2(conn.get(), "main", passphrase.data(), static_cast<int>(passphrase.size()));
  if (rc != SQLITE_OK) return internal::SqliteStatus(conn.get(), rc, "apply passphrase");
  return Status::Ok();
}

Status SetConnectionPragmas(Connection& conn, int cache_mib) {
  // Every page fetched from the OS costs an AES decryption and an HMAC check,
  // so a larger cache pays for itself (scripts/bench: random reads at 16 MiB
  // run at 0.56-0.61 of plain SQLite's rate, at SQLite's default 2 MiB 0.42).
  std::string cache = "PRAGMA cache_size = -" + std::to_string(std::max(1, cache_mib) * 1024);
  TIANYE_RETURN_IF_ERROR(conn.Exec(cache.c_str()));
  TIANYE_ASSIGN_OR_RETURN(std::string mode, conn.QueryText("PRAGMA journal_mode = WAL"));
  if (mode != "wal") {
    return Status::IOError("could not switch the store to write-ahead logging (mode " + mode + ")");
  }
  return conn.Exec(
      "PRAGMA synchronous = FULL;"  // durable commits: the WAL is synced at each commit
      "PRAGMA foreign_keys = ON;"
      "PRAGMA busy_timeout = 5000;"
      "PRAGMA secure_delete = ON;"
      // After a checkpoint that empties the log, a log a large transaction
      // grew (an import, a burst of pushes while readers held it) shrinks
      // back to this, instead of keeping its size until the store closes.
      "PRAGMA journal_size_limit = 67108864;");
}

// What the disk beside `path` has free for this process, in bytes; tests
// may stand in for statvfs.
std::function<Result<uint64_t>(const std::string&)>& FreeDiskProbe() {
  static std::function<Result<uint64_t>(const std::string&)> probe;
  return probe;
}

Result<uint64_t> FreeDiskBeside(const std::string& path) {
  if (FreeDiskProbe()) return FreeDiskProbe()(path);
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0) return Errno("cannot read the free disk space of", dir.string());
  return static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
}

// Refuses an upgrade that would run out of disk part way (after minutes of
// work on a large server store, and with the disk full for everything else
// on the machine) before it starts.
Status CheckRoomToUpgrade(const std::string& path, double factor, int target) {
  std::error_code none;
  uintmax_t bytes = std::filesystem::file_size(path, none);
  if (none) bytes = 0;
  const uintmax_t wal = std::filesystem::file_size(path + "-wal", none);
  if (!none) bytes += wal;
  const auto need = static_cast<uint64_t>(static_cast<double>(bytes) * factor);
  Result<uint64_t> free_or = FreeDiskBeside(path);
  if (!free_or) return Status::Ok();  // a file system that cannot say: the upgrade finds out
  const uint64_t free = *free_or;
  if (free >= need) return Status::Ok();
  auto mb = [](uint64_t n) { return std::to_string((n + 999'999) / 1'000'000) + " MB"; };
  char times[16];
  std::snprintf(times, sizeof times, "%.1f", factor);
  return Status::FailedPrecondition(
      "upgrading " + path + " to schema " + std::to_string(target) +
      " rewrites its server tables and needs about " + mb(need) + " of free disk beside it (" + times +
      " times the store's " + mb(bytes) + "); " + mb(free) +
      " are free. Free some disk or move the store, then start again: the store is unchanged");
}

std::string RandomSuffix() {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  unsigned char bytes[8];
  sqlite3_randomness(sizeof bytes, bytes);
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

void RemoveWithCompanions(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) ::unlink((path + suffix).c_str());
}

Status SyncPath(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Errno("cannot sync", path);
  return Status::Ok();
}

// Builds a new store beside `path` and links it into place, so that `path`
// only ever names a complete store. Losing a creation race is fine: the
// winner's store is then opened.
Status CreateAtomically(const std::string& path, std::string_view passphrase, int schema_version,
                        bool encrypted) {
  std::filesystem::path target(path);
  std::string dir = target.parent_path().empty() ? "." : target.parent_path().string();
  std::string tmp = path + ".creating-" + RandomSuffix();
  Status s = [&]() -> Status {
    TIANYE_ASSIGN_OR_RETURN(
        SqliteConnection conn, OpenConnection(tmp, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                                 SQLITE_OPEN_EXCLUSIVE | SQLITE_OPEN_NOMUTEX));
    if (encrypted) {
      TIANYE_RETURN_IF_ERROR(CheckCipherVersion(conn));
      TIANYE_RETURN_IF_ERROR(ApplyKey(conn, passphrase));
    }
    TIANYE_RETURN_IF_ERROR(SetConnectionPragmas(conn, 2));
    TIANYE_RETURN_IF_ERROR(internal::Migrate(conn, schema_version));
    TIANYE_RETURN_IF_ERROR(conn.Exec("PRAGMA wal_checkpoint(TRUNCATE)"));
    return Status::Ok();  // closing the connection removes the empty WAL
  }();
  if (s.ok()) s = SyncPath(tmp, O_RDONLY);
  if (s.ok() && ::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    s = Errno("cannot create", path);
  }
  RemoveWithCompanions(tmp);
  if (s.ok()) s = SyncPath(dir, O_RDONLY | O_DIRECTORY);
  return s.WithContext("creating store " + path);
}

}  // namespace

namespace internal {

Result<std::unique_ptr<Store>> StoreAccess::Open(const StoreOptions& options,
                                                 std::string_view passphrase, int schema_version,
                                                 bool encrypted) {
  const std::string& path = options.path;
  if (path.empty()) return Status::InvalidArgument("no store path given");
  if (encrypted && passphrase.empty()) {
    return Status::InvalidArgument("the passphrase is empty; a store needs a passphrase");
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return Errno("cannot access", path);
    if (options.if_missing == StoreOptions::IfMissing::kFail) {
      return Status::NotFound("no store at " + path + " (create one with `tianye init`)");
    }
    TIANYE_RETURN_IF_ERROR(CreateAtomically(path, passphrase, schema_version, encrypted));
  }
  TIANYE_RETURN_IF_ERROR(CheckFileShape(path, encrypted));

  TIANYE_ASSIGN_OR_RETURN(SqliteConnection conn,
                          OpenConnection(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX));
  if (encrypted) {
    TIANYE_RETURN_IF_ERROR(CheckCipherVersion(conn));
    TIANYE_RETURN_IF_ERROR(ApplyKey(conn, passphrase));
  }
  // Until the key is proven, closing must not checkpoint anything into the file.
  sqlite3_db_config(conn.get(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(conn.get(), "SELECT count(*) FROM sqlite_schema", -1, &raw, nullptr);
    if (rc == SQLITE_OK) rc = sqlite3_step(raw);
    sqlite3_finalize(raw);
    if ((rc & 0xff) == SQLITE_NOTADB) {
      return Status::Unauthenticated("wrong passphrase for " + path +
                                     " (or the file is not a Tianye store)");
    }
    if (rc != SQLITE_ROW) return internal::SqliteStatus(conn.get(), rc, "reading " + path);
  }
  TIANYE_ASSIGN_OR_RETURN(int64_t app_id, conn.QueryInt("PRAGMA application_id"));
  if (app_id != kApplicationId) {
    return Status::FailedPrecondition(path + " opens, but it is not a Tianye store");
  }
  sqlite3_db_config(conn.get(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, nullptr);

  TIANYE_RETURN_IF_ERROR(SetConnectionPragmas(conn, options.cache_mib));
  TIANYE_ASSIGN_OR_RETURN(int64_t was, conn.QueryInt("PRAGMA user_version"));
  TIANYE_ASSIGN_OR_RETURN(double disk_factor, UpgradeDiskFactor(conn, was, schema_version));
  if (disk_factor > 0) TIANYE_RETURN_IF_ERROR(CheckRoomToUpgrade(path, disk_factor, schema_version));
  TIANYE_RETURN_IF_ERROR(Migrate(conn, schema_version));
  TIANYE_ASSIGN_OR_RETURN(int64_t version, conn.QueryInt("PRAGMA user_version"));
  if (version != was) {
    // An upgrade that rewrote tables ran in one transaction: its log can be
    // larger than the store (1.57 GB for a 1.34 GB server store). Move it
    // into the file and give the disk back now, not at the next clean stop.
    // Best effort: a reader of another process may hold part of it.
    (void)conn.Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }

  auto impl = std::make_unique<Store::Impl>();
  impl->path = path;
  impl->clock = options.clock != nullptr ? options.clock : SystemClock();
  impl->conn = std::make_unique<SqliteConnection>(std::move(conn));
  impl->schema_version = static_cast<int>(version);
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

void SetFreeDiskForTesting(std::function<Result<uint64_t>(const std::string& path)> probe) {
  FreeDiskProbe() = std::move(probe);
}

Result<std::unique_ptr<Store>> OpenAtSchemaForTesting(const StoreOptions& options,
                                                      std::string_view passphrase,
                                                      int schema_version) {
  return StoreAccess::Open(options, passphrase, schema_version, /*encrypted=*/true);
}

Result<std::unique_ptr<Store>> OpenUnencryptedForBenchmark(const StoreOptions& options) {
  return StoreAccess::Open(options, "", LatestSchemaVersion(), /*encrypted=*/false);
}

}  // namespace internal

std::string RawKeyPassphrase(std::string_view hex) {
  auto is_hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  if (hex.size() != 64 || !std::all_of(hex.begin(), hex.end(), is_hex)) return "";
  return "x'" + std::string(hex) + "'";
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options,
                                           std::string_view passphrase) {
  return internal::StoreAccess::Open(options, passphrase, internal::LatestSchemaVersion(),
                                     /*encrypted=*/true);
}

int Store::LatestSchemaVersion() { return internal::LatestSchemaVersion(); }
const std::string& Store::path() const { return impl_->path; }
bool Store::on_postgres() const { return impl_->conn->dialect() == internal::Dialect::kPostgres; }
const Clock& Store::clock() const { return *impl_->clock; }
int Store::schema_version() const { return impl_->schema_version; }

Status Store::Rekey(std::string_view new_passphrase) {
  if (new_passphrase.empty()) return Status::InvalidArgument("the new passphrase is empty");
  if (impl_->tx_depth > 0) {
    return Status::FailedPrecondition("cannot change the passphrase inside a transaction");
  }
  TIANYE_ASSIGN_OR_RETURN(sqlite3 * db, internal::SqliteHandle(*impl_->conn, "changing the passphrase"));
  impl_->conn->ClearCache();
  int rc = sqlite3_rekey_v2(db, "main", new_passphrase.data(), static_cast<int>(new_passphrase.size()));
  if (rc != SQLITE_OK) return internal::SqliteStatus(db, rc, "change passphrase");
  // Make the re-encrypted pages the main file's content, not only the WAL's.
  return Checkpoint();
}

Result<Transaction> Store::Begin() {
  int depth = impl_->tx_depth;
  // SQLite: take the write lock now, not at the first write (which could
  // then fail half-way with SQLITE_BUSY).
  // PostgreSQL: one writer at a time across every server process, as SQLite
  // has one per file: the lock is held to the transaction's end, and what
  // the transaction reads after it is what the previous writer committed
  // (server sequence numbers, push acknowledgements and cursors rely on it).
  std::string sql = depth > 0       ? "SAVEPOINT tx_" + std::to_string(depth)
                    : on_postgres() ? "BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(internal::kPgWriterLock) + ")"
                                    : "BEGIN IMMEDIATE";
  TIANYE_RETURN_IF_ERROR(impl_->conn->Exec(sql.c_str()));
  ++impl_->tx_depth;
  return Transaction(this, depth);
}

Result<Transaction> Store::BeginRead() {
  if (impl_->tx_depth > 0) return Status::FailedPrecondition("a read transaction cannot nest in another");
  TIANYE_RETURN_IF_ERROR(impl_->conn->Exec(on_postgres() ? "BEGIN ISOLATION LEVEL REPEATABLE READ" : "BEGIN DEFERRED"));
  ++impl_->tx_depth;
  return Transaction(this, 0);
}

Result<std::optional<std::string>> Store::GetSetting(std::string_view key) {
  TIANYE_ASSIGN_OR_RETURN(auto stmt, impl_->conn->Prepare("SELECT value FROM settings WHERE key = ?"));
  stmt.Bind(1, key);
  TIANYE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(stmt.Text(0));
}

Status Store::PutSetting(std::string_view key, std::string_view value) {
  TIANYE_ASSIGN_OR_RETURN(
      auto stmt, impl_->conn->Prepare("INSERT INTO settings (key, value) VALUES (?, ?) "
                                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value"));
  return stmt.Bind(1, key).Bind(2, value).Run();
}

Status Store::DeleteSetting(std::string_view key) {
  TIANYE_ASSIGN_OR_RETURN(auto stmt, impl_->conn->Prepare("DELETE FROM settings WHERE key = ?"));
  return stmt.Bind(1, key).Run();
}

Status Store::CheckIntegrity() {
  if (on_postgres()) {
    return impl_->conn->QueryInt("SELECT 1").error();  // PostgreSQL checks its own pages
  }
  std::string problems;
  // cipher_integrity_check verifies every page's HMAC first and names the
  // damaged pages; SQLite's own check then walks the b-trees. A read error
  // while checking is itself evidence of damage.
  for (const char* sql : {"PRAGMA cipher_integrity_check", "PRAGMA integrity_check"}) {
    auto stmt = impl_->conn->Prepare(sql);
    if (!stmt) return stmt.error();
    int shown = 0;
    while (problems.empty() || shown < 5) {
      Result<bool> row = stmt->Step();
      if (!row) {
        problems += (problems.empty() ? "" : "; ") + row.error().message();
        break;
      }
      if (!*row) break;
      std::string line = stmt->Text(0);
      if (line == "ok") continue;
      ++shown;
      problems += (problems.empty() ? "" : "; ") + line;
    }
    if (!problems.empty()) break;
  }
  if (problems.empty()) return Status::Ok();
  return Status::Corruption("store " + impl_->path + " is damaged: " + problems);
}

Status Store::Checkpoint() {
  if (on_postgres()) return Status::Ok();  // no WAL file of ours
  TIANYE_ASSIGN_OR_RETURN(auto stmt, impl_->conn->Prepare("PRAGMA wal_checkpoint(TRUNCATE)"));
  TIANYE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (row && stmt.Int(0) != 0) {
    return Status::Conflict("checkpoint could not finish: another connection is reading");
  }
  return Status::Ok();
}

Transaction::Transaction(Transaction&& other) noexcept
    : store_(other.store_), depth_(other.depth_), active_(other.active_) {
  other.active_ = false;
}

Transaction::~Transaction() { Rollback(); }

Status Transaction::Commit() {
  if (!active_) return Status::FailedPrecondition("transaction is no longer active");
  Store::Impl& impl = *store_->impl_;
  if (impl.tx_depth != depth_ + 1) {
    return Status::FailedPrecondition("an inner transaction is still open");
  }
  std::string sql = depth_ == 0 ? "COMMIT" : "RELEASE tx_" + std::to_string(depth_);
  Status s = impl.conn->Exec(sql.c_str());
  if (!s.ok()) {
    Rollback();
    return s;
  }
  active_ = false;
  --impl.tx_depth;
  return Status::Ok();
}

void Transaction::Rollback() {
  if (!active_) return;
  active_ = false;
  Store::Impl& impl = *store_->impl_;
  if (depth_ == 0) {
    // Fails harmlessly when SQLite already rolled back on its own (e.g. after SQLITE_FULL).
    (void)impl.conn->Exec("ROLLBACK");
  } else {
    std::string n = std::to_string(depth_);
    (void)impl.conn->Exec(("ROLLBACK TO tx_" + n + "; RELEASE tx_" + n).c_str());
  }
  impl.tx_depth = depth_;
}

}  // namespace tianye
