#include "tianye/attachment.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "sha256.h"
#include "store_impl.h"

namespace tianye {
namespace {

using internal::Stmt;
using internal::StoreAccess;

Status ErrnoStatus(std::string_view what, const std::string& path) {
  std::string msg = std::string(what) + " " + path + ": " + std::strerror(errno);
  return errno == ENOENT ? Status::NotFound(std::move(msg)) : Status::IOError(std::move(msg));
}

Status CheckHash(std::string_view sha256) {
  if (internal::IsSha256Hex(sha256)) return Status::Ok();
  return Status::InvalidArgument("'" + std::string(sha256) +
                                 "' is not a SHA-256 digest (64 lower-case hex digits)");
}

class FileSource final : public ByteSource {
 public:
  FileSource(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~FileSource() override { ::close(fd_); }
  Result<size_t> Read(char* buffer, size_t size) override {
    while (true) {
      ssize_t n = ::read(fd_, buffer, size);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return ErrnoStatus("cannot read", path_);
    }
  }

 private:
  int fd_;
  std::string path_;
};

class FileSink final : public ByteSink {
 public:
  explicit FileSink(int fd) : fd_(fd) {}
  Status Write(std::string_view bytes) override {
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::IOError(std::string("cannot write: ") + std::strerror(errno));
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return Status::Ok();
  }

