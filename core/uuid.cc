#include "tianye/uuid.h"

#include <openssl/rand.h>
#include <pthread.h>

#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <random>

namespace tianye {
namespace {

// The last (milliseconds, 12-bit sequence) handed out; keeps ids increasing
// within the process when the clock stalls or steps back (RFC 9562 §6.2, method 1).
struct Monotonic {
  std::mutex mu;
  int64_t last_ms = -1;
  uint32_t seq = 0;
};

Monotonic& State() {
  static Monotonic state;
  return state;
}

// Counts the forks of this process: a child starts with a copy of its
// parent's pool of random bytes, and must not hand out the same ones.
std::atomic<uint64_t> g_forks{0};

void FillRandom(unsigned char* out, int n) {
  if (RAND_bytes(out, n) == 1) return;
  // OpenSSL's generator only fails when the OS gives it no entropy; ids stay
  // unique through the timestamp and sequence, so fall back to random_device.
  std::random_device device;
  for (int i = 0; i < n; ++i) out[i] = static_cast<unsigned char>(device());
}

// Random bytes from a per-thread pool that OpenSSL refills 1 KiB at a time:
// a call of RAND_bytes costs about 2 us however few bytes it makes, which was
// most of an id's cost and a twentieth of the server's merge of a conflict.
void RandomBytes(unsigned char* out, size_t n) {
  static std::once_flag registered;
  std::call_once(registered, [] { pthread_atfork(nullptr, nullptr, [] { g_forks.fetch_add(1); }); });
  struct Pool {
    std::array<unsigned char, 1024> bytes;
    size_t used = sizeof bytes;
    uint64_t forks = 0;
  };
  thread_local Pool pool;
  if (n > pool.bytes.size()) return FillRandom(out, static_cast<int>(n));
  const uint64_t forks = g_forks.load();
  if (pool.forks != forks || pool.bytes.size() - pool.used < n) {
    FillRandom(pool.bytes.data(), static_cast<int>(pool.bytes.size()));
    pool.used = 0;
    pool.forks = forks;
  }
  std::memcpy(out, pool.bytes.data() + pool.used, n);
  pool.used += n;  // each byte is handed out once
}

}  // namespace

std::string NewUuidV7(const Clock& clock) {
  std::array<unsigned char, 16> b{};
  RandomBytes(b.data(), b.size());
  int64_t ms = clock.NowMillis();
  uint32_t seq;
  {
    Monotonic& st = State();
    std::lock_guard lock(st.mu);
    if (ms > st.last_ms) {
      st.last_ms = ms;
      st.seq = (static_cast<uint32_t>(b[6]) << 4 | b[7] >> 4) & 0x7ff;  // leave room to count up
    } else if (++st.seq > 0xfff) {
      ++st.last_ms;
      st.seq = 0;
    }
    ms = st.last_ms;
    seq = st.seq;
  }
  for (int i = 0; i < 6; ++i) b[i] = static_cast<unsigned char>(ms >> (8 * (5 - i)));
  b[6] = static_cast<unsigned char>(0x70 | (seq >> 8));
  b[7] = static_cast<unsigned char>(seq & 0xff);
  b[8] = static_cast<unsigned char>(0x80 | (b[8] & 0x3f));  // RFC 9562 variant

  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 15];
  }
  return out;
}

bool IsCanonicalUuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

int64_t UuidV7Millis(std::string_view uuid) {
  int64_t ms = 0;
  int digits = 0;
  for (char c : uuid) {
    if (c == '-') continue;
    if (digits++ == 12) break;
    ms = ms * 16 + (c <= '9' ? c - '0' : c - 'a' + 10);
  }
  return ms;
}

}  // namespace tianye
