// Fuzz target: the sync server's request handler, without sockets. The input
// is split into method, path, a header line and a body; half the requests
// carry a valid token, so the authenticated routes (push, pull, review,
// uploads) see the bytes too. The store is a real (unencrypted) store file
// with forms, a user and a token, made once per process.
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "app.h"
#include "store_impl.h"
#include "tianye/accounts.h"
#include "tianye/form_store.h"

namespace {

struct World {
  std::unique_ptr<tianye::server::ServerApp> app;
  std::string token;
};

World& TheWorld() {
  static World* w = [] {
    auto* world = new World;
    std::string dir = std::filesystem::temp_directory_path() / ("tianye-server-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    static std::string to_remove = dir;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(to_remove, ec);
    });
    tianye::StoreOptions o;
    o.path = dir + "/s.db";
    auto store = tianye::internal::OpenUnencryptedForBenchmark(o);
    if (!store) std::abort();
    (void)tianye::internal::StoreAccess::Conn(**store).Exec("PRAGMA synchronous = OFF");
    tianye::FormStore forms(store->get());
    (void)forms.Install(R"({"settings": {"form_id": "t", "version": "1"}, "survey": [{"type": "text", "name": "a"}]})", {});
    tianye::Accounts accounts(store->get());
    (void)accounts.Add({"fuzz", "", "admin", {"*"}, false}, "fuzz-password");
    auto login = accounts.Login("fuzz", "fuzz-password", "fuzz-device");
    if (!login) std::abort();
    world->token = login->token;
    world->app = std::make_unique<tianye::server::ServerApp>(std::move(*store));
    return world;
  }();
  return *w;
}

std::string Take(std::string_view& in) {
  size_t nl = in.find('\n');
  std::string out(in.substr(0, nl));
  in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = TheWorld();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  tianye::http::Request r;
  r.method = Take(in);
  r.target = Take(in);
  std::string header = Take(in);
  r.body = std::string(in);
  if (tianye::http::ParseTarget(r.target, &r.path, &r.query).ok() == false) return 0;
  size_t colon = header.find(':');
  if (colon != std::string::npos) r.headers[header.substr(0, colon)] = header.substr(colon + 1);
  if (size % 2 == 0) r.headers["authorization"] = "Bearer " + w.token;
  tianye::http::Response res = w.app->Handle(r);
  if (res.remove_body_file && !res.body_file.empty()) std::remove(res.body_file.c_str());  // an export
  if (res.status < 200 || res.status > 599) std::abort();
  if (res.status >= 500 && res.status != 503) std::abort();  // a 500 is a bug in us
  return 0;
}
