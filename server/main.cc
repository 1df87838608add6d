// tianye-server: the sync server, and its admin commands.
#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "app.h"
#include "http.h"
#include "tls_cert.h"
#include "tianye/accounts.h"
#include "tianye/form_store.h"
#include "tianye/review.h"
#include "tianye/store.h"
#include "tianye/version.h"

namespace tianye::server {
namespace {

namespace fs = std::filesystem;

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    "Usage: tianye-server [serve] [options]       run the sync server\n"
    "       tianye-server user add NAME --role ROLE [--area CODE]... [--name TEXT] [--password-file FILE]\n"
    "       tianye-server user passwd NAME [--password-file FILE]\n"
    "       tianye-server user disable|enable NAME\n"
    "       tianye-server user assign NAME --area CODE [--area CODE]...\n"
    "       tianye-server user list\n"
    "       tianye-server forms install FILE...\n"
    "\n"
    "Options (every command):\n"
    "  --data-dir DIR     where the store, its key and upload spool live\n"
    "                     (default $XDG_DATA_HOME/tianye-server)\n"
    "  --store PATH       the store file (default DIR/tianye-server.db; sqlcipher:PATH also works),\n"
    "                     or postgres://USER@HOST:PORT/DB (password from PGPASSWORD or ~/.pgpass)\n"
    "  --config FILE      'key = value' lines for any of these options\n"
    "Serve options:\n"
    "  --listen HOST:PORT address to listen on (default 127.0.0.1:8080; port 0 = any free)\n"
    "  --forms DIR        install every *.json form in DIR at start (same version twice is fine)\n"
    "  --workers N        request worker threads (default 2)\n"
  "  --tls-cert FILE    HTTPS certificate (chain), PEM; with --tls-key\n"
  "  --tls-key FILE     its private key, PEM\n"
  "  --tls on|off       on (default): HTTPS; without --tls-cert a self-signed\n"
  "                     certificate is made in DIR on first start and its pin\n"
  "                     printed at every start. off: plain HTTP, only for\n"
  "                     loopback or behind a proxy that speaks HTTPS\n"
    "\n"
    "The store is encrypted with the key in $TIANYE_SERVER_KEY, or else with the\n"
    "key in DIR/server.key, made (mode 0600) on first start. Roles: inspector,\n"
    "surveyor, supervisor, admin. Areas are 12-digit codes (a county code covers\n"
    "its townships and villages) or * for everywhere. Passwords come from\n"
    "--password-file, $TIANYE_USER_PASSWORD, or are asked for on the terminal.\n";

struct Options {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> values;
  std::string Get(const std::string& k, const std::string& fallback = "") const {
    auto it = values.find(k);
    return it == values.end() || it->second.empty() ? fallback : it->second.back();
  }
};

Status Usage(const std::string& why) { return Status::InvalidArgument(why); }

Result<Options> Parse(int argc, char** argv) {
  static const std::vector<std::string> kKnown = {"data-dir", "store",   "config",   "listen",   "forms",
                                                  "workers",  "role",    "area",     "name",     "password-file",
                                                  "tls",      "tls-cert", "tls-key"};
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) {
      o.positional.push_back(a);
      continue;
    }
    std::string key = a.substr(2), value;
    size_t eq = key.find('=');
    if (eq != std::string::npos) {
      value = key.substr(eq + 1);
      key.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return Usage("--" + key + " needs a value");
    }
    if (std::find(kKnown.begin(), kKnown.end(), key) == kKnown.end()) return Usage("unknown option --" + key);
    o.values[key].push_back(value);
  }
  std::string config = o.Get("config");
  if (!config.empty()) {
    std::ifstream in(config);
    if (!in) return Status::NotFound("cannot read the config file " + config);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      size_t hash = line.find('#');
      if (hash != std::string::npos) line.resize(hash);
      size_t eq = line.find('=');
      auto trim = [](std::string s) {
        s.erase(0, s.find_first_not_of(" \t\r"));
        s.erase(s.find_last_not_of(" \t\r") + 1);
        return s;
      };
      if (trim(line).empty()) continue;
      if (eq == std::string::npos) return Usage(config + ":" + std::to_string(n) + ": expected key = value");
      std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
      if (std::find(kKnown.begin(), kKnown.end(), key) == kKnown.end() || key == "config") {
        return Usage(config + ":" + std::to_string(n) + ": unknown setting '" + key + "'");
      }
      if (!o.values.count(key)) o.values[key].push_back(value);  // flags win over the file
    }
  }
  return o;
}

std::string DataDir(const Options& o) {
  std::string dir = o.Get("data-dir");
  if (!dir.empty()) return dir;
  const char* xdg = std::getenv("XDG_DATA_HOME");
  if (xdg != nullptr && *xdg != '\0') return std::string(xdg) + "/tianye-server";
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.local/share/tianye-server";
}

