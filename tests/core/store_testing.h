// Shared fixture pieces for the core store tests.
#ifndef TIANYE_TESTS_CORE_STORE_TESTING_H_
#define TIANYE_TESTS_CORE_STORE_TESTING_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>

#include "tianye/attachment.h"
#include "tianye/store.h"

namespace tianye::testing {

inline constexpr char kPassphrase[] = "平鲁 field team 2026!";

// A ByteSource over a string, handing out what is asked for.
class StringSource final : public ByteSource {
 public:
  explicit StringSource(std::string s) : s_(std::move(s)) {}
  Result<size_t> Read(char* buf, size_t n) override {
    n = std::min(n, s_.size() - pos_);
    s_.copy(buf, n, pos_);
    pos_ += n;
    return n;
  }

 private:
  std::string s_;
  size_t pos_ = 0;
};

// Opens (creating if needed) the store at `path`, failing the test on error.
inline std::unique_ptr<Store> OpenOrFail(const std::string& path,
                                         const std::string& passphrase = kPassphrase,
                                         const Clock* clock = nullptr) {
  StoreOptions options;
  options.path = path;
  options.clock = clock;
  auto store = Store::Open(options, passphrase);
  EXPECT_TRUE(store.has_value()) << store.error().ToString();
  return store ? std::move(store).value() : nullptr;
}

inline Status OpenStatus(const std::string& path, const std::string& passphrase,
                         StoreOptions::IfMissing if_missing = StoreOptions::IfMissing::kFail) {
  StoreOptions options;
  options.path = path;
  options.if_missing = if_missing;
  return Store::Open(options, passphrase).error();
}

}  // namespace tianye::testing

#endif  // TIANYE_TESTS_CORE_STORE_TESTING_H_
