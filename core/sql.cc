#include "sql.h"

#include <string>

namespace tianye::internal {

Stmt::Stmt(StmtBackend* stmt, bool* busy_flag, std::unique_ptr<StmtBackend> owned)
    : stmt_(stmt), busy_flag_(busy_flag), owned_(std::move(owned)) {
  if (busy_flag_ != nullptr) *busy_flag_ = true;
}

Stmt::Stmt(Stmt&& other) noexcept
    : stmt_(other.stmt_), busy_flag_(other.busy_flag_), owned_(std::move(other.owned_)), error_(std::move(other.error_)) {
  other.stmt_ = nullptr;
  other.busy_flag_ = nullptr;
}

Stmt::~Stmt() {
  if (stmt_ == nullptr) return;
  stmt_->Reset();
  if (busy_flag_ != nullptr) *busy_flag_ = false;
}

Stmt& Stmt::Note(Status s) {
  if (!s.ok() && error_.ok()) error_ = std::move(s);
  return *this;
}

Result<bool> Stmt::Step() {
  if (!error_.ok()) return error_;
  return stmt_->Step();
}

Status Stmt::Run() { return error_.ok() ? stmt_->RunToEnd() : error_; }

Status StmtBackend::RunToEnd() {
  while (true) {
    TIANYE_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Status::Ok();
  }
}

std::optional<int64_t> Stmt::OptionalInt(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int(col);
}

Result<Stmt> Connection::Prepare(std::string_view sql) {
  auto it = cache_.find(std::string(sql));
  if (it != cache_.end() && !it->second.busy) return Stmt(it->second.stmt.get(), &it->second.busy, nullptr);
  TIANYE_ASSIGN_OR_RETURN(std::unique_ptr<StmtBackend> fresh, PrepareNew(sql));
  if (it != cache_.end()) {
    // The cached statement is in use further up the stack (a nested query):
    // hand out a private one that is finalized when done.
    StmtBackend* raw = fresh.get();
    return Stmt(raw, nullptr, std::move(fresh));
  }
  auto [pos, inserted] = cache_.emplace(std::string(sql), Cached{std::move(fresh), false});
  return Stmt(pos->second.stmt.get(), &pos->second.busy, nullptr);
}

Result<std::string> Connection::QueryText(const char* sql) {
  TIANYE_ASSIGN_OR_RETURN(Stmt stmt, Prepare(sql));
  TIANYE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Status::Internal(std::string("no row from: ") + sql);
  return stmt.Text(0);
}

Result<int64_t> Connection::QueryInt(const char* sql) {
  TIANYE_ASSIGN_OR_RETURN(Stmt stmt, Prepare(sql));
  TIANYE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Status::Internal(std::string("no row from: ") + sql);
  return stmt.Int(0);
}

}  // namespace tianye::internal
