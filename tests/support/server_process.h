// A real tianye-server process for integration tests: started on 127.0.0.1
// with a free port, stopped (SIGTERM, then SIGKILL) when the object goes.
#ifndef TIANYE_TESTS_SUPPORT_SERVER_PROCESS_H_
#define TIANYE_TESTS_SUPPORT_SERVER_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tianye::testing {

class ServerProcess {
 public:
  // Runs `binary serve --listen 127.0.0.1:0 <args>` and waits (up to 30 s)
  // for its "listening on http[s]://" line. port() is 0 when it did not come up;
  // output() then says why.
  ServerProcess(const std::string& binary, const std::vector<std::string>& args,
                const std::map<std::string, std::string>& env = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  uint16_t port() const { return port_; }
  std::string url() const { return scheme_ + "://127.0.0.1:" + std::to_string(port_); }
  // For an HTTPS server: the public-key pin it printed ("sha256//..."), else "".
  const std::string& pin() const { return pin_; }
  // Everything the server printed so far (read all along by a thread, so
  // the server never blocks on a full pipe).
  std::string output();
  // Sends `signal` and waits for the process to end; returns its exit code
  // (-1 when killed by a signal).
  int Stop(int signal);

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  uint16_t port_ = 0;
  std::string scheme_ = "http";
  std::string pin_;
  std::mutex mu_;
  std::string output_;
  std::thread reader_;
};

}  // namespace tianye::testing

#endif  // TIANYE_TESTS_SUPPORT_SERVER_PROCESS_H_