// The store key: $TIANYE_SERVER_KEY, or the key file (made on first start).
Result<std::string> StoreKey(const std::string& dir) {
  if (const char* k = std::getenv("TIANYE_SERVER_KEY"); k != nullptr && *k != '\0') return std::string(k);
  std::string path = dir + "/server.key";
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if ((st.st_mode & 077) != 0) {
      return Status::PermissionDenied(path + " can be read by other users; run: chmod 600 " + path);
    }
    std::ifstream in(path);
    std::string key;
    std::getline(in, key);
    if (key.size() < 32) return Status::Corruption(path + " does not hold a key");
    return key;
  }
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return Status::Internal("no random bytes for the store key");
  static const char kHex[] = "0123456789abcdef";
  std::string key;
  for (unsigned char c : raw) {
    key += kHex[c >> 4];
    key += kHex[c & 15];
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return Status::IOError("cannot create " + path + ": " + std::strerror(errno));
  std::string line = key + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Status::IOError("cannot write " + path);
  std::cerr << "tianye-server: made a new store key in " << path << " (keep a copy with the backups)\n";
  return key;
}

Result<std::unique_ptr<Store>> OpenServerStore(const Options& o) {
  std::string dir = DataDir(o);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create the data folder " + dir + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  std::string path = o.Get("store", dir + "/tianye-server.db");
  if (path.rfind("sqlcipher:", 0) == 0) path = path.substr(10);
  // PostgreSQL: the password is best given by PGPASSWORD or ~/.pgpass, not
  // in the URI (other users of the machine can read command lines).
  if (path.rfind("postgres://", 0) == 0 || path.rfind("postgresql://", 0) == 0) return Store::OpenPostgres(path);
  TIANYE_ASSIGN_OR_RETURN(std::string key, StoreKey(dir));
  StoreOptions so;
  so.path = path;
  so.cache_mib = 64;  // the server's working set: field states, history, conflicts
  // A random key (the key file's 64 hex digits) is used as the key itself; a
  // TIANYE_SERVER_KEY of other text is stretched like any passphrase.
  std::string raw = RawKeyPassphrase(key);
  if (raw.empty()) return Store::Open(so, key);
  bool existed = fs::exists(path, ec);
  auto store = Store::Open(so, raw);
  if (store || !existed || store.error().code() != StatusCode::kUnauthenticated) return store;
  // Stores made by earlier versions stretched the key file's text with PBKDF2:
  // open such a store that way and re-key it once to the raw key.
  auto old = Store::Open(so, key);
  if (!old) return store.error();
  TIANYE_RETURN_IF_ERROR((*old)->Rekey(raw).WithContext("re-keying " + path));
  std::cerr << "tianye-server: re-keyed " << path << " to use its key file's key directly (done once)\n";
  return old;
}

int Report(const Status& s) {
  std::cerr << "tianye-server: " << s.message() << "\n";
  return s.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitError;
}

Result<std::string> ReadPassword(const Options& o, bool confirm) {
  std::string file = o.Get("password-file");
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) return Status::NotFound("cannot read " + file);
    std::string p;
    std::getline(in, p);
    return p;
  }
  if (const char* p = std::getenv("TIANYE_USER_PASSWORD"); p != nullptr && *p != '\0') return std::string(p);
  if (!::isatty(0)) return Usage("no password: use --password-file FILE or $TIANYE_USER_PASSWORD");
  auto ask = [](const char* prompt) {
    std::cerr << prompt << std::flush;
    termios old{};
    tcgetattr(0, &old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(0, TCSANOW, &quiet);
    std::string p;
    std::getline(std::cin, p);
    tcsetattr(0, TCSANOW, &old);
    std::cerr << "\n";
    return p;
  };
  std::string p = ask("Password: ");
  if (confirm && ask("Again: ") != p) return Usage("the two passwords differ");
  return p;
}

