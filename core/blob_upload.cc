// Resumable, verified chunked uploads (see BlobUploads in attachment.h).
#include <string>
#include <vector>

#include "sha256.h"
#include "sqlite.h"
#include "store_impl.h"
#include "tianye/attachment.h"

namespace tianye {
namespace {

using internal::Stmt;
using internal::StoreAccess;

constexpr int64_t kChunk = static_cast<int64_t>(AttachmentStore::kChunkSize);

int64_t ChunkCount(int64_t size) { return size == 0 ? 1 : (size + kChunk - 1) / kChunk; }

Status CheckHash(std::string_view sha256) {
  if (!internal::IsSha256Hex(sha256)) {
    return Status::InvalidArgument("'" + std::string(sha256.substr(0, 80)) + "' is not a SHA-256 in lower-case hex");
  }
  return Status::Ok();
}

// Reads an upload's chunks in order, one at a time.
class ChunkSource final : public ByteSource {
 public:
  ChunkSource(Store* store, std::string sha) : store_(store), sha_(std::move(sha)) {}
  Result<size_t> Read(char* buffer, size_t size) override {
    if (pos_ == chunk_.size()) {
      TIANYE_ASSIGN_OR_RETURN(Stmt s, StoreAccess::Conn(*store_).Prepare(
                                          "SELECT data FROM upload_chunks WHERE sha256 = ? AND idx = ?"));
      s.Bind(1, sha_).Bind(2, next_);
      TIANYE_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return size_t{0};
      chunk_.assign(s.Blob(0));
      pos_ = 0;
      ++next_;
      if (chunk_.empty()) return size_t{0};
    }
    size_t n = std::min(size, chunk_.size() - pos_);
    chunk_.copy(buffer, n, pos_);
    pos_ += n;
    return n;
  }

