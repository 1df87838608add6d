// Shared fixture pieces for the core store tests.
#ifndef TIANYE_TESTS_CORE_STORE_TESTING_H_
#define TIANYE_TESTS_CORE_STORE_TESTING_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tianye/store.h"

namespace tianye::testing {

inline constexpr char kPassphrase[] = "平鲁 field team 2026!";

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
