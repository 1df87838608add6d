// `tianye ui`: serves the mobile web UI on 127.0.0.1, and `tianye forms`.

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "commands.h"
#include "http.h"
#include "tianye/form_store.h"
#include "ui_app.h"

namespace tianye::cli {

int CmdUi(int argc, char** argv, int first) {
  static const char kUsage[] =
      "Usage: tianye ui [--port N] [--store PATH] [--idle-lock SECONDS] [--user NAME]\n"
      "Serves the field client's web UI on http://127.0.0.1:PORT/ (port 0, the\n"
      "default, picks a free one) until interrupted. The store is unlocked in the\n"
      "page with its passphrase and locks again after SECONDS idle (default 600).\n"
      "New records are made by --user, else by the user this device logged in to\n"
      "the server as, else by \"inspector\".\n";
  if (WantsHelp(argc, argv, first, kUsage)) return kExitOk;
  auto args = ParseArgs(argc, argv, first, {"port", "store", "idle-lock", "user", "passphrase-file"}, {});
  if (!args) {
    ReportError(args.error());
    return kExitUsage;
  }
  UiOptions options;
  options.store_path = StorePath(*args);
  if (!std::filesystem::exists(options.store_path)) {
    return ReportOpenError(Status::NotFound("no store at " + options.store_path +
                                            " (create one with `tianye init`)"));
  }
  int port = 0, idle = 600;
  try {
    port = std::stoi(args->Get("port").value_or("0"));
    idle = std::stoi(args->Get("idle-lock").value_or("600"));
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535 || idle < 10) {
    ReportError(Status::InvalidArgument("--port is 0..65535 and --idle-lock at least 10 seconds"));
    return kExitUsage;
  }
  options.idle_lock_seconds = idle;
  options.field.username = args->Get("user").value_or("");
  options.field.device_id = "tianye-" + std::to_string(::gethostid());
  UiApp app(options);

  // Signals are taken synchronously by this thread, never by the server's.
  http::StopSignals signals;

  http::ServerOptions so;
  so.host = "127.0.0.1";
  so.port = static_cast<uint16_t>(port);
  so.worker_threads = 1;  // one store connection: requests are served in order
  so.upload_limit = 20u << 20;
  so.limits = [](std::string_view method, std::string_view path) {
    http::RouteLimits l;
    l.body_limit = 256 * 1024;
    l.spool_to_file = method == "POST" && path.ends_with("/photo");
    return l;
  };
  auto server = http::Server::Start(so, [&app](const http::Request& r) { return app.Handle(r); });
  if (!server) return ReportError(server.error());
  app.set_port((*server)->port());
  std::cout << "Tianye field client: open http://127.0.0.1:" << (*server)->port() << "/" << std::endl;
  int sig = signals.Wait();
  std::cout << "Stopping (signal " << sig << ")" << std::endl;
  (*server)->Stop();
  return kExitOk;
}

int CmdForms(int argc, char** argv, int first) {
  static const char kUsage[] =
      "Usage: tianye forms list\n"
      "       tianye forms install FILE...\n"
      "Lists the forms installed in the store, or checks and installs form files\n"
      "(with the CSV lists they name, read from beside them).\n";
  if (WantsHelp(argc, argv, first, kUsage)) return kExitOk;
  auto args = ParseArgs(argc, argv, first, {"store", "passphrase-file"}, {"json"});
  if (!args) {
    ReportError(args.error());
    return kExitUsage;
  }
  if (args->positional.empty()) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  const std::string sub = args->positional[0];
  if (sub != "list" && sub != "install") {
    std::cerr << kUsage;
    return kExitUsage;
  }
  auto store = OpenStore(*args);
  if (!store) return ReportOpenError(store.error());
  FormStore forms(store->get());
  if (sub == "install") {
    if (args->positional.size() < 2) {
      std::cerr << kUsage;
      return kExitUsage;
    }
    for (size_t i = 1; i < args->positional.size(); ++i) {
      auto r = forms.InstallFile(args->positional[i]);
      if (!r) return ReportError(r.error().WithContext(args->positional[i]));
      std::cout << "Installed " << r->form_id << " version " << r->version << "\n";
    }
    return kExitOk;
  }
  auto list = forms.List();
  if (!list) return ReportError(list.error());
  for (const InstalledForm& f : *list) {
    auto title = f.title.find("zh");
    std::cout << f.form_id << "  " << f.version << "  "
              << (title == f.title.end() ? "" : title->second) << "\n";
  }
  std::cout << list->size() << " form(s)\n";
  return kExitOk;
}

}  // namespace tianye::cli