 private:
  int fd_;
};

// Fills `buffer` from `source` until it is full or the source ends.
Result<size_t> FillChunk(ByteSource& source, std::string& buffer) {
  size_t filled = 0;
  while (filled < buffer.size()) {
    TIANYE_ASSIGN_OR_RETURN(size_t n, source.Read(buffer.data() + filled, buffer.size() - filled));
    if (n == 0) break;
    filled += n;
  }
  return filled;
}

Result<AttachmentInfo> StatRow(Store* store, std::string_view sha256, int64_t* id_out) {
  TIANYE_RETURN_IF_ERROR(CheckHash(sha256));
  TIANYE_ASSIGN_OR_RETURN(
      Stmt stmt, StoreAccess::Conn(*store).Prepare(
                     "SELECT id, size, mime, created_ms FROM attachments WHERE sha256 = ?"));
  stmt.Bind(1, sha256);
  TIANYE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Status::NotFound("no attachment " + std::string(sha256));
  if (id_out != nullptr) *id_out = stmt.Int(0);
  return AttachmentInfo{std::string(sha256), stmt.Int(1), stmt.Text(2), stmt.Int(3)};
}

}  // namespace

bool IsFileAnswer(std::string_view value) {
  if (value.size() < 64 || (value.size() > 64 && value[64] != '.')) return false;
  return internal::IsSha256Hex(value.substr(0, 64));
}

Result<AttachmentInfo> AttachmentStore::Put(ByteSource& source, const PutOptions& options) {
  internal::Connection& conn = StoreAccess::Conn(*store_);
  const int64_t now = StoreAccess::ClockOf(*store_).NowMillis();
  TIANYE_ASSIGN_OR_RETURN(Transaction tx, store_->Begin());

  // Chunks are written under a staging row whose hash is not known yet; the
  // row gets its hash at the end, or is dropped if that content exists.
  int64_t staging_id = 0;
  {
    TIANYE_ASSIGN_OR_RETURN(
        Stmt stmt, conn.Prepare("INSERT INTO attachments (sha256, size, mime, chunk_size, "
                                "created_ms) VALUES (NULL, 0, ?, ?, ?) RETURNING id"));
    stmt.Bind(1, options.mime).Bind(2, static_cast<int64_t>(kChunkSize)).Bind(3, now);
    TIANYE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return Status::Internal("storing a file: no id for its row");
    staging_id = stmt.Int(0);
  }

  internal::Sha256 sha;
  std::string buffer(kChunkSize, '\0');
  int64_t size = 0;
  for (int64_t idx = 0;; ++idx) {
    TIANYE_ASSIGN_OR_RETURN(size_t filled, FillChunk(source, buffer));
    if (filled == 0) break;
    size += static_cast<int64_t>(filled);
    if (size > options.max_bytes) {
      return Status::ResourceExhausted("the file is larger than the limit of " +
                                       std::to_string(options.max_bytes / (1024 * 1024)) +
                                       " MiB; nothing was stored");
    }
    std::string_view chunk(buffer.data(), filled);
    sha.Update(chunk);
    TIANYE_ASSIGN_OR_RETURN(
        Stmt stmt,
        conn.Prepare("INSERT INTO attachment_chunks (attachment_id, idx, data) VALUES (?, ?, ?)"));
    TIANYE_RETURN_IF_ERROR(stmt.Bind(1, staging_id).Bind(2, idx).BindBlob(3, chunk).Run());
    if (filled < kChunkSize) break;
  }
  const std::string hex = sha.FinalHex();

  Result<AttachmentInfo> existing = StatRow(store_, hex, nullptr);
  if (existing) {
    TIANYE_ASSIGN_OR_RETURN(Stmt stmt, conn.Prepare("DELETE FROM attachments WHERE id = ?"));
    TIANYE_RETURN_IF_ERROR(stmt.Bind(1, staging_id).Run());
  } else if (existing.error().code() != StatusCode::kNotFound) {
    return existing.error();
  } else {
    TIANYE_ASSIGN_OR_RETURN(Stmt stmt,
                            conn.Prepare("UPDATE attachments SET sha256 = ?, size = ? WHERE id = ?"));
    TIANYE_RETURN_IF_ERROR(stmt.Bind(1, hex).Bind(2, size).Bind(3, staging_id).Run());
  }
  TIANYE_RETURN_IF_ERROR(tx.Commit());
  if (existing) return *existing;
  return AttachmentInfo{hex, size, options.mime, now};
}

Result<AttachmentInfo> AttachmentStore::PutFile(const std::string& path,
                                                const PutOptions& options) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open", path);
  FileSource source(fd, path);
  return Put(source, options);
}

Result<AttachmentInfo> AttachmentStore::Stat(std::string_view sha256) {
  return StatRow(store_, sha256, nullptr);
}

Status AttachmentStore::Read(std::string_view sha256, ByteSink& sink) {
  int64_t id = 0;
  TIANYE_ASSIGN_OR_RETURN(AttachmentInfo info, StatRow(store_, sha256, &id));
  TIANYE_ASSIGN_OR_RETURN(
      Stmt stmt, StoreAccess::Conn(*store_).Prepare(
                     "SELECT idx, data FROM attachment_chunks WHERE attachment_id = ? ORDER BY idx"));
  stmt.Bind(1, id);
  internal::Sha256 sha;
  int64_t size = 0;
  for (int64_t expected_idx = 0;; ++expected_idx) {
    TIANYE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    if (stmt.Int(0) != expected_idx) {
      return Status::Corruption("attachment " + info.sha256 + " is missing chunk " +
                                std::to_string(expected_idx));
    }
    std::string_view chunk = stmt.Blob(1);
    sha.Update(chunk);
    size += static_cast<int64_t>(chunk.size());
    TIANYE_RETURN_IF_ERROR(sink.Write(chunk));
  }
  if (size != info.size || sha.FinalHex() != info.sha256) {
    return Status::Corruption("attachment " + info.sha256 + " does not match its hash");
  }
  return Status::Ok();
}

Result<std::string> AttachmentStore::ReadChunk(std::string_view sha256, int64_t index) {
  int64_t id = 0;
  TIANYE_ASSIGN_OR_RETURN(AttachmentInfo info, StatRow(store_, sha256, &id));
  TIANYE_ASSIGN_OR_RETURN(Stmt stmt, StoreAccess::Conn(*store_).Prepare(
                                         "SELECT data FROM attachment_chunks WHERE attachment_id = ? AND idx = ?"));
  stmt.Bind(1, id).Bind(2, index);
  TIANYE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Status::NotFound("attachment " + info.sha256 + " has no chunk " + std::to_string(index));
  return std::string(stmt.Blob(0));
}

Status AttachmentStore::ReadToFile(std::string_view sha256, const std::string& path) {
  std::string part = path + ".part";
  int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("cannot create", part);
  FileSink sink(fd);
  Status s = Read(sha256, sink);
  if (s.ok() && ::fsync(fd) != 0) s = ErrnoStatus("cannot sync", part);
  ::close(fd);
  if (s.ok() && ::rename(part.c_str(), path.c_str()) != 0) s = ErrnoStatus("cannot rename to", path);
  if (!s.ok()) ::unlink(part.c_str());
  return s;
}

Status AttachmentStore::Link(std::string_view record_id, std::string_view field,
                             std::string_view sha256) {
  internal::Connection& conn = StoreAccess::Conn(*store_);
  TIANYE_RETURN_IF_ERROR(StatRow(store_, sha256, nullptr).error());
  {
    TIANYE_ASSIGN_OR_RETURN(Stmt stmt, conn.Prepare("SELECT 1 FROM records WHERE id = ?"));
    TIANYE_ASSIGN_OR_RETURN(bool row, stmt.Bind(1, record_id).Step());
    if (!row) return Status::NotFound("no record with id " + std::string(record_id));
  }
  if (field.empty()) return Status::InvalidArgument("an attachment needs a field name");
  TIANYE_ASSIGN_OR_RETURN(Stmt stmt, conn.Prepare("INSERT INTO record_attachments (record_id, field, sha256) "
                                                  "VALUES (?, ?, ?) ON CONFLICT DO NOTHING"));
  return stmt.Bind(1, record_id).Bind(2, field).Bind(3, sha256).Run();
}

Status AttachmentStore::Unlink(std::string_view record_id, std::string_view field,
                               std::string_view sha256) {
  TIANYE_ASSIGN_OR_RETURN(
      Stmt stmt, StoreAccess::Conn(*store_).Prepare(
                     "DELETE FROM record_attachments WHERE record_id = ? AND field = ? AND sha256 = ?"));
  return stmt.Bind(1, record_id).Bind(2, field).Bind(3, sha256).Run();
}

Result<std::vector<RecordAttachment>> AttachmentStore::ListForRecord(std::string_view record_id) {
  TIANYE_ASSIGN_OR_RETURN(
      Stmt stmt, StoreAccess::Conn(*store_).Prepare(
                     "SELECT ra.field, a.sha256, a.size, a.mime, a.created_ms "
                     "FROM record_attachments ra JOIN attachments a ON a.sha256 = ra.sha256 "
                     "WHERE ra.record_id = ? ORDER BY ra.field, a.created_ms, a.sha256"));
  stmt.Bind(1, record_id);
  std::vector<RecordAttachment> out;
  while (true) {
    TIANYE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    out.push_back({std::string(record_id), stmt.Text(0),
                   AttachmentInfo{stmt.Text(1), stmt.Int(2), stmt.Text(3), stmt.Int(4)}});
  }
  return out;
}

}  // namespace tianye
