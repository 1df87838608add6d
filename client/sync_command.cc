// `tianye sync`: sync this device's store with a Tianye server.
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "cli.h"
#include "commands.h"
#include "sync.h"

namespace tianye::cli {

int CmdSync(int argc, char** argv, int first) {
  static const char kUsage[] =
      "Usage: tianye sync [--server URL] [--user NAME] [--password-file FILE]\n"
      "                   [--ca FILE] [--pin sha256//BASE64] [--batch N] [--store PATH] [--logout]\n"
      "Pushes this device's changes to the server and pulls what changed there\n"
      "(records first). The first sync logs in (--user, and the password from\n"
      "--password-file, $TIANYE_SYNC_PASSWORD or the terminal); the login is kept\n"
      "in the encrypted store, so later syncs need only `tianye sync`.\n"
      "--ca trusts a CA bundle or the server's own certificate; --pin requires the\n"
      "server's public key to match. --batch sets the most changes per request,\n"
      "pushed or pulled (default 500 up, 1000 down; smaller on very poor links). Interrupted syncs resume where\n"
      "they stopped.\n";
  if (WantsHelp(argc, argv, first, kUsage)) return kExitOk;
  auto args = ParseArgs(argc, argv, first,
                        {"server", "user", "password-file", "ca", "pin", "batch", "store", "passphrase-file"}, {"logout"});
  if (!args) {
    ReportError(args.error());
    return kExitUsage;
  }
  if (!args->positional.empty()) {
    ReportError(Status::InvalidArgument("sync takes no arguments"));
    return kExitUsage;
  }
  auto store = OpenStore(*args);
  if (!store) return ReportOpenError(store.error());
  if (args->Has("logout")) {
    Status s = Logout(**store);
    if (!s.ok()) return ReportError(s);
    std::cout << "Logged out.\n";
    return kExitOk;
  }
  SyncOptions o;
  o.server = args->Get("server").value_or("");
  o.username = args->Get("user").value_or("");
  o.ca_file = args->Get("ca").value_or("");
  o.pin = args->Get("pin").value_or("");
  if (auto batch = args->Get("batch")) {
    int n = std::atoi(batch->c_str());
    if (n < 1 || n > 5000) {
      ReportError(Status::InvalidArgument("--batch is 1..5000"));
      return kExitUsage;
    }
    o.batch_ops = static_cast<size_t>(n);
    o.pull_limit = n;
  }
  if (args->Get("password-file")) {
    auto p = ReadPassphrase(*args, "password-file", false);
    if (!p) return ReportError(p.error());
    o.password = *p;
  } else if (const char* env = std::getenv("TIANYE_SYNC_PASSWORD"); env != nullptr) {
    o.password = env;
  }
  o.on_progress = [](const SyncProgress& p) {
    std::cerr << "\r" << p.stage << ": pushed " << p.ops_pushed << " changes, pulled " << p.changes_pulled
              << ", " << (p.bytes_up + p.bytes_down) / 1024 << " KiB" << std::flush;
  };
  auto report = RunSync(**store, o);
  if (!report && report.error().code() == StatusCode::kUnauthenticated && o.password.empty() &&
      ::isatty(STDIN_FILENO) && !o.username.empty()) {
    auto p = ReadPassphrase(*args, "password-file", false);
    if (!p) return ReportError(p.error());
    o.password = *p;
    report = RunSync(**store, o);
  }
  std::cerr << "\n";
  if (!report) {
    int code = ReportError(report.error());
    return report.error().code() == StatusCode::kUnauthenticated ? kExitAuth : code;
  }
  const SyncProgress& t = report->totals;
  std::cout << "Synced: " << t.ops_pushed << " changes pushed (" << t.conflicts << " in conflict, kept for review), "
            << t.changes_pulled << " pulled, " << t.photos_sent << " photos sent, " << t.bytes_up << " bytes up, "
            << t.bytes_down << " bytes down.\n";
  if (t.photos_received > 0 || t.photos_to_receive > 0) {
    std::cout << "Photos of other devices' records: " << t.photos_received << " received"
              << (t.photos_to_receive > 0 ? ", " + std::to_string(t.photos_to_receive) + " to fetch at a later sync" : "")
              << ".\n";
  }
  for (const std::string& p : report->problems) std::cout << "Problem: " << p << "\n";
  if (t.forms_installed > 0) std::cout << "New form versions from the server: " << t.forms_installed << "\n";
  for (const std::string& p : report->form_problems) std::cout << "Form not installed: " << p << "\n";
  if (t.ops_pending > 0) {
    std::cout << t.ops_pending << " changes are still waiting to be sent; run tianye sync again.\n";
  }
  for (const std::string& r : report->returned) std::cout << "Returned for fixing: " << r << "\n";
  return kExitOk;
}

}  // namespace tianye::cli
