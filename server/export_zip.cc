// GET /v1/export/photos.zip: the photos (and other files) the filtered
// queue's records name, in a ZIP written by libzip, named by record:
//
//   toilet/140621100201/<record id>/photo.jpg
//   toilet/140621100201/<record id>/problems-2-prob_photo.jpg   (2nd instance)
//   manifest.csv   one line per file answer: where it is in the ZIP, or why not
//
// Photos are stored as they are (already compressed); each is read from the
// encrypted store one chunk at a time while the archive is written, so memory
// stays at one chunk whatever the photos add up to.
#include <zip.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "app.h"
#include "export.h"
#include "tianye/attachment.h"
#include "tianye/csv.h"

namespace tianye::server {
namespace {

using nlohmann::json;

// A libzip source reading one stored attachment chunk by chunk.
class StoredFileSource {
 public:
  StoredFileSource(AttachmentStore* files, AttachmentInfo info) : files_(files), info_(std::move(info)) {
    zip_error_init(&error_);
  }
  ~StoredFileSource() { zip_error_fini(&error_); }

  static zip_int64_t Callback(void* state, void* data, zip_uint64_t len, zip_source_cmd_t cmd) {
    return static_cast<StoredFileSource*>(state)->Command(data, len, cmd);
  }

 private:
  zip_int64_t Command(void* data, zip_uint64_t len, zip_source_cmd_t cmd) {
    switch (cmd) {
      case ZIP_SOURCE_OPEN:
        next_chunk_ = 0;
        ReleaseChunk();
        pos_ = 0;
        return 0;
      case ZIP_SOURCE_READ:
        return Read(static_cast<char*>(data), len);
      case ZIP_SOURCE_CLOSE:
        ReleaseChunk();
        return 0;
      case ZIP_SOURCE_STAT: {
        auto* st = static_cast<zip_stat_t*>(data);
        zip_stat_init(st);
        st->size = static_cast<zip_uint64_t>(info_.size);
        st->mtime = static_cast<time_t>(info_.created_ms / 1000);
        st->valid |= ZIP_STAT_SIZE | ZIP_STAT_MTIME;
        return sizeof(*st);
      }
      case ZIP_SOURCE_ERROR:
        return zip_error_to_data(&error_, data, len);
      case ZIP_SOURCE_FREE:
        delete this;
        return 0;
      case ZIP_SOURCE_SUPPORTS:
        return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE, ZIP_SOURCE_STAT,
                                              ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, -1);
      default:
        zip_error_set(&error_, ZIP_ER_OPNOTSUPP, 0);
        return -1;
    }
  }

  zip_int64_t Read(char* out, zip_uint64_t len) {
    zip_uint64_t n = 0;
    while (n < len) {
      if (at_ == chunk_.size()) {
        if (static_cast<int64_t>(next_chunk_ * AttachmentStore::kChunkSize) >= info_.size) break;
        Result<std::string> chunk = files_->ReadChunk(info_.sha256, next_chunk_++);
        if (!chunk || chunk->empty()) {
          zip_error_set(&error_, ZIP_ER_READ, EIO);
          return -1;
        }
        chunk_ = std::move(*chunk);
        at_ = 0;
      }
      size_t take = std::min<size_t>(len - n, chunk_.size() - at_);
      std::memcpy(out + n, chunk_.data() + at_, take);
      at_ += take;
      n += take;
    }
    pos_ += static_cast<int64_t>(n);
    // libzip closes and frees its sources only when the whole archive is
    // written, so a file read to its end lets go of its chunk now: otherwise
    // the last chunk of every photo stays in memory until then.
    if (pos_ >= info_.size) ReleaseChunk();
    return static_cast<zip_int64_t>(n);
  }

  void ReleaseChunk() {
    std::string().swap(chunk_);  // frees it (assigning an empty string keeps the buffer)
    at_ = 0;
  }

  AttachmentStore* files_;
  AttachmentInfo info_;
  zip_error_t error_;
  int64_t next_chunk_ = 0;
  std::string chunk_;
  size_t at_ = 0;
  int64_t pos_ = 0;  // bytes read since the source was opened
};

// Calls `each(path, question, value)` for every file answer in `level`, with
// repeat instances numbered from 1 in the path ("problems-2-prob_photo").
template <typename F>
void EachFileAnswer(const json& level, const std::string& prefix, const F& each) {
  for (auto it = level.begin(); it != level.end(); ++it) {
    if (it.key() == "_id") continue;
    const json& v = it.value();
    if (v.is_string() && IsExportableFile(v.get<std::string>())) {
      each(prefix + it.key(), it.key(), v.get<std::string>());
    } else if (v.is_array()) {
      for (size_t i = 0; i < v.size(); ++i) {
        if (v[i].is_object()) EachFileAnswer(v[i], prefix + it.key() + "-" + std::to_string(i + 1) + "-", each);
      }
    }
  }
}

// A path part that is safe in any unpacker: no separators, no "..".
std::string Safe(const std::string& part) {
  std::string out;
  for (char ch : part) out += std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' ? ch : '_';
  return out.empty() ? "_" : out;
}

}  // namespace

