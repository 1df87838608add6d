// Shared plumbing of the `tianye` commands: argument parsing, where the store
// lives, where the passphrase comes from, and how errors become exit codes.
#ifndef TIANYE_CLIENT_CLI_H_
#define TIANYE_CLIENT_CLI_H_

#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tianye/status.h"
#include "tianye/store.h"

namespace tianye::cli {

// Exit codes, documented in the README.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,      // the operation failed (message on stderr)
  kExitUsage = 2,        // bad command line
  kExitAuth = 3,         // wrong or missing passphrase
  kExitNoStore = 4,      // no store at the path (run `tianye init`)
};

// A parsed command line: `--name value` / `--name=value` options, bare
// `--flag`s and positional arguments, in the order given.
struct Args {
  std::map<std::string, std::string> options;
  std::vector<std::string> flags;
  std::vector<std::string> positional;

  bool Has(const std::string& flag) const;
  std::optional<std::string> Get(const std::string& name) const;
};

// Parses argv[first..]. `value_options` are the options that take a value;
// "-o" is short for "--output" when "output" is one of them.
// Errors: kInvalidArgument for an unknown option or a missing value.
Result<Args> ParseArgs(int argc, char** argv, int first, const std::vector<std::string>& value_options,
                       const std::vector<std::string>& flag_options);

// True (after printing `usage` to stdout) when argv[first..] holds --help or -h.
bool WantsHelp(int argc, char** argv, int first, const char* usage);

// --store, else $XDG_DATA_HOME/tianye/store.db, else ~/.local/share/tianye/store.db.
std::string StorePath(const Args& args);

// Reads the passphrase from --passphrase-file, else $TIANYE_PASSPHRASE, else
// asks on the terminal (twice when `confirm`). Errors: kUnauthenticated when
// there is no source, kNotFound/kIOError for an unreadable file.
Result<std::string> ReadPassphrase(const Args& args, const std::string& file_option, bool confirm);

// Opens the store named by the arguments (never creates one).
Result<std::unique_ptr<Store>> OpenStore(const Args& args);

// Prints "tianye: <message>" on stderr and returns the exit code for it.
int ReportError(const Status& status);
// As ReportError, for a failed OpenStore(): a missing store is kExitNoStore.
int ReportOpenError(const Status& status);

// Overwrites a secret's bytes before it is released.
void Wipe(std::string& secret);

}  // namespace tianye::cli

#endif  // TIANYE_CLIENT_CLI_H_
