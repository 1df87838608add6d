#include "postgres.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace tianye::internal {
namespace {

constexpr Oid kBigint = 20, kBytea = 17, kFloat8 = 701;

std::string Trimmed(const char* message) {
  std::string m = message != nullptr ? message : "";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

// A Status from a failed result (or connection): the SQLSTATE decides the code.
Status PgError(PGconn* conn, const PGresult* res, std::string_view context) {
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string msg = std::string(context) + ": " +
                    Trimmed(res != nullptr && *PQresultErrorMessage(res) ? PQresultErrorMessage(res) : PQerrorMessage(conn));
  if (state == nullptr || PQstatus(conn) == CONNECTION_BAD) {
    return Status::IOError("the database cannot be reached: " + msg);
  }
  const std::string code = state;
  if (code == "23505") return Status::AlreadyExists(std::move(msg));
  if (code.starts_with("23") || code.starts_with("22")) return Status::InvalidArgument(std::move(msg));
  if (code == "40001" || code == "40P01" || code == "55P03") return Status::Conflict(std::move(msg));
  if (code.starts_with("08") || code.starts_with("57P") || code.starts_with("53")) {
    return Status::IOError("the database cannot be reached: " + msg);
  }
  if (code.starts_with("54")) return Status::ResourceExhausted(std::move(msg));
  return Status::Internal(std::move(msg));
}

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

class PgStmt final : public StmtBackend {
 public:
  PgStmt(PgConnection* conn, std::string sql, int count)
      : conn_(conn), sql_(std::move(sql)), params_(static_cast<size_t>(count)) {}

  Status BindInt(int index, int64_t value) override { return Set(index, std::to_string(value), kBigint, false); }
  Status BindDouble(int index, double value) override {
    // The shortest text that reads back as the same double.
    char out[32];
    const auto end = std::to_chars(out, out + sizeof out, value).ptr;
    return Set(index, std::string(out, end), kFloat8, false);
  }
  Status BindText(int index, std::string_view text) override { return Set(index, std::string(text), 0, false); }
  Status BindBlob(int index, std::string_view bytes) override { return Set(index, std::string(bytes), kBytea, true); }
  Status BindNull(int index) override {
    if (index < 1 || index > static_cast<int>(params_.size())) return OutOfRange(index);
    params_[static_cast<size_t>(index - 1)] = Param{};
    return Status::Ok();
  }

  Result<bool> Step() override {
    if (!ran_) {
      TIANYE_RETURN_IF_ERROR(Execute());
      ran_ = true;
    }
    if (!res_ || row_ + 1 >= PQntuples(res_.get())) return false;
    ++row_;
    blobs_.clear();
    return true;
  }

  bool IsNull(int col) const override { return PQgetisnull(res_.get(), row_, col) != 0; }
  int64_t Int(int col) const override {
    const char* v = PQgetvalue(res_.get(), row_, col);
    if (v[0] == 't' && v[1] == '\0') return 1;  // booleans come as t / f
    char* end = nullptr;
    const long long whole = std::strtoll(v, &end, 10);
    // A real ("2.5", "1e-05") counts by its whole part, as SQLite reads one.
    if (*end == '.' || *end == 'e' || *end == 'E') return static_cast<int64_t>(std::strtod(v, nullptr));
    return whole;
  }
  double Double(int col) const override { return std::strtod(PQgetvalue(res_.get(), row_, col), nullptr); }
  std::string_view Text(int col) const override {
    return std::string_view(PQgetvalue(res_.get(), row_, col), static_cast<size_t>(PQgetlength(res_.get(), row_, col)));
  }
  std::string_view Blob(int col) const override {
    // bytea comes as text: \x and two hex digits a byte.
    std::string_view hex = Text(col);
    auto [it, fresh] = blobs_.try_emplace(col);
    if (fresh && hex.starts_with("\\x")) {
      auto digit = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
      it->second.reserve(hex.size() / 2);
      for (size_t i = 2; i + 1 < hex.size(); i += 2) {
        it->second += static_cast<char>(digit(hex[i]) << 4 | digit(hex[i + 1]));
      }
    } else if (fresh) {
      it->second = std::string(hex);
    }
    return it->second;
  }

  void Reset() override {
    res_.reset();
    ran_ = false;
    row_ = -1;
    blobs_.clear();
    for (Param& p : params_) p = Param{};
  }

  Status RunDeferred() override {
    // Outside a transaction a pipeline would join the writes into one
    // (a failed one undoing those before it): each runs on its own.
    if (!conn_->in_transaction()) return RunToEnd();
    TIANYE_ASSIGN_OR_RETURN(const std::string* name, Prepared());
    const Arrays a = ParamArrays();
    return conn_->Send(*name, sql_, static_cast<int>(params_.size()), a.values.data(), a.lengths.data(),
                       a.formats.data());
  }

 private:
  struct Param {
    std::string value;
    Oid type = 0;
    bool null = true;
    bool binary = false;
  };

  static Status OutOfRange(int index) { return Status::Internal("bind: no parameter " + std::to_string(index)); }

  Status Set(int index, std::string value, Oid type, bool binary) {
    if (index < 1 || index > static_cast<int>(params_.size())) return OutOfRange(index);
    params_[static_cast<size_t>(index - 1)] = Param{std::move(value), type, false, binary};
    return Status::Ok();
  }

  struct Arrays {
    std::vector<const char*> values;
    std::vector<int> lengths, formats;
  };

  Arrays ParamArrays() const {
    Arrays a;
    for (const Param& p : params_) {
      a.values.push_back(p.null ? nullptr : p.value.c_str());
      a.lengths.push_back(static_cast<int>(p.value.size()));
      a.formats.push_back(p.binary ? 1 : 0);
    }
    return a;
  }

  // The server-side statement for the bound parameters' types (one per
  // combination), prepared now when it is new.
  Result<const std::string*> Prepared() {
    TIANYE_RETURN_IF_ERROR(conn_->Ready(sql_));
    if (generation_ != conn_->generation()) {
      names_.clear();  // prepared on a connection that is gone
      generation_ = conn_->generation();
    }
    std::string signature;
    std::vector<Oid> types;
    for (const Param& p : params_) {
      types.push_back(p.type);
      signature += std::to_string(p.type) + ",";
    }
    auto named = names_.find(signature);
    if (named == names_.end()) {
      TIANYE_RETURN_IF_ERROR(conn_->Flush());  // preparing waits for its answer: nothing may be queued
      PGconn* c = conn_->get();
      std::string name = conn_->NextName();
      PgResult prepared(PQprepare(c, name.c_str(), sql_.c_str(), static_cast<int>(types.size()), types.data()));
      conn_->Ran();
      if (PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) return PgError(c, prepared.get(), "prepare: " + sql_);
      named = names_.emplace(signature, std::move(name)).first;
    }
    return &named->second;
  }

  Status Execute() {
    TIANYE_ASSIGN_OR_RETURN(const std::string* name, Prepared());
    PGconn* c = conn_->get();
    const Arrays a = ParamArrays();
    const int n = static_cast<int>(params_.size());
    if (conn_->sending()) {
      // Joins the queued writes: their results and this one's in one round trip.
      TIANYE_RETURN_IF_ERROR(conn_->Send(*name, sql_, n, a.values.data(), a.lengths.data(), a.formats.data()));
      PGresult* own = nullptr;  // stays null when the flush fails
      Status flushed = conn_->Flush(&own);
      res_.reset(own);
      TIANYE_RETURN_IF_ERROR(flushed);
    } else {
      res_.reset(PQexecPrepared(c, name->c_str(), n, a.values.data(), a.lengths.data(), a.formats.data(), 0));
      conn_->Ran();
    }
    const ExecStatusType st = PQresultStatus(res_.get());
    if (st == PGRES_COMMAND_OK) {
      const char* count = PQcmdTuples(res_.get());
      conn_->set_changes(*count ? std::strtoll(count, nullptr, 10) : 0);
      return Status::Ok();
    }
    if (st == PGRES_TUPLES_OK) {
      // INSERT ... RETURNING and the like changed the rows they return; a
      // SELECT changes nothing (and, as in SQLite, leaves the count alone).
      const std::string_view tag = PQcmdStatus(res_.get());
      const char* count = PQcmdTuples(res_.get());
      if (*count && !tag.starts_with("SELECT")) conn_->set_changes(std::strtoll(count, nullptr, 10));
      return Status::Ok();
    }
    Status s = PgError(c, res_.get(), sql_);
    res_.reset();
    return s;
  }

  PgConnection* conn_;
  int64_t generation_ = 0;  // of the connection the names below were prepared on
  std::string sql_;
  std::vector<Param> params_;
  std::map<std::string, std::string> names_;  // parameter types -> prepared statement
  PgResult res_;
  bool ran_ = false;
  int row_ = -1;
  mutable std::map<int, std::string> blobs_;  // decoded bytea of the current row
};

void Quiet(void*, const char*) {}  // NOTICEs ("already exists, skipping") are not errors

}  // namespace

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(const std::string& conninfo) {
  // A database that went away must not hold a request (and the requests
  // queued behind it) for minutes: 10 s to connect unless the string says.
  std::string with_timeout = conninfo;
  if (conninfo.find("connect_timeout") == std::string::npos) {
    const bool uri = conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://");
    with_timeout += uri ? (conninfo.find('?') == std::string::npos ? "?" : "&") : " ";
    with_timeout += "connect_timeout=10";
  }
  PGconn* c = PQconnectdb(with_timeout.c_str());
  if (c == nullptr) return Status::Internal("libpq could not allocate a connection");
  if (PQstatus(c) != CONNECTION_OK) {
    std::string why = Trimmed(PQerrorMessage(c));
    PQfinish(c);
    const std::string where = "PostgreSQL at " + DescribeConnection(conninfo) + ": " + why;
    if (why.find("password authentication failed") != std::string::npos ||
        why.find("no password supplied") != std::string::npos) {
      return Status::Unauthenticated(where);
    }
    return Status::IOError("the database cannot be reached: " + where);
  }
  PQsetNoticeProcessor(c, &Quiet, nullptr);
  if (PQsetClientEncoding(c, "UTF8") != 0) {
    PQfinish(c);
    return Status::Internal("PostgreSQL: cannot use UTF-8");
  }
  return std::unique_ptr<PgConnection>(new PgConnection(c));
}

PgConnection::~PgConnection() {
  ClearCache();
  PQfinish(conn_);
}

Result<std::unique_ptr<StmtBackend>> PgConnection::PrepareNew(std::string_view sql) {
  int count = 0;
  std::string numbered = NumberParameters(sql, &count);
  return std::unique_ptr<StmtBackend>(new PgStmt(this, std::move(numbered), count));
}

Status PgConnection::Ready(std::string_view sql) {
  if (PQstatus(conn_) == CONNECTION_OK) return Status::Ok();
  // Writes queued on the connection that dropped are gone with it: reading
  // their (failed) results marks the transaction lost, as below.
  if (sending()) (void)Flush();
  if (lost_transaction_) {
    if (sql != "COMMIT" && sql != "ROLLBACK") {
      return Status::IOError("the database connection was lost in the middle of a transaction; none of it was kept");
    }
    lost_transaction_ = false;
    if (sql == "COMMIT") return Status::IOError("the database connection was lost before the commit; nothing was kept");
  }
  PQreset(conn_);
  if (PQstatus(conn_) != CONNECTION_OK) {
    return Status::IOError("the database cannot be reached: " + Trimmed(PQerrorMessage(conn_)));
  }
  ++generation_;
  in_transaction_ = false;
  return Status::Ok();
}

void PgConnection::Ran() {
  if (PQstatus(conn_) != CONNECTION_OK) {
    lost_transaction_ = lost_transaction_ || in_transaction_;
    in_transaction_ = false;
    return;
  }
  in_transaction_ = PQtransactionStatus(conn_) != PQTRANS_IDLE;
}

Status PgConnection::Send(const std::string& name, const std::string& sql, int count, const char* const* values,
                          const int* lengths, const int* formats) {
  // Results pile up on the server while nothing reads them; a few hundred
  // small ones are far from filling a socket's buffers.
  constexpr size_t kMaxQueued = 256;
  if (queued_.size() >= kMaxQueued) TIANYE_RETURN_IF_ERROR(Flush());
  if (PQpipelineStatus(conn_) == PQ_PIPELINE_OFF && PQenterPipelineMode(conn_) != 1) {
    return PgError(conn_, nullptr, "entering pipeline mode");
  }
  if (PQsendQueryPrepared(conn_, name.c_str(), count, values, lengths, formats, 0) != 1) {
    Status s = PgError(conn_, nullptr, sql);
    (void)Flush();
    return s;
  }
  queued_.push_back(sql);
  return Status::Ok();
}

Status PgConnection::Flush(pg_result** last) {
  if (last != nullptr) *last = nullptr;
  if (!sending()) return Status::Ok();
  Status first;
  if (PQpipelineSync(conn_) != 1) {
    first = PgError(conn_, nullptr, "sending queued statements");
  } else {
    // Each statement's result, then a null; a statement after a failed one
    // answers PGRES_PIPELINE_ABORTED; the sync's own result ends it all.
    size_t at = 0, nulls = 0;
    while (true) {
      PGresult* r = PQgetResult(conn_);
      if (r == nullptr) {
        if (PQstatus(conn_) != CONNECTION_OK || ++nulls > queued_.size()) {
          if (first.ok()) first = PgError(conn_, nullptr, queued_[std::min(at, queued_.size() - 1)]);
          break;
        }
        ++at;
        continue;
      }
      PgResult res(r);
      const ExecStatusType st = PQresultStatus(r);
      if (st == PGRES_PIPELINE_SYNC) break;
      if (st == PGRES_FATAL_ERROR && first.ok()) first = PgError(conn_, r, queued_[std::min(at, queued_.size() - 1)]);
      if (last != nullptr && at + 1 == queued_.size() && st != PGRES_PIPELINE_ABORTED) *last = res.release();
    }
  }
  queued_.clear();
  if (PQpipelineStatus(conn_) != PQ_PIPELINE_OFF) (void)PQexitPipelineMode(conn_);
  Ran();
  if (!first.ok() && last != nullptr && *last != nullptr) {
    PQclear(*last);
    *last = nullptr;
  }
  return first;
}

Status PgConnection::Exec(const char* sql) {
  // The writes queued before it, e.g. those a COMMIT ends. A ROLLBACK
  // discards them, and their errors with them.
  Status flushed = Flush();
  if (!flushed.ok() && !std::string_view(sql).starts_with("ROLLBACK")) return flushed;
  // A ROLLBACK after a lost transaction runs on the new connection, where
  // there is nothing to roll back (PostgreSQL warns and succeeds).
  TIANYE_RETURN_IF_ERROR(Ready(sql));
  PgResult r(PQexec(conn_, sql));
  Ran();
  const ExecStatusType st = PQresultStatus(r.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) return Status::Ok();
  return PgError(conn_, r.get(), std::string("exec '") + sql + "'");
}

std::string NumberParameters(std::string_view sql, int* count) {
  std::string out;
  out.reserve(sql.size() + 16);
  *count = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {
      // Through the closing quote; a doubled quote inside is part of the text.
      size_t end = i + 1;
      while (end < sql.size() && sql[end] != c) ++end;
      out.append(sql.substr(i, end + 1 - i));
      i = end;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      size_t end = sql.find('\n', i);
      if (end == std::string_view::npos) end = sql.size();
      out.append(sql.substr(i, end - i));
      i = end - 1;
    } else if (c == '?' && i + 1 < sql.size() && std::isdigit(static_cast<unsigned char>(sql[i + 1]))) {
      // "?NNN": the NNNth parameter, as SQLite numbers them.
      size_t end = i + 1;
      while (end < sql.size() && std::isdigit(static_cast<unsigned char>(sql[end]))) ++end;
      const int n = std::atoi(std::string(sql.substr(i + 1, end - i - 1)).c_str());
      out += "$" + std::to_string(n);
      *count = std::max(*count, n);
      i = end - 1;
    } else if (c == '?') {
      out += "$" + std::to_string(++*count);
    } else {
      out += c;
    }
  }
  return out;
}

std::string DescribeConnection(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    std::string why = Trimmed(error);
    PQfreemem(error);
    return "(a connection string that does not parse: " + why + ")";
  }
  std::string out;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    const std::string key = o->keyword;
    if (o->val == nullptr || *o->val == '\0') continue;
    if (key == "host" || key == "hostaddr" || key == "port" || key == "dbname" || key == "user") {
      out += (out.empty() ? "" : " ") + key + "=" + o->val;
    }
  }
  PQconninfoFree(options);
  return out.empty() ? "(libpq's defaults)" : out;
}

}  // namespace tianye::internal
