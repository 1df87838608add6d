// The HTTP layer on a real socket: routing data, limits, uploads to a spool
// file, malformed input, timeouts, keep-alive and a graceful stop.
#include "http.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "raw_http.h"
#include "test_util.h"

namespace tianye::http {
namespace {

using testing::HttpRequest;
using testing::RawRequest;

class HttpTest : public ::testing::Test {
 protected:
  void StartServer(ServerOptions options = {}) {
    options.limits = [](std::string_view, std::string_view path) {
      RouteLimits l;
      l.body_limit = 1024;
      l.spool_to_file = path == "/upload";
      return l;
    };
    options.upload_limit = 1 << 20;
    options.spool_dir = spool_.path();
    auto s = Server::Start(options, [this](const Request& req) { return Handle(req); });
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    server_ = std::move(s).value();
  }
  Response Handle(const Request& req) {
    if (req.path == "/throw") throw std::runtime_error("boom");
    if (req.path == "/slow") std::this_thread::sleep_for(std::chrono::milliseconds(300));
    nlohmann::json j = {{"method", req.method}, {"path", req.path}, {"query", req.query},
                        {"body", req.body}, {"host", req.Header("host")}};
    if (!req.body_file.empty()) {
      j["file_bytes"] = std::filesystem::file_size(req.body_file);
      j["file_in_spool"] = req.body_file.rfind(spool_.path(), 0) == 0;
    }
    return Response::Json(200, j.dump());
  }
  testing::TempDir spool_;
  std::unique_ptr<Server> server_;
};

TEST_F(HttpTest, DecodesPathQueryAndBody) {
  StartServer();
  auto r = RawRequest(server_->port(), HttpRequest("POST", "/v1/%E8%AE%B0%E5%BD%95?a=1&b=x+y&c=%2F", "hello"));
  ASSERT_EQ(r.status, 200) << r.head;
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["path"], "/v1/记录");
  EXPECT_EQ(j["query"]["b"], "x y");
  EXPECT_EQ(j["query"]["c"], "/");
  EXPECT_EQ(j["body"], "hello");
  EXPECT_NE(r.head.find("Cache-Control: no-store"), std::string::npos);
}

TEST_F(HttpTest, BodyOverTheRouteLimitIs413) {
  StartServer();
  auto r = RawRequest(server_->port(), HttpRequest("POST", "/x", std::string(5000, 'a')));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(nlohmann::json::parse(r.body)["error"], "too_large");
}

TEST_F(HttpTest, UploadsGoToASpoolFileThatIsRemovedAfterwards) {
  StartServer();
  std::string big(300000, 'p');  // over the in-memory limit, under the upload limit
  auto r = RawRequest(server_->port(), HttpRequest("POST", "/upload", big));
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["file_bytes"], 300000);
  EXPECT_EQ(j["file_in_spool"], true);
  EXPECT_EQ(j["body"], "");
  EXPECT_TRUE(testing::ListDir(spool_.path()).empty());
  auto too_big = RawRequest(server_->port(), HttpRequest("POST", "/upload", std::string(2 << 20, 'q')));
  EXPECT_EQ(too_big.status, 413);
  EXPECT_TRUE(testing::ListDir(spool_.path()).empty());
}

TEST_F(HttpTest, MalformedRequestsGetClearErrors) {
  StartServer();
  EXPECT_EQ(RawRequest(server_->port(), "GARBAGE\r\n\r\n").status, 400);
  EXPECT_EQ(RawRequest(server_->port(), HttpRequest("GET", "/bad%zzescape")).status, 400);
  std::string huge_header = "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'h') + "\r\n\r\n";
  EXPECT_EQ(RawRequest(server_->port(), huge_header).status, 431);
  // The server is still fine afterwards.
  EXPECT_EQ(RawRequest(server_->port(), HttpRequest("GET", "/ok")).status, 200);
}

TEST_F(HttpTest, HandlerExceptionsBecome500) {
  StartServer();
  auto r = RawRequest(server_->port(), HttpRequest("GET", "/throw"));
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("boom"), std::string::npos);
}

TEST_F(HttpTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  StartServer();
  std::string two = "GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  auto r = RawRequest(server_->port(), two);
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("/two"), std::string::npos);  // the second response followed the first
}