int UserCommand(const Options& o) {
  if (o.positional.size() < 2) return Report(Usage("user: add, passwd, disable, enable, assign or list"));
  const std::string& verb = o.positional[1];
  auto store = OpenServerStore(o);
  if (!store) return Report(store.error());
  Accounts accounts(store->get());
  if (verb == "list") {
    auto users = accounts.List();
    if (!users) return Report(users.error());
    for (const User& u : *users) {
      std::string scope;
      for (const std::string& c : u.scope) scope += (scope.empty() ? "" : ",") + c;
      std::cout << u.username << "\t" << u.role << "\t" << (scope.empty() ? "-" : scope)
                << (u.disabled ? "\tdisabled" : "") << "\n";
    }
    return kExitOk;
  }
  if (o.positional.size() != 3) return Report(Usage("user " + verb + " NAME"));
  const std::string& name = o.positional[2];
  auto areas = o.values.count("area") ? o.values.at("area") : std::vector<std::string>{};
  Status s;
  if (verb == "add") {
    auto password = ReadPassword(o, true);
    if (!password) return Report(password.error());
    s = accounts.Add(User{name, o.Get("name"), o.Get("role"), areas, false}, *password);
  } else if (verb == "passwd") {
    auto password = ReadPassword(o, true);
    if (!password) return Report(password.error());
    s = accounts.SetPassword(name, *password);
  } else if (verb == "disable" || verb == "enable") {
    s = accounts.SetDisabled(name, verb == "disable");
  } else if (verb == "assign") {
    if (areas.empty()) return Report(Usage("user assign NAME --area CODE [--area CODE]..."));
    s = accounts.Assign(name, areas);
  } else {
    return Report(Usage("unknown user command '" + verb + "'"));
  }
  if (!s.ok()) return Report(s);
  std::cout << "user " << name << ": " << verb << " done\n";
  return kExitOk;
}

Status InstallForms(Store& store, const std::vector<std::string>& files) {
  FormStore forms(&store);
  for (const std::string& f : files) {
    Result<InstalledForm> installed = forms.InstallFile(f);
    if (!installed) return installed.error().WithContext(f);
    std::cout << "form " << installed->form_id << " " << installed->version << " installed from " << f << "\n";
  }
  return Status::Ok();
}

int FormsCommand(const Options& o) {
  if (o.positional.size() < 3 || o.positional[1] != "install") return Report(Usage("forms install FILE..."));
  auto store = OpenServerStore(o);
  if (!store) return Report(store.error());
  Status s = InstallForms(**store, std::vector<std::string>(o.positional.begin() + 2, o.positional.end()));
  return s.ok() ? kExitOk : Report(s);
}

std::string NowIso() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// The certificate to serve with: --tls-cert/--tls-key, a self-signed pair in
// the data dir, or none with --tls off (empty file names).
Result<TlsFiles> TlsSetup(const Options& o, const std::string& host) {
  std::string mode = o.Get("tls", "on");
  if (mode != "on" && mode != "off") return Usage("--tls is on or off");
  std::string cert = o.Get("tls-cert"), key = o.Get("tls-key");
  if (cert.empty() != key.empty()) return Usage("--tls-cert and --tls-key go together");
  if (mode == "off") {
    if (!cert.empty()) return Usage("--tls off with --tls-cert: choose one");
    return TlsFiles{};
  }
  TlsFiles files{cert, key, false};
  if (cert.empty()) {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    TIANYE_ASSIGN_OR_RETURN(files, EnsureSelfSigned(DataDir(o), {host, name}));
  }
  TIANYE_RETURN_IF_ERROR(CheckKeyPair(files));
  return files;
}

// Checks records changed since their last check against their forms
// (ServerApp::CheckChangedRecords) until `stop`: a few at a time, so a
// request waits at most for reading or writing a few records; every half
// second when none waits.
void CheckInBackground(ServerApp& app, std::stop_token stop) {
  constexpr int kBatch = 16;
  std::mutex mu;
  std::condition_variable_any wake;
  bool reported = false;
  while (!stop.stop_requested()) {
    Result<int> checked = app.CheckChangedRecords(kBatch);
    if (!checked && !reported) {
      std::cerr << "tianye-server: checking records against their forms: " << checked.error().message() << "\n";
      reported = true;
    }
    const auto pause = checked && *checked == kBatch ? std::chrono::milliseconds(5) : std::chrono::milliseconds(500);
    std::unique_lock<std::mutex> lock(mu);
    wake.wait_for(lock, stop, pause, [] { return false; });
  }
}

