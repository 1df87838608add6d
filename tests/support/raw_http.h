// A deliberately dumb HTTP client for tests: writes raw bytes to 127.0.0.1
// and reads until the server closes, so tests can send malformed requests.
#ifndef TIANYE_TESTS_SUPPORT_RAW_HTTP_H_
#define TIANYE_TESTS_SUPPORT_RAW_HTTP_H_

#include <cstdint>
#include <string>

namespace tianye::testing {

struct RawResponse {
  int status = 0;    // 0 when nothing (or garbage) came back
  std::string head;  // status line and headers
  std::string body;
};

// Sends `bytes` to 127.0.0.1:port, then reads until the peer closes or
// `timeout_ms` pass. Parses the first response found.
RawResponse RawRequest(uint16_t port, const std::string& bytes, int timeout_ms = 10000);

// A well-formed request with Connection: close.
std::string HttpRequest(const std::string& method, const std::string& target,
                        const std::string& body = "", const std::string& extra_headers = "");

}  // namespace tianye::testing

#endif  // TIANYE_TESTS_SUPPORT_RAW_HTTP_H_
