// Versions of Tianye and of the storage engine it runs on.
#ifndef TIANYE_VERSION_H_
#define TIANYE_VERSION_H_

#include <string>

#include "tianye/status.h"

namespace tianye {

struct VersionInfo {
  std::string tianye;     // e.g. "0.1.0"
  std::string sqlcipher;  // PRAGMA cipher_version, e.g. "4.14.0 community"
  std::string sqlite;     // e.g. "3.51.3"
  int schema = 0;         // the store schema version this build writes
};

// Asks the linked SQLCipher for its versions (through an in-memory database).
Result<VersionInfo> GetVersionInfo();

// One line: "tianye 0.1.0 (SQLCipher 4.14.0 community, SQLite 3.51.3, schema 3)",
// with `program` in place of "tianye".
std::string VersionLine(const std::string& program);

}  // namespace tianye

#endif  // TIANYE_VERSION_H_
