// A throwaway PostgreSQL cluster for tests: initdb in a folder of its own,
// one server on a free port of 127.0.0.1 (trust login, loopback only),
// stopped and removed when the object goes. Needs Debian's postgresql
// package (scripts/setup installs it); as root, the server runs as the
// package's `postgres` user, since PostgreSQL refuses to run as root.
#ifndef TIANYE_TESTS_SUPPORT_PG_CLUSTER_H_
#define TIANYE_TESTS_SUPPORT_PG_CLUSTER_H_

#include <string>
#include <vector>

namespace tianye::testing {

class PgCluster {
 public:
  // Starts it; error() says why when it did not. Tests run without fsync;
  // `durable` keeps PostgreSQL's defaults (for benchmarks).
  explicit PgCluster(bool durable = false);
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // "" when the cluster runs, else what went wrong (a test fails with it).
  const std::string& error() const { return error_; }
  int port() const { return port_; }

  // Makes an empty database, or a copy of database `copy_of` (which nobody
  // may be connected to: a backup); returns its connection string ("" and
  // error() set on failure).
  std::string NewDatabase(const std::string& name, const std::string& copy_of = "");
  // false, with error() set, when that failed.
  bool DropDatabase(const std::string& name);

  // Stops and starts the same cluster (a database restart under running
  // servers). false, with error() set, when that failed.
  bool Stop();
  bool Start();

 private:
  std::vector<std::string> AsOwner(std::vector<std::string> argv) const;
  std::string bin_, dir_, data_, log_;
  int port_ = 0;
  bool durable_ = false;
  bool running_ = false;
  std::string error_;
};

}  // namespace tianye::testing

#endif  // TIANYE_TESTS_SUPPORT_PG_CLUSTER_H_