 private:
  Store* store_;
  std::string sha_;
  std::string chunk_;
  size_t pos_ = 0;
  int64_t next_ = 0;
};

}  // namespace

Result<BlobUploads::State> BlobUploads::Get(std::string_view sha256) {
  TIANYE_RETURN_IF_ERROR(CheckHash(sha256));
  State st;
  st.chunk_size = kChunk;
  AttachmentStore attachments(store_);
  Result<AttachmentInfo> done = attachments.Stat(sha256);
  if (done) {
    st.complete = true;
    st.chunks = ChunkCount(done->size);
    return st;
  }
  TIANYE_ASSIGN_OR_RETURN(Stmt u, StoreAccess::Conn(*store_).Prepare("SELECT size FROM uploads WHERE sha256 = ?"));
  u.Bind(1, sha256);
  TIANYE_ASSIGN_OR_RETURN(bool row, u.Step());
  if (!row) return Status::NotFound("no upload of " + std::string(sha256));
  st.chunks = ChunkCount(u.Int(0));
  TIANYE_ASSIGN_OR_RETURN(Stmt c, StoreAccess::Conn(*store_).Prepare(
                                      "SELECT idx FROM upload_chunks WHERE sha256 = ? ORDER BY idx"));
  c.Bind(1, sha256);
  while (true) {
    TIANYE_ASSIGN_OR_RETURN(bool more, c.Step());
    if (!more) break;
    st.have.push_back(c.Int(0));
  }
  return st;
}

Result<BlobUploads::State> BlobUploads::Begin(std::string_view sha256, int64_t size, std::string_view mime) {
  TIANYE_RETURN_IF_ERROR(CheckHash(sha256));
  if (size < 0) return Status::InvalidArgument("a file size cannot be negative");
  if (size > kMaxBytes) {
    return Status::ResourceExhausted("too_large: files up to " + std::to_string(kMaxBytes >> 20) +
                                     " MiB are taken; this one has " + std::to_string(size) + " bytes");
  }
  TIANYE_ASSIGN_OR_RETURN(Stmt abandoned, StoreAccess::Conn(*store_).Prepare(
                                              "DELETE FROM uploads WHERE created_ms < ?"));  // chunks cascade
  abandoned.Bind(1, StoreAccess::ClockOf(*store_).NowMillis() - kAbandonedAfterMs);
  TIANYE_RETURN_IF_ERROR(abandoned.Run());
  Result<State> existing = Get(sha256);
  if (existing) {
    if (!existing->complete) {
      TIANYE_ASSIGN_OR_RETURN(Stmt u, StoreAccess::Conn(*store_).Prepare("SELECT size FROM uploads WHERE sha256 = ?"));
      u.Bind(1, sha256);
      TIANYE_ASSIGN_OR_RETURN(bool row, u.Step());
      if (row && u.Int(0) != size) {
        return Status::Conflict("an upload of this file with another size (" + std::to_string(u.Int(0)) +
                                " bytes) is under way");
      }
    }
    return existing;
  }
  if (existing.error().code() != StatusCode::kNotFound) return existing.error();
  TIANYE_ASSIGN_OR_RETURN(Stmt s, StoreAccess::Conn(*store_).Prepare(
                                      "INSERT INTO uploads (sha256, size, mime, created_ms) VALUES (?, ?, ?, ?)"));
  s.Bind(1, sha256).Bind(2, size).Bind(3, mime.empty() ? "application/octet-stream" : mime);
  s.Bind(4, StoreAccess::ClockOf(*store_).NowMillis());
  Status begun = s.Run();
  // Another server on the same PostgreSQL began the same file a moment
  // ago: its upload is this one.
  if (!begun.ok() && begun.code() != StatusCode::kAlreadyExists) return begun;
  return Get(sha256);
}

Status BlobUploads::PutChunk(std::string_view sha256, int64_t index, std::string_view bytes,
                             std::string_view chunk_sha256) {
  TIANYE_RETURN_IF_ERROR(CheckHash(sha256));
  TIANYE_ASSIGN_OR_RETURN(Stmt u, StoreAccess::Conn(*store_).Prepare("SELECT size FROM uploads WHERE sha256 = ?"));
  u.Bind(1, sha256);
  TIANYE_ASSIGN_OR_RETURN(bool row, u.Step());
  if (!row) {
    if (AttachmentStore(store_).Stat(sha256)) return Status::Ok();  // already complete
    return Status::NotFound("no upload of " + std::string(sha256) + " was begun");
  }
  int64_t size = u.Int(0);
  int64_t chunks = ChunkCount(size);
  if (index < 0 || index >= chunks) {
    return Status::InvalidArgument("chunk " + std::to_string(index) + " is out of range (0.." +
                                   std::to_string(chunks - 1) + ")");
  }
  int64_t expected = index + 1 < chunks ? kChunk : size - index * kChunk;
  if (static_cast<int64_t>(bytes.size()) != expected) {
    return Status::InvalidArgument("chunk " + std::to_string(index) + " must have " + std::to_string(expected) +
                                   " bytes, got " + std::to_string(bytes.size()));
  }
  internal::Sha256 h;
  h.Update(bytes);
  if (h.FinalHex() != chunk_sha256) {
    return Status::InvalidArgument("chunk_hash_mismatch: chunk " + std::to_string(index) +
                                   " does not match its SHA-256; send it again");
  }
  TIANYE_ASSIGN_OR_RETURN(Stmt s, StoreAccess::Conn(*store_).Prepare(
                                      "INSERT INTO upload_chunks (sha256, idx, data) VALUES (?, ?, ?) "
                                      "ON CONFLICT DO NOTHING"));
  s.Bind(1, sha256).Bind(2, index).BindBlob(3, bytes);
  return s.Run();
}

Result<AttachmentInfo> BlobUploads::Finish(std::string_view sha256) {
  AttachmentStore attachments(store_);
  if (Result<AttachmentInfo> done = attachments.Stat(sha256)) return done;
  TIANYE_ASSIGN_OR_RETURN(State st, Get(sha256));
  if (static_cast<int64_t>(st.have.size()) != st.chunks) {
    return Status::FailedPrecondition("chunks_missing: " + std::to_string(st.chunks - static_cast<int64_t>(st.have.size())) +
                                      " of " + std::to_string(st.chunks) + " chunks have not arrived");
  }
  TIANYE_ASSIGN_OR_RETURN(Stmt u, StoreAccess::Conn(*store_).Prepare("SELECT size, mime FROM uploads WHERE sha256 = ?"));
  u.Bind(1, sha256);
  TIANYE_ASSIGN_OR_RETURN(bool row, u.Step());
  if (!row) return Status::NotFound("no upload of " + std::string(sha256));
  PutOptions put;
  put.mime = u.Text(1);
  put.max_bytes = kMaxBytes;
  TIANYE_ASSIGN_OR_RETURN(Transaction tx, store_->Begin());
  ChunkSource source(store_, std::string(sha256));
  Result<AttachmentInfo> info = attachments.Put(source, put);
  if (!info) return info.error();
  bool ok = info->sha256 == sha256;
  // Whether it matched or not, the staged chunks have served their purpose.
  TIANYE_ASSIGN_OR_RETURN(Stmt d, StoreAccess::Conn(*store_).Prepare("DELETE FROM uploads WHERE sha256 = ?"));
  d.Bind(1, sha256);
  TIANYE_RETURN_IF_ERROR(d.Run());
  if (!ok) {
    tx.Rollback();
    TIANYE_ASSIGN_OR_RETURN(Stmt again, StoreAccess::Conn(*store_).Prepare("DELETE FROM uploads WHERE sha256 = ?"));
    again.Bind(1, sha256);
    TIANYE_RETURN_IF_ERROR(again.Run());
    return Status::InvalidArgument("hash_mismatch: the chunks do not make a file with SHA-256 " + std::string(sha256) +
                                   "; they were dropped, upload the file again");
  }
  TIANYE_RETURN_IF_ERROR(tx.Commit());
  return info;
}

}  // namespace tianye
