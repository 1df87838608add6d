#include "cli.h"

#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include <openssl/crypto.h>

namespace tianye::cli {

bool Args::Has(const std::string& flag) const {
  return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

std::optional<std::string> Args::Get(const std::string& name) const {
  auto it = options.find(name);
  if (it == options.end()) return std::nullopt;
  return it->second;
}

Result<Args> ParseArgs(int argc, char** argv, int first, const std::vector<std::string>& value_options,
                       const std::vector<std::string>& flag_options) {
  auto known = [](const std::vector<std::string>& list, const std::string& name) {
    return std::find(list.begin(), list.end(), name) != list.end();
  };
  Args args;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-o" && known(value_options, "output")) a = "--output";
    if (a == "--") {
      for (++i; i < argc; ++i) args.positional.emplace_back(argv[i]);
      break;
    }
    if (a.size() < 3 || a.compare(0, 2, "--") != 0) {
      args.positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    if (known(value_options, name)) {
      if (!value) {
        if (i + 1 >= argc) return Status::InvalidArgument("--" + name + " needs a value");
        value = argv[++i];
      }
      args.options[name] = *value;
    } else if (known(flag_options, name) && !value) {
      args.flags.push_back(name);
    } else {
      return Status::InvalidArgument("unknown option --" + name + " (see --help)");
    }
  }
  return args;
}

bool WantsHelp(int argc, char** argv, int first, const char* usage) {
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << usage;
      return true;
    }
  }
  return false;
}

std::string StorePath(const Args& args) {
  if (auto p = args.Get("store")) return *p;
  const char* xdg = std::getenv("XDG_DATA_HOME");
  std::string base;
  if (xdg != nullptr && *xdg != '\0') {
    base = xdg;
  } else {
    const char* home = std::getenv("HOME");
    base = std::string(home != nullptr ? home : ".") + "/.local/share";
  }
  return base + "/tianye/store.db";
}

namespace {

Result<std::string> PromptHidden(const std::string& prompt) {
  std::cerr << prompt << std::flush;
  termios old_mode{};
  bool tty = ::tcgetattr(STDIN_FILENO, &old_mode) == 0;
  if (tty) {
    termios quiet = old_mode;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  bool got = static_cast<bool>(std::getline(std::cin, line));
  if (tty) ::tcsetattr(STDIN_FILENO, TCSANOW, &old_mode);
  std::cerr << "\n";
  if (!got) return Status::Unauthenticated("no passphrase was entered");
  return line;
}

}  // namespace

Result<std::string> ReadPassphrase(const Args& args, const std::string& file_option, bool confirm) {
  if (auto file = args.Get(file_option)) {
    std::ifstream in(*file, std::ios::binary);
    if (!in) return Status::NotFound("cannot read passphrase file " + *file);
    std::string pass;
    std::getline(in, pass);
    if (!pass.empty() && pass.back() == '\r') pass.pop_back();
    return pass;
  }
  if (file_option == "passphrase-file") {
    if (const char* env = std::getenv("TIANYE_PASSPHRASE"); env != nullptr) return std::string(env);
  }
  if (!::isatty(STDIN_FILENO)) {
    return Status::Unauthenticated("no passphrase: pass --" + file_option +
                                   " FILE or set TIANYE_PASSPHRASE");
  }
  TIANYE_ASSIGN_OR_RETURN(std::string first, PromptHidden("Passphrase: "));
  if (confirm) {
    TIANYE_ASSIGN_OR_RETURN(std::string second, PromptHidden("Passphrase again: "));
    bool same = first == second;
    Wipe(second);
    if (!same) {
      Wipe(first);
      return Status::InvalidArgument("the two passphrases differ; nothing was changed");
    }
  }
  return first;
}

Result<std::unique_ptr<Store>> OpenStore(const Args& args) {
  TIANYE_ASSIGN_OR_RETURN(std::string pass, ReadPassphrase(args, "passphrase-file", false));
  StoreOptions options;
  options.path = StorePath(args);
  options.if_missing = StoreOptions::IfMissing::kFail;
  auto store = Store::Open(options, pass);
  Wipe(pass);
  return store;
}

int ReportError(const Status& status) {
  std::cerr << "tianye: " << status.message() << "\n";
  return status.code() == StatusCode::kUnauthenticated ? kExitAuth : kExitFailure;
}

int ReportOpenError(const Status& status) {
  int code = ReportError(status);
  if (status.code() == StatusCode::kNotFound) return kExitNoStore;
  return code;
}

void Wipe(std::string& secret) {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

}  // namespace tianye::cli
