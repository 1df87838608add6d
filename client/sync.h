// Client sync over libcurl: login once per device (the token is kept in the
// encrypted store), push the outbox in batches, pull pages after the stored
// cursor. Every step is resumable: a sync cut at any byte loses nothing and
// re-sends at most one batch.
//
// Thread safety: one sync at a time per Store.
#ifndef TIANYE_CLIENT_SYNC_H_
#define TIANYE_CLIENT_SYNC_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tianye/status.h"
#include "tianye/store.h"

namespace tianye::cli {

struct SyncProgress {
  std::string stage;  // "login", "forms", "push", "pull", "photos", "done"
  int64_t ops_pushed = 0;
  int64_t ops_pending = 0;
  int64_t changes_pulled = 0;
  int64_t conflicts = 0;
  int64_t photos_sent = 0;     // files the server now holds whole
  int64_t photos_pending = 0;  // files still to send
  int64_t photos_received = 0;    // other devices' photos fetched this sync
  int64_t photos_to_receive = 0;  // other devices' photos still to fetch (not on the server yet, or past the budget)
  int64_t forms_installed = 0;  // form versions fetched from the server this sync
  int64_t bytes_up = 0;
  int64_t bytes_down = 0;
};

struct SyncOptions {
  std::string server;    // "http://host:port" or "https://..."; empty: the one used last
  std::string username;  // needed for the first login
  std::string password;  // empty: use the stored token
  std::string ca_file;   // a CA bundle or the server's own certificate, for HTTPS
  std::string pin;       // "sha256//<base64>": the server's public key must match
  long connect_timeout_s = 10;
  long transfer_timeout_s = 120;
  int attempts = 5;               // per request, for network errors and 5xx/429
  int64_t backoff_start_ms = 500;  // doubled per attempt, with jitter, capped at 30 s
  size_t batch_ops = 500;
  // Other devices' photos of pulled records fetched per sync, at most (0: none).
  int64_t photo_download_bytes = 100LL * 1024 * 1024;
  int pull_limit = 1000;
  std::function<void(const SyncProgress&)> on_progress;
};

struct SyncReport {
  SyncProgress totals;
  std::vector<std::string> returned;  // "record id: comment" of records sent back
  std::vector<std::string> problems;  // what did not go, and why (photos that failed)
  std::vector<std::string> form_problems;  // server form versions that would not install here
};

// Runs one sync. Errors: kUnauthenticated (no or expired login and no
// password given), kIOError (the server cannot be reached after the retries),
// the server's typed errors otherwise; what was done before stays done.
Result<SyncReport> RunSync(Store& store, const SyncOptions& options);

// Forgets the stored login.
Status Logout(Store& store);

}  // namespace tianye::cli

#endif  // TIANYE_CLIENT_SYNC_H_