// GET /v1/export/photos.zip?<the queue's filters>
http::Response ServerApp::ExportPhotos(const http::Request& r, const Principal& who) {
  Result<ExportRequest> request = ParseExport(r, who, reads_.forms, /*one_form=*/false);
  if (!request) return TypedError(request.error());

  const std::string path = http::TempFile("", "tianye-export");
  const std::string manifest_path = http::TempFile("", "tianye-manifest");
  auto fail = [&](http::Response res) {
    std::filesystem::remove(path);
    std::filesystem::remove(manifest_path);
    return res;
  };
  if (path.empty() || manifest_path.empty()) {
    return fail(http::Response::Error(503, "unavailable", "cannot make a temporary file for the export"));
  }
  int error = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  if (zip == nullptr) return fail(http::Response::Error(503, "unavailable", "cannot start the ZIP file"));

  std::ofstream manifest(manifest_path, std::ios::binary | std::ios::trunc);
  manifest << kUtf8Bom
           << CsvLine({"record_id", "form_id", "village", "field", "file", "sha256", "bytes", "note"});
  const bool unmask = who.role == "admin";
  std::map<std::string, std::set<std::string>> sensitive_of;  // form id -> sensitive question names
  AttachmentStore files(reads_.store);
  int64_t records = 0;
  std::string add_error;
  Status s = ForEachRecord(who, request->query, [&](const RecordRow& row, const Record&, const json& values) {
    ++records;
    if (!sensitive_of.count(row.form_id)) {
      Result<ExportColumns> columns = FormColumns(reads_.forms, row.form_id);
      sensitive_of[row.form_id] = columns ? columns->sensitive : std::set<std::string>{};
    }
    const std::set<std::string>& sensitive = sensitive_of[row.form_id];
    const std::string& area = !row.area.village.empty() ? row.area.village : row.area.county;
    EachFileAnswer(values, "", [&](const std::string& field, const std::string& question, const std::string& value) {
      const std::string sha = value.substr(0, 64);
      const std::string ext = value.size() > 65 ? value.substr(65) : "bin";
      std::string name = Safe(row.form_id) + "/" + Safe(area.empty() ? "no-area" : area) + "/" +
                         Safe(row.record_id) + "/" + field + "." + ext;
      std::string note, bytes;
      Result<AttachmentInfo> info = files.Stat(sha);
      if (!unmask && sensitive.count(question)) {
        note = "masked: only an admin exports this field";
      } else if (!info) {
        note = "missing: the file has not reached the server yet";
      } else {
        bytes = std::to_string(info->size);
        auto* source_state = new StoredFileSource(&files, *info);
        zip_source_t* source = zip_source_function(zip, &StoredFileSource::Callback, source_state);
        zip_int64_t index = source == nullptr ? -1 : zip_file_add(zip, name.c_str(), source, ZIP_FL_ENC_UTF_8);
        if (source == nullptr) delete source_state;
        if (index < 0) {
          if (source != nullptr) zip_source_free(source);
          if (add_error.empty()) add_error = zip_strerror(zip);
          return;
        }
        zip_set_file_compression(zip, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0);
      }
      manifest << CsvLine({row.record_id, row.form_id, area, field, note.empty() ? name : "", sha, bytes, note});
    });
    if (!add_error.empty()) return Status::Internal("cannot add a file to the ZIP: " + add_error);
    return Status::Ok();
  });
  manifest.close();
  zip_source_t* listing = s.ok() && manifest ? zip_source_file(zip, manifest_path.c_str(), 0, -1) : nullptr;
  if (listing != nullptr && zip_file_add(zip, "manifest.csv", listing, ZIP_FL_ENC_UTF_8) < 0) {
    zip_source_free(listing);
    listing = nullptr;
  }
  if (!s.ok() || listing == nullptr) {
    zip_discard(zip);
    return fail(s.ok() ? http::Response::Error(503, "unavailable", "cannot write the manifest") : TypedError(s));
  }
  if (zip_close(zip) != 0) {  // reads every photo from the store now
    std::string why = zip_strerror(zip);
    zip_discard(zip);
    return fail(http::Response::Error(503, "unavailable", "cannot write the ZIP file: " + why));
  }
  std::filesystem::remove(manifest_path);
  return ExportFileResponse(path, "application/zip", "photos.zip", records);
}

}  // namespace tianye::server
