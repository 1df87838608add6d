// tianye: the field client.
#include <cstring>
#include <iostream>
#include <string>

#include "cli.h"
#include "commands.h"
#include "tianye/version.h"

namespace {

constexpr char kUsage[] =
    "Usage: tianye COMMAND [OPTIONS]\n"
    "\n"
    "Offline field survey client: keeps records in an encrypted store on this device.\n"
    "\n"
    "Commands:\n"
    "  init      create a new encrypted store\n"
    "  new FORM  fill in a new record in the terminal\n"
    "  edit ID   answer a draft's questions again\n"
    "  finalize ID  check a record and mark it finalized\n"
    "  delete ID [--restore]  delete a record (recoverable), or restore it\n"
    "  attach ID QUESTION FILE  store a photo as a question's answer\n"
    "  list      list records\n"
    "  show ID   print one record\n"
    "  export    write records as CSV or GeoJSON\n"
    "  passwd    change the store's passphrase\n"
    "  demo      write sample records of the three surveys\n"
    "  form      check, show, evaluate or import forms (form check|show|eval|import)\n"
    "  forms     list or install the forms in the store (forms list|install FILE)\n"
    "  ui        serve the mobile web UI on 127.0.0.1\n"
    "  sync      push this device's changes to the server and pull what changed\n"
    "\n"
    "Every command takes --store PATH (default $XDG_DATA_HOME/tianye/store.db) and\n"
    "--passphrase-file FILE (or the TIANYE_PASSPHRASE variable). `tianye COMMAND --help`\n"
    "explains one command. `tianye --version` prints the versions in use.\n"
    "\n"
    "Exit codes: 0 ok, 1 failed, 2 bad command line, 3 wrong or missing passphrase,\n"
    "4 no store at the path.\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace tianye::cli;
  if (argc < 2) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << kUsage;
    return kExitOk;
  }
  if (cmd == "--version" || cmd == "version") {
    std::cout << tianye::VersionLine("tianye") << "\n";
    return kExitOk;
  }
  if (cmd == "init") return CmdInit(argc, argv, 2);
  if (cmd == "list") return CmdList(argc, argv, 2);
  if (cmd == "show") return CmdShow(argc, argv, 2);
  if (cmd == "passwd") return CmdPasswd(argc, argv, 2);
  if (cmd == "demo") return CmdDemo(argc, argv, 2);
  if (cmd == "form") return CmdForm(argc, argv, 2);
  if (cmd == "forms") return CmdForms(argc, argv, 2);
  if (cmd == "ui") return CmdUi(argc, argv, 2);
  if (cmd == "sync") return CmdSync(argc, argv, 2);
  if (cmd == "new") return CmdNew(argc, argv, 2);
  if (cmd == "edit") return CmdEdit(argc, argv, 2);
  if (cmd == "finalize") return CmdFinalize(argc, argv, 2);
  if (cmd == "delete") return CmdDelete(argc, argv, 2);
  if (cmd == "attach") return CmdAttach(argc, argv, 2);
  if (cmd == "export") return CmdExport(argc, argv, 2);
  std::cerr << "tianye: unknown command '" << cmd << "'\n\n" << kUsage;
  return kExitUsage;
}
