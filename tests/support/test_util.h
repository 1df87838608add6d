// Helpers shared by Tianye's tests: temporary folders, raw file bytes and
// running a program as a child process.
#ifndef TIANYE_TESTS_SUPPORT_TEST_UTIL_H_
#define TIANYE_TESTS_SUPPORT_TEST_UTIL_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace tianye::testing {

// A fresh folder under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Whole-file helpers; ReadBytes returns "" for a missing file.
std::string ReadBytes(const std::string& path);
void WriteBytes(const std::string& path, const std::string& bytes);
bool Exists(const std::string& path);
// The files in `dir` (names only), sorted.
std::vector<std::string> ListDir(const std::string& dir);

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;
  std::string err;
};

// Runs `argv` (argv[0] is a path) with extra environment variables and
// `input` on standard input; waits for it to finish.
ProcessResult Run(const std::vector<std::string>& argv,
                  const std::map<std::string, std::string>& env = {}, const std::string& input = "");
// The same, calling `while_running(pid)` once the process has started and
// waiting for the process only after it returns (to signal it on a cue).
ProcessResult Run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                  const std::string& input, const std::function<void(pid_t)>& while_running);

}  // namespace tianye::testing

#endif  // TIANYE_TESTS_SUPPORT_TEST_UTIL_H_
