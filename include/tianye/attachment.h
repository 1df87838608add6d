// Attachments: photos and other files, stored encrypted inside the Store,
// addressed by the SHA-256 of their content and kept in fixed-size chunks so
// that no file ever has to sit whole in memory.
//
// Storing the same content twice yields one copy. A blob is immutable once
// stored. Reads verify the content hash as they stream.
//
// Thread safety: as the Store it uses (not thread-safe).
#ifndef TIANYE_ATTACHMENT_H_
#define TIANYE_ATTACHMENT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tianye/status.h"
#include "tianye/store.h"

namespace tianye {

// The SHA-256 of `bytes` in lower-case hex (how attachments and upload
// chunks are named and checked).
std::string Sha256Hex(std::string_view bytes);

// Whether an answer names a stored file: "<sha256>" or "<sha256>.<ext>"
// (lower-case hex, as photo and signature answers are written).
bool IsFileAnswer(std::string_view value);

// Pulls bytes from somewhere (a file, a socket, a generator).
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `size` bytes into `buffer`. Returns the count; 0 means end.
  virtual Result<size_t> Read(char* buffer, size_t size) = 0;
};

// Receives bytes in order.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual Status Write(std::string_view bytes) = 0;
};

struct AttachmentInfo {
  std::string sha256;  // lower-case hex, 64 characters
  int64_t size = 0;
  std::string mime;
  int64_t created_ms = 0;
};

struct RecordAttachment {
  std::string record_id;
  std::string field;  // the form field (question name) the file answers
  AttachmentInfo info;
};

struct PutOptions {
  std::string mime = "application/octet-stream";
  // Larger content is refused with kResourceExhausted and nothing is stored.
  int64_t max_bytes = 64LL * 1024 * 1024;
};

class AttachmentStore {
 public:
  // Chunk size in bytes; also the largest buffer Put/Read hold at once.
  static constexpr size_t kChunkSize = 256 * 1024;

  // `store` is not owned and must outlive this object.
  explicit AttachmentStore(Store* store) : store_(store) {}

  // Streams `source` into the store. Returns the blob's info (the existing
  // one when identical content is already stored). Atomic: on any error
  // nothing is stored.
  Result<AttachmentInfo> Put(ByteSource& source, const PutOptions& options);
  // Convenience: Put() from a file. Errors: kNotFound, kIOError, as Put().
  Result<AttachmentInfo> PutFile(const std::string& path, const PutOptions& options);

  // Errors: kNotFound, kInvalidArgument (not a SHA-256 hex string).
  Result<AttachmentInfo> Stat(std::string_view sha256);

  // Streams the content to `sink` chunk by chunk. Errors: kNotFound;
  // kCorruption if the content no longer matches its hash.
  Status Read(std::string_view sha256, ByteSink& sink);
  // Chunk `index` of the content (kChunkSize bytes, the last one shorter).
  // Errors: kNotFound (no such blob or chunk).
  Result<std::string> ReadChunk(std::string_view sha256, int64_t index);

  // Convenience: Read() into a new file at `path` (written then renamed).
  Status ReadToFile(std::string_view sha256, const std::string& path);

  // Ties a stored blob to a record's field. Idempotent.
  // Errors: kNotFound (no such record or blob).
  Status Link(std::string_view record_id, std::string_view field, std::string_view sha256);
  Status Unlink(std::string_view record_id, std::string_view field, std::string_view sha256);
  Result<std::vector<RecordAttachment>> ListForRecord(std::string_view record_id);

 private:
  Store* store_;
};

// Resumable, verified uploads of whole files in chunks (the server side of
// photo sync). A file is named by its SHA-256; chunks are
// AttachmentStore::kChunkSize bytes, each checked against its own SHA-256 and
// stored at once, so an interrupted upload resumes with the chunks missing;
// Finish checks the whole file before it becomes an immutable attachment.
class BlobUploads {
 public:
  static constexpr int64_t kMaxBytes = 64LL * 1024 * 1024;
  // An upload begun this long ago and never finished is dropped when the
  // next one begins: its chunks would otherwise stay for good (a phone lost
  // in mid-upload), and an upload of the same file with another size would
  // be refused for good. Its device, which keeps a photo until the server
  // has it whole, begins it again at its next sync.
  static constexpr int64_t kAbandonedAfterMs = 30LL * 24 * 3600 * 1000;

  explicit BlobUploads(Store* store) : store_(store) {}

  struct State {
    bool complete = false;     // the file is stored: nothing to send
    int64_t chunk_size = 0;
    int64_t chunks = 0;        // how many chunks the whole file has
    std::vector<int64_t> have;  // chunk indexes already received
  };

  // Starts (or finds) the upload of `sha256`, after dropping abandoned
  // ones (kAbandonedAfterMs). Errors: kInvalidArgument (not
  // a SHA-256, negative size), kResourceExhausted (larger than kMaxBytes),
  // kConflict when an upload of the same hash with another size exists.
  Result<State> Begin(std::string_view sha256, int64_t size, std::string_view mime);
  // The upload's state without starting one. kNotFound when never begun.
  Result<State> Get(std::string_view sha256);
  // Stores chunk `index`. Errors: kNotFound (no upload begun),
  // kInvalidArgument (index out of range, wrong length, or the bytes do not
  // match `chunk_sha256`). Sending a chunk again is harmless.
  Status PutChunk(std::string_view sha256, int64_t index, std::string_view bytes, std::string_view chunk_sha256);
  // Verifies the whole file and stores it as an attachment. Errors:
  // kFailedPrecondition (chunks missing), kInvalidArgument ("hash_mismatch":
  // the chunks do not make the file; they are dropped, upload again).
  Result<AttachmentInfo> Finish(std::string_view sha256);

 private:
  Store* store_;
};

}  // namespace tianye

#endif  // TIANYE_ATTACHMENT_H_
