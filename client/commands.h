// The `tianye` subcommands. Each takes the full argv and the index of its
// first own argument, and returns the process exit code.
#ifndef TIANYE_CLIENT_COMMANDS_H_
#define TIANYE_CLIENT_COMMANDS_H_

#include <cstdint>
#include <string>

namespace tianye::cli {

// "2026-11-30 08:15:00Z" for a millisecond Unix time.
std::string FormatTime(int64_t ms);

int CmdInit(int argc, char** argv, int first);
int CmdList(int argc, char** argv, int first);
int CmdShow(int argc, char** argv, int first);
int CmdPasswd(int argc, char** argv, int first);
int CmdDemo(int argc, char** argv, int first);
int CmdForm(int argc, char** argv, int first);
int CmdForms(int argc, char** argv, int first);
int CmdUi(int argc, char** argv, int first);
int CmdSync(int argc, char** argv, int first);
int CmdNew(int argc, char** argv, int first);
int CmdEdit(int argc, char** argv, int first);
int CmdFinalize(int argc, char** argv, int first);
int CmdDelete(int argc, char** argv, int first);
int CmdAttach(int argc, char** argv, int first);
int CmdExport(int argc, char** argv, int first);

}  // namespace tianye::cli

#endif  // TIANYE_CLIENT_COMMANDS_H_
