// Store internals shared by the core's record, attachment and (later) sync
// code. Private to the core; tests may include it for white-box checks.
#ifndef TIANYE_CORE_STORE_IMPL_H_
#define TIANYE_CORE_STORE_IMPL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "sqlite.h"
#include "tianye/store.h"

namespace tianye {

struct Store::Impl {
  std::string path;
  const Clock* clock = nullptr;
  std::unique_ptr<internal::Connection> conn;
  int schema_version = 0;
  int tx_depth = 0;  // open Transaction objects
  int capture_suspended = 0;  // > 0: record edits are not captured for sync
};

namespace internal {

class StoreAccess {
 public:
  static Connection& Conn(Store& store) { return *store.impl_->conn; }
  static const Clock& ClockOf(Store& store) { return *store.impl_->clock; }
  static Store::Impl& ImplOf(Store& store) { return *store.impl_; }
  // A PostgreSQL store with its tables upgraded up to `target`
  // (core/store_postgres.cc).
  static Result<std::unique_ptr<Store>> OpenPostgres(const std::string& conninfo, const Clock* clock, int target);
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options,
                                             std::string_view passphrase, int schema_version,
                                             bool encrypted);
};

// What opening a store takes as the free disk beside `path` when an upgrade
// is due, instead of statvfs (an empty function: statvfs again).
void SetFreeDiskForTesting(std::function<Result<uint64_t>(const std::string& path)> probe);

// Opens the store but migrates only up to `schema_version`: lets tests build
// stores as older releases left them.
Result<std::unique_ptr<Store>> OpenAtSchemaForTesting(const StoreOptions& options,
                                                      std::string_view passphrase,
                                                      int schema_version);

// Opens a PostgreSQL server store with its tables upgraded only up to
// `version` (core/store_postgres.cc's steps): as older releases left them.
Result<std::unique_ptr<Store>> OpenPostgresAtVersionForTesting(const std::string& conninfo, int version);

// Opens the same schema with no encryption at all. Only for benchmarks that
// measure the cost of encryption on the identical code path.
Result<std::unique_ptr<Store>> OpenUnencryptedForBenchmark(const StoreOptions& options);

}  // namespace internal
}  // namespace tianye

#endif  // TIANYE_CORE_STORE_IMPL_H_