TEST_F(HttpTest, StalledClientIsDisconnectedAfterTheReadTimeout) {
  ServerOptions options;
  options.read_timeout = std::chrono::seconds(1);
  StartServer(options);
  auto start = std::chrono::steady_clock::now();
  auto r = RawRequest(server_->port(), "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part", 8000);
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.status, 0);  // closed without an answer
  EXPECT_LT(waited, 6.0);
}

TEST_F(HttpTest, StopFinishesRequestsInFlightAndIsPrompt) {
  StartServer();
  testing::RawResponse slow;
  std::thread t([&] { slow = RawRequest(server_->port(), HttpRequest("GET", "/slow")); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto start = std::chrono::steady_clock::now();
  server_->Stop();
  t.join();
  EXPECT_EQ(slow.status, 200);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
}

TEST(HttpUtilTest, StatusesMapOnce) {
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(StatusCode::kConflict), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::kResourceExhausted), 413);
  std::string path;
  std::map<std::string, std::string> query;
  EXPECT_FALSE(ParseTarget("no-slash", &path, &query).ok());
  EXPECT_FALSE(ParseTarget("/a?b=%G0", &path, &query).ok());
  EXPECT_FALSE(ParseTarget("/a%00b", &path, &query).ok());
  EXPECT_TRUE(ParseTarget("/a?flag&x=", &path, &query).ok());
  EXPECT_EQ(query.count("flag"), 1u);
}

// Both codings a body may come in: what goes in comes out, and what is not
// the coding, cut short, or inflating past the limit is a typed error.
TEST(HttpUtilTest, CompressedBodiesRoundTripAndStopAtTheLimit) {
  std::string text;
  for (int i = 0; i < 20000; ++i) text += R"({"record":"r)" + std::to_string(i) + R"(","field":"户主","value":"张三"},)";
  struct Coding {
    std::string (*pack)(std::string_view);
    Result<std::string> (*unpack)(std::string_view, size_t);
  };
  for (Coding c : {Coding{Gzip, Gunzip}, Coding{Zstd, Unzstd}}) {
    const std::string packed = c.pack(text);
    EXPECT_LT(packed.size(), text.size() / 5);
    auto back = c.unpack(packed, text.size());
    ASSERT_TRUE(back.has_value()) << back.error().ToString();
    EXPECT_EQ(*back, text);
    EXPECT_EQ(c.unpack(packed, text.size() - 1).error().code(), StatusCode::kResourceExhausted);
    EXPECT_EQ(c.unpack(packed.substr(0, packed.size() - 9), text.size()).error().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(c.unpack("", 100).error().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(c.unpack(text.substr(0, 100), 1000).error().code(), StatusCode::kInvalidArgument);
    auto empty = c.unpack(c.pack(""), 10);
    ASSERT_TRUE(empty.has_value()) << empty.error().ToString();
    EXPECT_EQ(*empty, "");
  }
  // A small bomb: 64 MB of zeros packs into a few kilobytes and stops at the limit.
  const std::string zeros(64u << 20, '\0');
  EXPECT_EQ(Unzstd(Zstd(zeros), 1u << 20).error().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(Gunzip(Gzip(zeros), 1u << 20).error().code(), StatusCode::kResourceExhausted);
}

TEST(HttpUtilTest, AcceptEncodingIsReadWithItsWeights) {
  EXPECT_TRUE(AcceptsEncoding("gzip, deflate, br, zstd", "zstd"));
  EXPECT_TRUE(AcceptsEncoding("gzip, deflate, br, zstd", "gzip"));
  EXPECT_TRUE(AcceptsEncoding("deflate, gzip", "gzip"));
  EXPECT_TRUE(AcceptsEncoding(" ZSTD ;q=0.5", "zstd"));
  EXPECT_FALSE(AcceptsEncoding("gzip;q=1.0, zstd;q=0", "zstd"));
  EXPECT_FALSE(AcceptsEncoding("zstd; q=0.000", "zstd"));
  EXPECT_TRUE(AcceptsEncoding("zstd;q=0.001", "zstd"));
  EXPECT_FALSE(AcceptsEncoding("xzstd, zstdx", "zstd"));
  EXPECT_FALSE(AcceptsEncoding("", "gzip"));
  EXPECT_FALSE(AcceptsEncoding("identity", "gzip"));
}

}  // namespace
}  // namespace tianye::http
