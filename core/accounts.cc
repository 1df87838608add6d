#include "tianye/accounts.h"

#include <nlohmann/json.hpp>
#include <sodium.h>

#include <algorithm>
#include <set>
#include <string>

#include "sha256.h"
#include "sqlite.h"
#include "store_impl.h"

namespace tianye {
namespace {

using internal::Stmt;
using internal::StoreAccess;

const std::set<std::string, std::less<>> kRoles = {"inspector", "surveyor", "supervisor", "admin"};

Status InitSodium() {
  if (sodium_init() < 0) return Status::Internal("libsodium could not start");
  return Status::Ok();
}

Status CheckPassword(std::string_view password) {
  if (password.size() < Accounts::kMinPasswordLength) {
    return Status::InvalidArgument("a password needs at least " + std::to_string(Accounts::kMinPasswordLength) +
                                   " characters");
  }
  if (password.size() > 1024) return Status::InvalidArgument("the password is too long");
  return Status::Ok();
}

Status CheckScope(const std::vector<std::string>& scope) {
  for (const std::string& code : scope) {
    if (code == "*") continue;
    bool digits = !code.empty() && std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || code.size() != 12) {
      return Status::InvalidArgument("area '" + code + "' is not a 12-digit area code (or * for everywhere)");
    }
  }
  return Status::Ok();
}

Result<std::string> HashPassword(std::string_view password) {
  TIANYE_RETURN_IF_ERROR(InitSodium());
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                            crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status::ResourceExhausted("not enough memory to hash the password");
  }
  return std::string(out);
}

std::string TokenHash(std::string_view token) {
  internal::Sha256 h;
  h.Update(token);
  return h.FinalHex();
}

std::vector<std::string> ParseScope(const std::string& json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const auto& v : j) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

Status NoSuchUser(std::string_view username) { return Status::NotFound("no user '" + std::string(username) + "'"); }

}  // namespace

Status Accounts::Add(const User& user, std::string_view password) {
  const std::string& name = user.username;
  bool name_ok = !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
  if (!name_ok) return Status::InvalidArgument("user names are 1-64 letters, digits, '.', '_' or '-'");
  if (!kRoles.count(user.role)) {
    return Status::InvalidArgument("unknown role '" + user.role + "' (inspector, surveyor, supervisor or admin)");
  }
  TIANYE_RETURN_IF_ERROR(CheckPassword(password));
  TIANYE_RETURN_IF_ERROR(CheckScope(user.scope));
  TIANYE_ASSIGN_OR_RETURN(std::string hash, HashPassword(password));
  TIANYE_ASSIGN_OR_RETURN(
      Stmt s, StoreAccess::Conn(*store_).Prepare("INSERT INTO users (username, display_name, password_hash, role, "
                                                 "scope, disabled, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)"));
  s.Bind(1, name).Bind(2, user.display_name).Bind(3, hash).Bind(4, user.role);
  s.Bind(5, nlohmann::json(user.scope).dump()).Bind(6, static_cast<int64_t>(user.disabled));
  s.Bind(7, StoreAccess::ClockOf(*store_).NowMillis());
  Status st = s.Run();
  if (st.code() == StatusCode::kAlreadyExists) return Status::AlreadyExists("user '" + name + "' already exists");
  return st;
}

namespace {

Status EndSessions(Store& store, std::string_view username) {
  TIANYE_ASSIGN_OR_RETURN(Stmt s, StoreAccess::Conn(store).Prepare("DELETE FROM tokens WHERE username = ?"));
  s.Bind(1, username);
  return s.Run();
}

Status Changed(Store& store, std::string_view username) {
  if (StoreAccess::Conn(store).Changes() == 0) return NoSuchUser(username);
  return Status::Ok();
}

}  // namespace

Status Accounts::SetPassword(std::string_view username, std::string_view password) {
  TIANYE_RETURN_IF_ERROR(CheckPassword(password));
  TIANYE_ASSIGN_OR_RETURN(std::string hash, HashPassword(password));
  TIANYE_ASSIGN_OR_RETURN(Transaction tx, store_->Begin());
  TIANYE_ASSIGN_OR_RETURN(Stmt s, StoreAccess::Conn(*store_).Prepare(
                                      "UPDATE users SET password_hash = ?, failed_logins = 0, locked_until_ms = 0 "
                                      "WHERE username = ?"));
  s.Bind(1, hash).Bind(2, username);
  TIANYE_RETURN_IF_ERROR(s.Run());
  TIANYE_RETURN_IF_ERROR(Changed(*store_, username));
  TIANYE_RETURN_IF_ERROR(EndSessions(*store_, username));
  return tx.Commit();
}

