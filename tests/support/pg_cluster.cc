#include "pg_cluster.h"

#include <netinet/in.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "test_util.h"

namespace tianye::testing {
namespace {

// The newest PostgreSQL server programs Debian installed (or $TIANYE_PG_BIN).
std::string FindBin() {
  if (const char* env = std::getenv("TIANYE_PG_BIN"); env != nullptr && *env) return env;
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    if (std::filesystem::exists(e.path() / "bin" / "initdb")) found.push_back((e.path() / "bin").string());
  }
  std::sort(found.begin(), found.end(), [](const std::string& a, const std::string& b) {
    return std::atoi(std::filesystem::path(a).parent_path().filename().c_str()) <
           std::atoi(std::filesystem::path(b).parent_path().filename().c_str());
  });
  return found.empty() ? "" : found.back();
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

}  // namespace

std::vector<std::string> PgCluster::AsOwner(std::vector<std::string> argv) const {
  if (::geteuid() != 0) return argv;
  argv.insert(argv.begin(), {"/usr/sbin/runuser", "-u", "postgres", "--"});
  return argv;
}

PgCluster::PgCluster(bool durable) : durable_(durable) {
  bin_ = FindBin();
  if (bin_.empty()) {
    error_ = "no PostgreSQL server programs under /usr/lib/postgresql (install Debian's postgresql: scripts/setup test)";
    return;
  }
  char tmpl[] = "/tmp/tianye-pg-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    error_ = "cannot make a folder for the cluster";
    return;
  }
  dir_ = tmpl;
  data_ = dir_ + "/data";
  log_ = dir_ + "/server.log";
  if (::geteuid() == 0) {
    const passwd* pg = ::getpwnam("postgres");
    if (pg == nullptr || ::chown(dir_.c_str(), pg->pw_uid, pg->pw_gid) != 0) {
      error_ = "as root the cluster runs as user postgres, and there is none (install Debian's postgresql)";
      return;
    }
  }
  ProcessResult init = Run(AsOwner({bin_ + "/initdb", "-D", data_, "-U", "tianye", "--auth=trust", "-E", "UTF8",
                                    "--locale=C.UTF-8", "--no-sync"}));
  if (init.exit_code != 0) {
    error_ = "initdb failed: " + init.err + init.out;
    return;
  }
  for (int attempt = 0; attempt < 3 && !running_; ++attempt) {
    port_ = FreePort();
    Start();
  }
}

bool PgCluster::Start() {
  // Small and quick: fsync off (a test cluster), the socket in its own folder.
  std::string options = "-p " + std::to_string(port_) + " -k " + dir_ + " -c listen_addresses=127.0.0.1";
  options += durable_ ? " -c max_connections=100" : " -c fsync=off -c full_page_writes=off -c shared_buffers=32MB -c max_connections=60";
  ProcessResult r = Run(AsOwner({bin_ + "/pg_ctl", "-D", data_, "-l", log_, "-w", "-t", "60", "-o", options, "start"}));
  running_ = r.exit_code == 0;
  error_ = running_ ? "" : "the PostgreSQL server did not start: " + r.err + r.out + ReadBytes(log_);
  return running_;
}

bool PgCluster::Stop() {
  ProcessResult r = Run(AsOwner({bin_ + "/pg_ctl", "-D", data_, "-m", "fast", "-w", "stop"}));
  if (r.exit_code != 0) {
    error_ = "the PostgreSQL server did not stop: " + r.err + r.out;
    return false;
  }
  running_ = false;
  return true;
}

PgCluster::~PgCluster() {
  if (running_) Stop();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string PgCluster::NewDatabase(const std::string& name, const std::string& copy_of) {
  std::vector<std::string> argv = {bin_ + "/createdb", "-h", "127.0.0.1", "-p", std::to_string(port_), "-U", "tianye"};
  if (!copy_of.empty()) argv.insert(argv.end(), {"-T", copy_of});
  argv.push_back(name);
  ProcessResult r = Run(argv);
  if (r.exit_code != 0) {
    error_ = "createdb " + name + " failed: " + r.err;
    return "";
  }
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=tianye dbname=" + name + " connect_timeout=10";
}

bool PgCluster::DropDatabase(const std::string& name) {
  ProcessResult r = Run({bin_ + "/dropdb", "-h", "127.0.0.1", "-p", std::to_string(port_), "-U", "tianye", name});
  if (r.exit_code != 0) error_ = "dropdb " + name + " failed: " + r.err;
  return r.exit_code == 0;
}

}  // namespace tianye::testing
