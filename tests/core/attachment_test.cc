#include "tianye/attachment.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>

#if defined(__SANITIZE_ADDRESS__)
// From the sanitizer runtime (GCC ships the runtime but not this header).
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#else
#include <malloc.h>
#endif

#include "sha256.h"
#include "sqlite.h"
#include "store_impl.h"
#include "store_testing.h"
#include "test_util.h"
#include "tianye/record.h"

namespace tianye {
namespace {

using testing::OpenOrFail;
using testing::StringSource;
using testing::TempDir;

// Bytes currently allocated on the heap by the whole process (SQLite included).
size_t LiveHeapBytes() {
#if defined(__SANITIZE_ADDRESS__)
  return __sanitizer_get_current_allocated_bytes();
#else
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
#endif
}


class StringSink final : public ByteSink {
 public:
  Status Write(std::string_view b) override {
    out.append(b);
    return Status::Ok();
  }
  std::string out;
};

// Deterministic pseudo-random bytes handed out in awkward piece sizes; tracks
// the heap high-water mark at every call.
class GeneratedSource final : public ByteSource {
 public:
  GeneratedSource(int64_t size, size_t* peak) : left_(size), peak_(peak) {}
  Result<size_t> Read(char* buf, size_t n) override {
    *peak_ = std::max(*peak_, LiveHeapBytes());
    n = std::min<size_t>({n, static_cast<size_t>(left_), 77777});
    for (size_t i = 0; i < n; ++i) {
      x_ ^= x_ << 13;
      x_ ^= x_ >> 7;
      x_ ^= x_ << 17;
      buf[i] = static_cast<char>(x_);
    }
    sha_.Update(std::string_view(buf, n));
    left_ -= static_cast<int64_t>(n);
    return n;
  }
  std::string Hex() { return sha_.FinalHex(); }

 private:
  int64_t left_;
  size_t* peak_;
  uint64_t x_ = 88172645463325252ULL;
  internal::Sha256 sha_;
};

class HashingSink final : public ByteSink {
 public:
  explicit HashingSink(size_t* peak) : peak_(peak) {}
  Status Write(std::string_view b) override {
    *peak_ = std::max(*peak_, LiveHeapBytes());
    sha.Update(b);
    size += static_cast<int64_t>(b.size());
    return Status::Ok();
  }
  internal::Sha256 sha;
  int64_t size = 0;