Status Accounts::SetDisabled(std::string_view username, bool disabled) {
  TIANYE_ASSIGN_OR_RETURN(Transaction tx, store_->Begin());
  TIANYE_ASSIGN_OR_RETURN(Stmt s, StoreAccess::Conn(*store_).Prepare(
                                      "UPDATE users SET disabled = ? WHERE username = ?"));
  s.Bind(1, static_cast<int64_t>(disabled)).Bind(2, username);
  TIANYE_RETURN_IF_ERROR(s.Run());
  TIANYE_RETURN_IF_ERROR(Changed(*store_, username));
  if (disabled) TIANYE_RETURN_IF_ERROR(EndSessions(*store_, username));
  return tx.Commit();
}

Status Accounts::Assign(std::string_view username, const std::vector<std::string>& scope) {
  TIANYE_RETURN_IF_ERROR(CheckScope(scope));
  TIANYE_ASSIGN_OR_RETURN(Stmt s, StoreAccess::Conn(*store_).Prepare("UPDATE users SET scope = ? WHERE username = ?"));
  s.Bind(1, nlohmann::json(scope).dump()).Bind(2, username);
  TIANYE_RETURN_IF_ERROR(s.Run());
  return Changed(*store_, username);
}

Status Accounts::SetRole(std::string_view username, std::string_view role) {
  if (!kRoles.count(std::string(role))) {
    return Status::InvalidArgument("unknown role '" + std::string(role) + "' (inspector, surveyor, supervisor or admin)");
  }
  TIANYE_ASSIGN_OR_RETURN(Stmt s, StoreAccess::Conn(*store_).Prepare("UPDATE users SET role = ? WHERE username = ?"));
  s.Bind(1, role).Bind(2, username);
  TIANYE_RETURN_IF_ERROR(s.Run());
  return Changed(*store_, username);
}

Result<User> Accounts::Get(std::string_view username) {
  TIANYE_ASSIGN_OR_RETURN(Stmt s, StoreAccess::Conn(*store_).Prepare(
                                      "SELECT username, display_name, role, scope, disabled FROM users "
                                      "WHERE username = ?"));
  s.Bind(1, username);
  TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return NoSuchUser(username);
  return User{s.Text(0), s.Text(1), s.Text(2), ParseScope(s.Text(3)), s.Int(4) != 0};
}

Result<std::vector<User>> Accounts::List() {
  TIANYE_ASSIGN_OR_RETURN(Stmt s, StoreAccess::Conn(*store_).Prepare(
                                      "SELECT username, display_name, role, scope, disabled FROM users "
                                      "ORDER BY username"));
  std::vector<User> out;
  while (true) {
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back({s.Text(0), s.Text(1), s.Text(2), ParseScope(s.Text(3)), s.Int(4) != 0});
  }
  return out;
}

