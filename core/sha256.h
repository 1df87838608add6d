// Incremental SHA-256 over OpenSSL's EVP interface. Private to the core.
#ifndef TIANYE_CORE_SHA256_H_
#define TIANYE_CORE_SHA256_H_

#include <memory>
#include <string>
#include <string_view>

namespace tianye::internal {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view bytes);
  // Lower-case hex digest. The object must not be used afterwards.
  std::string FinalHex();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// True when `text` is 64 lower-case hex digits.
bool IsSha256Hex(std::string_view text);

}  // namespace tianye::internal

#endif  // TIANYE_CORE_SHA256_H_