int Serve(const Options& o) {
  std::string listen = o.Get("listen", "127.0.0.1:8080");
  size_t colon = listen.rfind(':');
  int port = -1, workers = 2;
  try {
    if (colon != std::string::npos) port = std::stoi(listen.substr(colon + 1));
    workers = std::stoi(o.Get("workers", "2"));
  } catch (...) {
    port = -1;
  }
  if (colon == std::string::npos || port < 0 || port > 65535 || workers < 1 || workers > 64) {
    return Report(Usage("--listen is HOST:PORT (port 0..65535) and --workers 1..64"));
  }
  auto store = OpenServerStore(o);
  if (!store) return Report(store.error());
  auto tls = TlsSetup(o, listen.substr(0, colon));
  if (!tls) return Report(tls.error());
  std::string forms_dir = o.Get("forms");
  if (!forms_dir.empty()) {
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(forms_dir, ec)) {
      if (e.path().extension() == ".json") files.push_back(e.path().string());
    }
    if (ec) return Report(Status::NotFound("cannot read the forms folder " + forms_dir));
    std::sort(files.begin(), files.end());
    Status s = InstallForms(**store, files);
    if (!s.ok()) return Report(s);
  }
  auto indexed = ReviewQueries(store->get()).BuildSearchIndexIfStale();
  if (!indexed) return Report(indexed.error().WithContext("building the search index"));
  if (*indexed > 0) std::cerr << "tianye-server: indexed " << *indexed << " records for search (once)\n";
  auto counted = ReviewQueries(store->get()).BuildDashboardFactsIfStale();
  if (!counted) return Report(counted.error().WithContext("computing the dashboard's figures"));
  if (*counted > 0) std::cerr << "tianye-server: computed the dashboard's figures of " << *counted << " records (once)\n";
  if ((*store)->on_postgres()) std::cout << "tianye-server: store PostgreSQL at " << (*store)->path() << "\n";
  // A second connection for exports and the dashboard, so they do not hold
  // up pushes while they read many records.
  auto reader = OpenServerStore(o);
  if (!reader) return Report(reader.error().WithContext("opening a second connection to the store"));
  ServerApp app(std::move(*store), std::move(*reader));

  http::StopSignals signals;

  http::ServerOptions so;
  so.host = listen.substr(0, colon);
  so.port = static_cast<uint16_t>(port);
  so.worker_threads = workers;
  so.tls_cert_file = tls->cert_file;
  so.tls_key_file = tls->key_file;
  so.limits = ServerApp::Limits;
  so.spool_dir = DataDir(o) + "/spool";
  std::error_code ec;
  fs::create_directories(so.spool_dir, ec);
  so.on_request = [](const http::Request& req, const http::Response& res, double ms) {
    nlohmann::json line = {{"t", NowIso()},     {"remote", req.remote},  {"method", req.method},
                           {"path", req.path},  {"status", res.status},  {"ms", static_cast<int64_t>(ms * 10) / 10.0},
                           {"bytes", res.body.size()}};
    if (const std::string& coding = req.Header("content-encoding"); !coding.empty()) line["encoding"] = coding;
    if (!res.audit.empty()) line["audit"] = res.audit;
    std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n" << std::flush;
  };
  auto server = http::Server::Start(so, [&app](const http::Request& r) { return app.Handle(r); });
  if (!server) return Report(server.error());
  std::string url = (tls->cert_file.empty() ? "http://" : "https://") + so.host + ":" +
                    std::to_string((*server)->port());
  if (tls->cert_file.empty()) {
    std::cout << "tianye-server: plain HTTP (--tls off): use it only on loopback or behind an HTTPS proxy\n";
  } else {
    auto id = IdentityOf(tls->cert_file);
    if (!id) return Report(id.error());
    std::cout << "tianye-server: certificate " << tls->cert_file << (tls->made_now ? " (self-signed, made now)" : "")
              << "\ntianye-server: SHA-256 fingerprint " << id->fingerprint
              << "\ntianye-server: pin " << id->pin << "\ntianye-server: clients: tianye sync --server " << url
              << " --pin " << id->pin << "\n";
  }
  std::cout << "tianye-server listening on " << url << "/" << std::endl;
  std::jthread checker([&app](std::stop_token stop) { CheckInBackground(app, stop); });
  int sig = signals.Wait();
  std::cout << "tianye-server: stopping (signal " << sig << ")" << std::endl;
  (*server)->Stop();
  checker.request_stop();
  checker.join();
  {
    std::lock_guard<std::mutex> lock(app.mutex());
    (void)app.store().Checkpoint();
  }
  return kExitOk;
}

}  // namespace
}  // namespace tianye::server

int main(int argc, char** argv) {
  using namespace tianye::server;
  std::string first = argc > 1 ? argv[1] : "";
  if (first == "--version") {
    std::cout << tianye::VersionLine("tianye-server") << "\n";
    return kExitOk;
  }
  if (first == "--help" || first == "-h" || first == "help") {
    std::cout << kUsage;
    return kExitOk;
  }
  auto options = Parse(argc, argv);
  if (!options) {
    std::cerr << "tianye-server: " << options.error().message() << "\n\n" << kUsage;
    return kExitUsage;
  }
  std::string command = options->positional.empty() ? "serve" : options->positional[0];
  if (command == "serve") {
    if (options->positional.size() > 1) return Report(Usage("serve takes no arguments"));
    return Serve(*options);
  }
  if (command == "user") return UserCommand(*options);
  if (command == "forms") return FormsCommand(*options);
  std::cerr << "tianye-server: unknown command '" << command << "'\n\n" << kUsage;
  return kExitUsage;
}
