// Store: one encrypted SQLCipher database file, the device's (or server's)
// whole local state. Everything else in the core reads and writes through it.
//
// Contract:
//  - Open() creates the file when missing (unless told not to) or unlocks an
//    existing one. A wrong passphrase is kUnauthenticated and leaves the file
//    as it was; a damaged, truncated, foreign or plain-SQLite file is a clear
//    error too. Never a crash, never a silently empty store.
//  - A new store appears atomically: it is built beside the target path and
//    renamed into place, so a crash during creation leaves no half-made store.
//  - Commits are durable (WAL with synchronous=FULL): once a write call
//    returns OK the data survives a power cut.
//  - Schema migrations run on open, each in its own transaction.
//
// Thread safety: a Store is not thread-safe. Use one Store per thread (each
// opens its own connection to the same file); SQLite serialises writers.
#ifndef TIANYE_STORE_H_
#define TIANYE_STORE_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tianye/clock.h"
#include "tianye/status.h"

namespace tianye {

namespace internal {
class StoreAccess;
}  // namespace internal

class Transaction;

struct StoreOptions {
  // Path of the store file. Required. Its -wal and -shm companions live beside it.
  std::string path;

  enum class IfMissing { kCreate, kFail };
  // What Open() does when no file exists at `path`. Default: create a new store.
  IfMissing if_missing = IfMissing::kCreate;

  // Decrypted-page cache per Store, in MiB (at least 1). Each page read from
  // the OS costs a decryption, so a larger cache is faster; low-memory
  // devices may lower it. Default: 16.
  int cache_mib = 16;

  // Clock for timestamps and record ids. Default (null): SystemClock().
  // Not owned; must outlive the Store.
  const Clock* clock = nullptr;
};

// The passphrase that makes SQLCipher use a random 256-bit key, given as 64
// hex digits, as the encryption key itself: SQLCipher's raw-key form
// x'HEX'. Store::Open and Store::Rekey then skip PBKDF2, which exists to
// slow down guessing of human-chosen passphrases and adds nothing to a key
// that is already random (the server's key file). An empty string if `hex`
// is not 64 hex digits.
std::string RawKeyPassphrase(std::string_view hex);

class Store {
 public:
  // Opens (or creates) the store at options.path, unlocking it with
  // `passphrase` (any UTF-8 text, not empty). The passphrase is not kept.
  //
  // Errors: kInvalidArgument (empty path or passphrase, or a plain SQLite
  // file), kNotFound (missing file with IfMissing::kFail), kUnauthenticated
  // (wrong passphrase, or a file encrypted by something other than Tianye),
  // kCorruption (empty, truncated or damaged file), kFailedPrecondition
  // (SQLCipher older than 4, or a store written by a newer Tianye), kIOError.
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options,
                                             std::string_view passphrase);

  // Opens the server's store in PostgreSQL (a libpq connection string or
  // postgres:// URI), creating or upgrading its tables first; two servers
  // starting together upgrade them once. Write transactions (Begin) take one
  // lock shared by every server on the database, as SQLite takes the file's.
  // What is ported so far: settings, users, logins and their rate limit,
  // forms, and the sync ledger (see README "Running at scale").
  //
  // Errors: kIOError (the database cannot be reached), kUnauthenticated
  // (it refuses the login), kFailedPrecondition (tables written by a newer
  // Tianye).
  static Result<std::unique_ptr<Store>> OpenPostgres(const std::string& conninfo, const Clock* clock = nullptr);

  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Re-encrypts the whole file under `new_passphrase` (not empty) in one
  // transaction: afterwards only the new passphrase opens it. Fails with
  // kFailedPrecondition inside a Transaction.
  Status Rekey(std::string_view new_passphrase);

  // Starts a transaction. Transactions nest: an inner one is a savepoint that
  // commits into the outer one. Writes made outside any Transaction commit
  // one statement (one call) at a time.
  Result<Transaction> Begin();
  // Starts a read transaction: every read until it ends sees one snapshot
  // of the store, while other connections to the same file go on writing
  // (the store is in WAL mode). Writes inside it are refused by SQLite once
  // another connection has written. Errors: kFailedPrecondition inside a
  // Transaction.
  Result<Transaction> BeginRead();

  // Settings: a small key-value table for device-level configuration.
  Result<std::optional<std::string>> GetSetting(std::string_view key);
  Status PutSetting(std::string_view key, std::string_view value);
  Status DeleteSetting(std::string_view key);

  // Runs SQLite's integrity check over every page. OK, or kCorruption with
  // the first problems found.
  Status CheckIntegrity();

  // Moves the write-ahead log into the main file (TRUNCATE checkpoint).
  Status Checkpoint();

  // The store file's path, or (PostgreSQL) where the database is, without
  // its password.
  const std::string& path() const;
  // Whether this is the server's PostgreSQL store (OpenPostgres).
  bool on_postgres() const;
  const Clock& clock() const;
  int schema_version() const;
  // The schema version this build writes.
  static int LatestSchemaVersion();

 private:
  friend class internal::StoreAccess;
  friend class Transaction;
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A scoped transaction: rolls back on destruction unless Commit() succeeded.
// Obtained from Store::Begin(); must not outlive its Store.
class Transaction {
 public:
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction();

  // Makes the transaction's writes permanent (durable for the outermost one).
  // After an error the transaction has been rolled back.
  Status Commit();
  // Discards the transaction's writes. Idempotent.
  void Rollback();

 private:
  friend class Store;
  Transaction(Store* store, int depth) : store_(store), depth_(depth) {}
  Store* store_;
  int depth_;
  bool active_ = true;
};

}  // namespace tianye

#endif  // TIANYE_STORE_H_
