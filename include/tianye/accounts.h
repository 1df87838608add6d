// Accounts: the server's users, their roles and areas, logins and tokens.
//
// Passwords are hashed with Argon2id (libsodium). A login returns a random
// bearer token bound to the user and the device; only its SHA-256 is stored,
// and it expires. Failed logins lock the account for a while, growing with
// each further failure. A user's scope is a list of area codes (county,
// township or village; "*" everywhere); requests get it from the token, never
// from their own parameters.
//
// Thread safety: as thread-safe as the Store it uses (not).
#ifndef TIANYE_ACCOUNTS_H_
#define TIANYE_ACCOUNTS_H_

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "tianye/status.h"
#include "tianye/store.h"
#include "tianye/sync.h"

namespace tianye {

struct User {
  std::string username;
  std::string display_name;
  std::string role;  // inspector, surveyor, supervisor, admin
  std::vector<std::string> scope;
  bool disabled = false;
};

struct LoginResult {
  std::string token;
  int64_t expires_ms = 0;
  User user;
};

class Accounts {
 public:
  // `store` is not owned and must outlive this object. With `store_mutex`,
  // Login() holds it only around store access, not while hashing (Argon2id
  // takes tens of milliseconds and 64 MiB on purpose); the caller holds it
  // around every other call.
  explicit Accounts(Store* store, std::mutex* store_mutex = nullptr) : store_(store), mu_(store_mutex) {}

  // Errors: kInvalidArgument (bad name, short password, unknown role, bad
  // area code), kAlreadyExists.
  Status Add(const User& user, std::string_view password);
  // Errors: kNotFound, kInvalidArgument. A new password ends every session.
  Status SetPassword(std::string_view username, std::string_view password);
  // Disabling ends every session of the user.
  Status SetDisabled(std::string_view username, bool disabled);
  Status Assign(std::string_view username, const std::vector<std::string>& scope);
  // Errors: kNotFound, kInvalidArgument (unknown role). Takes effect on the
  // user's next request (tokens carry no role).
  Status SetRole(std::string_view username, std::string_view role);
  Result<User> Get(std::string_view username);
  Result<std::vector<User>> List();

  // Errors: kUnauthenticated ("wrong user name or password", the same for an
  // unknown user, a disabled one and a wrong password), kResourceExhausted
  // while the account is locked after repeated failures.
  Result<LoginResult> Login(std::string_view username, std::string_view password, std::string_view device_id,
                            int64_t ttl_ms = 30LL * 24 * 3600 * 1000);
  // The principal a token stands for. kUnauthenticated when unknown, expired
  // or the user is disabled.
  Result<Principal> Authenticate(std::string_view token);
  Status Logout(std::string_view token);

  static constexpr size_t kMinPasswordLength = 8;
  static constexpr int kFailuresBeforeLock = 5;

 private:
  Store* store_;
  std::mutex* mu_;
};

}  // namespace tianye

#endif  // TIANYE_ACCOUNTS_H_