 private:
  size_t* peak_;
};

class AttachmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrFail(dir_.File("s.db"));
    ASSERT_NE(store_, nullptr);
  }
  int64_t Count(const char* table) {
    std::string sql = std::string("SELECT count(*) FROM ") + table;
    return *internal::StoreAccess::Conn(*store_).QueryInt(sql.c_str());
  }
  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(AttachmentTest, RoundTripsAcrossChunkBoundaries) {
  AttachmentStore as(store_.get());
  for (size_t size : {size_t{0}, size_t{1}, AttachmentStore::kChunkSize - 1,
                      AttachmentStore::kChunkSize, AttachmentStore::kChunkSize + 1,
                      3 * AttachmentStore::kChunkSize + 12345}) {
    std::string content(size, '\0');
    for (size_t i = 0; i < size; ++i) content[i] = static_cast<char>((i * 131 + size) % 251);
    StringSource src(content);
    auto info = as.Put(src, {.mime = "image/jpeg"});
    ASSERT_TRUE(info.has_value()) << info.error().ToString();
    internal::Sha256 expect;
    expect.Update(content);
    EXPECT_EQ(info->sha256, expect.FinalHex());
    EXPECT_EQ(info->size, static_cast<int64_t>(size));
    StringSink sink;
    ASSERT_TRUE(as.Read(info->sha256, sink).ok());
    EXPECT_EQ(sink.out, content) << "size " << size;
  }
}

TEST_F(AttachmentTest, IdenticalContentIsStoredOnce) {
  AttachmentStore as(store_.get());
  StringSource a(std::string(600000, 'x')), b(std::string(600000, 'x'));
  auto first = as.Put(a, {.mime = "image/jpeg"});
  auto second = as.Put(b, {.mime = "image/png"});
  ASSERT_TRUE(first.has_value() && second.has_value());
  EXPECT_EQ(first->sha256, second->sha256);
  EXPECT_EQ(second->mime, "image/jpeg");  // the stored blob is immutable
  EXPECT_EQ(Count("attachments"), 1);
  EXPECT_EQ(Count("attachment_chunks"), 3);
}

TEST_F(AttachmentTest, OversizedContentIsRefusedAndNothingStored) {
  AttachmentStore as(store_.get());
  StringSource src(std::string(AttachmentStore::kChunkSize * 2 + 1, 'p'));
  auto info = as.Put(src, {.max_bytes = static_cast<int64_t>(AttachmentStore::kChunkSize) * 2});
  EXPECT_EQ(info.error().code(), StatusCode::kResourceExhausted) << info.error().ToString();
  EXPECT_EQ(Count("attachments"), 0);
  EXPECT_EQ(Count("attachment_chunks"), 0);
}

TEST_F(AttachmentTest, FailingSourceStoresNothing) {
  class Broken final : public ByteSource {
   public:
    Result<size_t> Read(char* buf, size_t n) override {
      if (calls_++ > 2) return Status::IOError("camera storage unplugged");
      std::fill_n(buf, n, 'z');
      return n;
    }
    int calls_ = 0;
  } broken;
  AttachmentStore as(store_.get());
  EXPECT_EQ(as.Put(broken, {}).error().code(), StatusCode::kIOError);
  EXPECT_EQ(Count("attachments"), 0);
  EXPECT_EQ(Count("attachment_chunks"), 0);
}

TEST_F(AttachmentTest, LinksToRecordFields) {
  RecordStore rs(store_.get());
  AttachmentStore as(store_.get());
  auto rec = rs.Create({.form_id = "housing"});
  StringSource s1("front"), s2("side");
  auto front = as.Put(s1, {.mime = "image/jpeg"});
  auto side = as.Put(s2, {.mime = "image/jpeg"});
  ASSERT_TRUE(as.Link(rec->id, "photo_front", front->sha256).ok());
  ASSERT_TRUE(as.Link(rec->id, "photo_front", front->sha256).ok());  // idempotent
  ASSERT_TRUE(as.Link(rec->id, "photo_side", side->sha256).ok());
  auto list = as.ListForRecord(rec->id);
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].field, "photo_front");
  EXPECT_EQ((*list)[0].info.sha256, front->sha256);
  EXPECT_EQ((*list)[1].field, "photo_side");

  EXPECT_EQ(as.Link("01a22b60-71d1-73c5-a418-d451b9cb8e05", "photo_front", front->sha256).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(as.Link(rec->id, "photo_front", std::string(64, 'a')).code(), StatusCode::kNotFound);
  EXPECT_EQ(as.Link(rec->id, "photo_front", "abc").code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(as.Unlink(rec->id, "photo_side", side->sha256).ok());
  EXPECT_EQ(as.ListForRecord(rec->id)->size(), 1u);
}

TEST_F(AttachmentTest, DetectsDamagedContent) {
  AttachmentStore as(store_.get());
  StringSource src(std::string(AttachmentStore::kChunkSize + 10, 'q'));
  auto info = as.Put(src, {});
  ASSERT_TRUE(info.has_value());
  ASSERT_TRUE(internal::StoreAccess::Conn(*store_)
                  .Exec("UPDATE attachment_chunks SET data = zeroblob(10) WHERE idx = 1")
                  .ok());
  StringSink sink;
  EXPECT_EQ(as.Read(info->sha256, sink).code(), StatusCode::kCorruption);
  // ReadToFile leaves no file behind when the content is damaged.
  std::string out = dir_.File("photo.jpg");
  EXPECT_EQ(as.ReadToFile(info->sha256, out).code(), StatusCode::kCorruption);
  EXPECT_FALSE(testing::Exists(out));
  EXPECT_FALSE(testing::Exists(out + ".part"));
}

TEST_F(AttachmentTest, FileRoundTrip) {
  AttachmentStore as(store_.get());
  std::string in = dir_.File("现场照片.jpg"), out = dir_.File("copy.jpg");
  testing::WriteBytes(in, std::string(700000, '\x7f'));
  auto info = as.PutFile(in, {.mime = "image/jpeg"});
  ASSERT_TRUE(info.has_value()) << info.error().ToString();
  ASSERT_TRUE(as.ReadToFile(info->sha256, out).ok());
  EXPECT_EQ(testing::ReadBytes(out), testing::ReadBytes(in));
  EXPECT_EQ(as.PutFile(dir_.File("missing.jpg"), {}).error().code(), StatusCode::kNotFound);
  EXPECT_EQ(as.Stat(std::string(64, '0')).error().code(), StatusCode::kNotFound);
}

// A 50 MB photo goes in and comes out while the process's live heap stays
// within a few chunks' worth of memory: the file is never whole in memory.
TEST_F(AttachmentTest, Slow50MegabytePhotoWithBoundedMemory) {
  constexpr int64_t kSize = 50LL * 1000 * 1000;
  // A low-memory phone's setting: a 2 MiB page cache.
  store_.reset();
  StoreOptions options;
  options.path = dir_.File("small-cache.db");
  options.cache_mib = 2;
  auto opened = Store::Open(options, testing::kPassphrase);
  ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
  store_ = std::move(opened).value();
  AttachmentStore as(store_.get());
  size_t baseline = LiveHeapBytes();
  size_t put_peak = baseline, read_peak = baseline;
  GeneratedSource source(kSize, &put_peak);
  auto info = as.Put(source, {.mime = "image/jpeg"});
  ASSERT_TRUE(info.has_value()) << info.error().ToString();
  EXPECT_EQ(info->size, kSize);
  EXPECT_EQ(info->sha256, source.Hex());

  HashingSink sink(&read_peak);
  ASSERT_TRUE(as.Read(info->sha256, sink).ok());
  EXPECT_EQ(sink.size, kSize);
  EXPECT_EQ(sink.sha.FinalHex(), info->sha256);

  constexpr size_t kBound = 8u << 20;  // chunk buffers + the 2 MiB page cache, far below 50 MB
  EXPECT_LT(put_peak - baseline, kBound) << "Put held " << (put_peak - baseline) << " bytes";
  EXPECT_LT(read_peak - baseline, kBound) << "Read held " << (read_peak - baseline) << " bytes";
  EXPECT_TRUE(store_->CheckIntegrity().ok());
}

TEST(FileAnswerTest, NamesAFileByItsLowerCaseHashWithAnOptionalExtension) {
  const std::string sha = Sha256Hex("a photo");
  EXPECT_TRUE(IsFileAnswer(sha));
  EXPECT_TRUE(IsFileAnswer(sha + ".jpg"));
  EXPECT_FALSE(IsFileAnswer(sha.substr(1)));
  EXPECT_FALSE(IsFileAnswer(sha + "jpg"));
  std::string upper = sha;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_FALSE(IsFileAnswer(upper + ".jpg"));
  EXPECT_FALSE(IsFileAnswer("张德明"));
}

}  // namespace
}  // namespace tianye
