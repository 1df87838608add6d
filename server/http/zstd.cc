// zstd for HTTP bodies (RFC 8878), over libzstd.
#include <zstd.h>

#include <memory>
#include <string>

#include "http.h"

namespace tianye::http {
namespace {

// Level 1: on a pull page about as small as gzip's default level, and many
// times faster (the server compresses every page it sends).
constexpr int kLevel = 1;

struct DStreamFree {
  void operator()(ZSTD_DStream* d) const { ZSTD_freeDStream(d); }
};

}  // namespace

std::string Zstd(std::string_view data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), kLevel);
  // ZSTD_compress fails only on a destination smaller than its bound.
  out.resize(ZSTD_isError(n) ? 0 : n);
  return out;
}

Result<std::string> Unzstd(std::string_view data, size_t limit) {
  std::unique_ptr<ZSTD_DStream, DStreamFree> d(ZSTD_createDStream());
  if (d == nullptr || ZSTD_isError(ZSTD_initDStream(d.get()))) return Status::Internal("zstd could not start");
  ZSTD_inBuffer in{data.data(), data.size(), 0};
  std::string out;
  char buf[64 * 1024];
  while (true) {
    ZSTD_outBuffer o{buf, sizeof buf, 0};
    const size_t left = ZSTD_decompressStream(d.get(), &o, &in);  // 0: a frame ended, all of it out
    if (ZSTD_isError(left)) return Status::InvalidArgument("bad_encoding: the body is not valid zstd");
    out.append(buf, o.pos);
    if (out.size() > limit) {
      return Status::ResourceExhausted("too_large: the body inflates to more than " + std::to_string(limit) + " bytes");
    }
    // A full buffer may leave output inside the decoder: go round again.
    if (in.pos == in.size && o.pos < o.size) {
      if (left != 0) return Status::InvalidArgument("bad_encoding: the zstd body is truncated");
      return out;
    }
  }
}

}  // namespace tianye::http