Result<LoginResult> Accounts::Login(std::string_view username, std::string_view password,
                                    std::string_view device_id, int64_t ttl_ms) {
  TIANYE_RETURN_IF_ERROR(InitSodium());
  const Status wrong = Status::Unauthenticated("wrong user name or password");
  if (device_id.empty() || device_id.size() > 128) return Status::InvalidArgument("a login needs a device id");
  int64_t now = StoreAccess::ClockOf(*store_).NowMillis();
  std::unique_lock<std::mutex> lock;
  if (mu_ != nullptr) lock = std::unique_lock<std::mutex>(*mu_);
  std::string hash;
  bool disabled = false;
  int64_t locked_until = 0;
  {
    TIANYE_ASSIGN_OR_RETURN(Stmt s, StoreAccess::Conn(*store_).Prepare(
                                        "SELECT password_hash, disabled, locked_until_ms FROM users "
                                        "WHERE username = ?"));
    s.Bind(1, username);
    TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) {
      if (lock.owns_lock()) lock.unlock();
      // Spend the same time as a real check, so names cannot be probed by timing.
      (void)HashPassword(password);
      return wrong;
    }
    hash = s.Text(0);
    disabled = s.Int(1) != 0;
    locked_until = s.Int(2);
  }
  if (locked_until > now) {
    return Status::ResourceExhausted("too many failed logins: try again in " +
                                     std::to_string((locked_until - now + 999) / 1000) + " s");
  }
  if (lock.owns_lock()) lock.unlock();
  bool ok = crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
  if (mu_ != nullptr) lock.lock();
  if (!ok || disabled) {
    // Counted in one statement, so failures through several servers on one
    // database all count.
    int64_t failures = 0;
    {
      TIANYE_ASSIGN_OR_RETURN(Stmt count, StoreAccess::Conn(*store_).Prepare(
                                              "UPDATE users SET failed_logins = failed_logins + 1 WHERE username = ? "
                                              "RETURNING failed_logins"));
      count.Bind(1, username);
      TIANYE_ASSIGN_OR_RETURN(bool still, count.Step());
      if (still) failures = count.Int(0);
      TIANYE_RETURN_IF_ERROR(count.Run());
    }
    if (failures >= kFailuresBeforeLock) {
      int64_t shift = std::min<int64_t>(failures - kFailuresBeforeLock, 4);
      int64_t until = now + (60'000LL << shift);  // 1, 2, 4, 8, then 16 minutes
      TIANYE_ASSIGN_OR_RETURN(Stmt u, StoreAccess::Conn(*store_).Prepare(
                                          "UPDATE users SET locked_until_ms = ? WHERE username = ? AND locked_until_ms < ?"));
      u.Bind(1, until).Bind(2, username).Bind(3, until);
      TIANYE_RETURN_IF_ERROR(u.Run());
    }
    return wrong;
  }
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  static const char kHex[] = "0123456789abcdef";
  std::string token;
  for (unsigned char c : raw) {
    token += kHex[c >> 4];
    token += kHex[c & 15];
  }
  LoginResult result;
  result.token = token;
  result.expires_ms = now + ttl_ms;
  TIANYE_ASSIGN_OR_RETURN(Transaction tx, store_->Begin());
  TIANYE_ASSIGN_OR_RETURN(Stmt reset, StoreAccess::Conn(*store_).Prepare(
                                          "UPDATE users SET failed_logins = 0, locked_until_ms = 0 WHERE username = ?"));
  reset.Bind(1, username);
  TIANYE_RETURN_IF_ERROR(reset.Run());
  TIANYE_ASSIGN_OR_RETURN(Stmt purge, StoreAccess::Conn(*store_).Prepare("DELETE FROM tokens WHERE expires_ms <= ?"));
  purge.Bind(1, now);
  TIANYE_RETURN_IF_ERROR(purge.Run());
  TIANYE_ASSIGN_OR_RETURN(Stmt ins, StoreAccess::Conn(*store_).Prepare(
                                        "INSERT INTO tokens (token_hash, username, device_id, created_ms, expires_ms) "
                                        "VALUES (?, ?, ?, ?, ?)"));
  ins.Bind(1, TokenHash(token)).Bind(2, username).Bind(3, device_id).Bind(4, now).Bind(5, result.expires_ms);
  TIANYE_RETURN_IF_ERROR(ins.Run());
  TIANYE_RETURN_IF_ERROR(tx.Commit());
  TIANYE_ASSIGN_OR_RETURN(result.user, Get(username));
  return result;
}

Result<Principal> Accounts::Authenticate(std::string_view token) {
  const Status no = Status::Unauthenticated("not logged in, or the login expired: log in again");
  if (token.size() != 64) return no;
  TIANYE_ASSIGN_OR_RETURN(Stmt s, StoreAccess::Conn(*store_).Prepare(
                                      "SELECT t.username, t.device_id, t.expires_ms, u.role, u.scope, u.disabled "
                                      "FROM tokens t JOIN users u USING (username) WHERE t.token_hash = ?"));
  s.Bind(1, TokenHash(token));
  TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row || s.Int(2) <= StoreAccess::ClockOf(*store_).NowMillis() || s.Int(5) != 0) return no;
  return Principal{s.Text(0), s.Text(3), s.Text(1), ParseScope(s.Text(4))};
}

Status Accounts::Logout(std::string_view token) {
  TIANYE_ASSIGN_OR_RETURN(Stmt s, StoreAccess::Conn(*store_).Prepare("DELETE FROM tokens WHERE token_hash = ?"));
  s.Bind(1, TokenHash(token));
  return s.Run();
}

}  // namespace tianye
