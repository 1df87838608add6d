// tianye-server: the sync and review server.
#include <iostream>
#include <string>

#include "tianye/version.h"

namespace {

constexpr char kUsage[] =
    "Usage: tianye-server [--version] [--help]\n"
    "\n"
    "The sync and supervisor-review server. This build has no HTTP service yet:\n"
    "see README.md, \"What does not work yet\".\n";

}  // namespace

int main(int argc, char** argv) {
  std::string arg = argc > 1 ? argv[1] : "";
  if (arg == "--version") {
    std::cout << tianye::VersionLine("tianye-server") << "\n";
    return 0;
  }
  if (arg == "--help" || arg == "-h") {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << kUsage;
  return 2;
}
