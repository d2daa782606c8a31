#include "engine/api/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "connectors/http/http_client.h"

namespace ennakko {
namespace {

using namespace std::chrono_literals;

std::string Url(const HttpServer& server, const std::string& target) {
  return "http://127.0.0.1:" + std::to_string(server.port()) + target;
}

Result<HttpClientResult> Get(const HttpServer& server, const std::string& target,
                             std::map<std::string, std::string> headers = {}) {
  return HttpCall("GET", Url(server, target), "", headers, 5s);
}

// A raw loopback connection, for what the blocking client cannot do (keep-alive, idle sockets).
class RawConnection {
 public:
  explicit RawConnection(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("connect failed");
    }
  }
  ~RawConnection() { ::close(fd_); }
  void Send(const std::string& data) {
    REQUIRE(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == ssize_t(data.size()));
  }
  // Reads until `marker` has been seen `count` times, or EOF / timeout.
  std::string ReadUntil(const std::string& marker, int count) {
    std::string got;
    char buf[4096];
    for (;;) {
      int seen = 0;
      for (size_t pos = got.find(marker); pos != std::string::npos;
           pos = got.find(marker, pos + 1)) {
        ++seen;
      }
      if (seen >= count) return got;
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return got;
      got.append(buf, size_t(n));
    }
  }
  bool ClosedByPeer() {
    char c;
    return ::recv(fd_, &c, 1, 0) == 0;
  }

 private:
  int fd_ = -1;
};

HttpServerOptions Options(std::string token = "") {
  HttpServerOptions o;
  o.bearer_token = std::move(token);
  return o;
}

void AddEcho(HttpServer& server) {
  server.AddRoute("GET", "/health", [](const HttpRequest&) { return HttpResponse{200, "text/plain", "ok\n"}; }, false);
  server.AddRoute("GET", "/echo", [](const HttpRequest& req) {
    std::string out;
    for (const auto& [k, v] : req.query) out += k + "=" + v + "\n";
    return HttpResponse{200, "text/plain; charset=utf-8", out};
  }, false);
  server.AddRoute("POST", "/echo", [](const HttpRequest& req) {
    return HttpResponse{201, "application/json", req.body};
  }, false);
  server.AddRoute("GET", "/secret", [](const HttpRequest&) { return HttpResponse{200, "text/plain", "secret\n"}; }, true);
  server.AddRoute("GET", "/throws", [](const HttpRequest&) -> HttpResponse {
    throw std::runtime_error("hetu 010101-900X leaked?");
  }, false);
}

TEST_CASE("HttpServer routes, statuses and query decoding") {
  HttpServer server(Options("s3cret-token"));
  AddEcho(server);
  REQUIRE(server.Start().ok());
  REQUIRE(server.port() != 0);

  SECTION("GET a route") {
    auto r = Get(server, "/health");
    REQUIRE(r.ok());
    CHECK(r->status == 200);
    CHECK(r->body == "ok\n");
    CHECK(r->headers.at("content-type") == "text/plain");
  }
  SECTION("POST body round trip") {
    auto r = HttpCall("POST", Url(server, "/echo"), R"({"a":1})", {{"Content-Type", "application/json"}}, 5s);
    REQUIRE(r.ok());
    CHECK(r->status == 201);
    CHECK(r->body == R"({"a":1})");
  }
  SECTION("unknown path is 404, wrong method is 405 with Allow") {
    auto r = Get(server, "/nope");
    REQUIRE(r.ok());
    CHECK(r->status == 404);
    auto m = HttpCall("DELETE", Url(server, "/echo"), "", {}, 5s);
    REQUIRE(m.ok());
    CHECK(m->status == 405);
    CHECK(m->headers.at("allow") == "GET, POST");
  }
  SECTION("token required") {
    auto none = Get(server, "/secret");
    REQUIRE(none.ok());
    CHECK(none->status == 401);
    CHECK(none->headers.count("www-authenticate") == 1);
    auto wrong = Get(server, "/secret", {{"Authorization", "Bearer s3cret-tokeN"}});
    REQUIRE(wrong.ok());
    CHECK(wrong->status == 401);
    auto basic = Get(server, "/secret", {{"Authorization", "Basic s3cret-token"}});
    REQUIRE(basic.ok());
    CHECK(basic->status == 401);
    auto good = Get(server, "/secret", {{"Authorization", "Bearer s3cret-token"}});
    REQUIRE(good.ok());
    CHECK(good->status == 200);
    CHECK(good->body == "secret\n");
  }
  SECTION("query decoding: percent, plus, UTF-8, first value wins") {
    auto r = Get(server, "/echo?to=%2B358401234567&text=Hei+%C3%A4iti%21&x=1&x=2&flag");
    REQUIRE(r.ok());
    CHECK(r->status == 200);
    CHECK(r->body == "flag=\ntext=Hei äiti!\nto=+358401234567\nx=1\n");
  }
  SECTION("a throwing handler is a 500 without details") {
    auto r = Get(server, "/throws");
    REQUIRE(r.ok());
    CHECK(r->status == 500);
    CHECK(r->body.find("hetu") == std::string::npos);
  }
  SECTION("keep-alive: two requests on one connection") {
    RawConnection c(server.port());
    c.Send("GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /echo?a=b HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string got = c.ReadUntil("HTTP/1.1 200", 2);
    CHECK(got.find("ok\n") != std::string::npos);
    CHECK(got.find("a=b\n") != std::string::npos);
  }
  SECTION("malformed request is 400 and the connection closes") {
    RawConnection c(server.port());
    c.Send("THIS IS NOT HTTP\r\n\r\n");
    CHECK(c.ReadUntil("HTTP/1.1 400", 1).find("HTTP/1.1 400") != std::string::npos);
  }

  auto start = std::chrono::steady_clock::now();
  server.Stop();
  CHECK(std::chrono::steady_clock::now() - start < 1s);
}

TEST_CASE("HttpServer without a configured token answers 403 on protected routes") {
  HttpServer server(Options(""));
  AddEcho(server);
  REQUIRE(server.Start().ok());
  auto r = Get(server, "/secret", {{"Authorization", "Bearer "}});
  REQUIRE(r.ok());
  CHECK(r->status == 403);
  CHECK(r->body == "no API token configured\n");
  auto open = Get(server, "/health");
  REQUIRE(open.ok());
  CHECK(open->status == 200);
}

TEST_CASE("HttpServer rejects a body over the limit with 413") {
  HttpServerOptions o;
  o.max_body_bytes = 16;
  HttpServer server(o);
  AddEcho(server);
  REQUIRE(server.Start().ok());
  auto r = HttpCall("POST", Url(server, "/echo"), std::string(15, 'x'), {}, 5s);
  REQUIRE(r.ok());
  CHECK(r->status == 201);
  auto big = HttpCall("POST", Url(server, "/echo"), std::string(100, 'x'), {}, 5s);
  REQUIRE(big.ok());
  CHECK(big->status == 413);
}

TEST_CASE("HttpServer Stop closes idle keep-alive connections at once and drains in-flight ones") {
  HttpServer server(HttpServerOptions{});
  std::atomic<bool> entered{false};
  server.AddRoute("GET", "/health", [](const HttpRequest&) { return HttpResponse{200, "text/plain", "ok\n"}; }, false);
  server.AddRoute("GET", "/slow", [&](const HttpRequest&) {
    entered = true;
    std::this_thread::sleep_for(300ms);
    return HttpResponse{200, "text/plain", "done\n"};
  }, false);
  REQUIRE(server.Start().ok());
  const uint16_t port = server.port();

  RawConnection idle(port);
  idle.Send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(idle.ReadUntil("ok\n", 1).find("ok\n") != std::string::npos);

  RawConnection busy(port);
  busy.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  while (!entered) std::this_thread::sleep_for(5ms);

  auto start = std::chrono::steady_clock::now();
  server.Stop(2s);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(took < 1500ms);
  std::string reply = busy.ReadUntil("done\n", 1);
  CHECK(reply.find("HTTP/1.1 200") != std::string::npos);
  CHECK(reply.find("done\n") != std::string::npos);
  CHECK(idle.ClosedByPeer());

  auto after = HttpCall("GET", "http://127.0.0.1:" + std::to_string(port) + "/health", "", {}, 1s);
  REQUIRE_FALSE(after.ok());
  CHECK(after.status().code() == StatusCode::kUnavailable);
}

TEST_CASE("HttpServer closes the connection after a response that asks for it, whatever the client asked") {
  HttpServer server(HttpServerOptions{});
  server.AddRoute("GET", "/callback", [](const HttpRequest&) {
    HttpResponse r{204, "text/plain", ""};
    r.close_connection = true;
    return r;
  }, false);
  server.AddRoute("GET", "/health", [](const HttpRequest&) { return HttpResponse{200, "text/plain", "ok\n"}; }, false);
  REQUIRE(server.Start().ok());
  RawConnection kept(server.port());
  kept.Send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
  REQUIRE(kept.ReadUntil("ok\n", 1).find("ok\n") != std::string::npos);
  kept.Send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");  // still open: served again
  CHECK(kept.ReadUntil("ok\n", 1).find("ok\n") != std::string::npos);
  RawConnection closed(server.port());
  closed.Send("GET /callback HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
  std::string reply = closed.ReadUntil("\r\n\r\n", 1);
  CHECK(reply.find("HTTP/1.1 204") != std::string::npos);
  CHECK(reply.find("Connection: close") != std::string::npos);
  CHECK(closed.ClosedByPeer());
  server.Stop(1s);
}

TEST_CASE("HttpServer with several I/O threads serves concurrent clients") {
  HttpServerOptions o;
  o.threads = 2;
  HttpServer server(o);
  std::atomic<int> handled{0};
  server.AddRoute("GET", "/count", [&](const HttpRequest& req) {
    ++handled;
    return HttpResponse{200, "text/plain", req.query.at("i")};
  }, false);
  REQUIRE(server.Start().ok());
  std::atomic<int> good{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        const std::string id = std::to_string(t * 100 + i);
        auto r = Get(server, "/count?i=" + id);
        if (r.ok() && r->status == 200 && r->body == id) ++good;
      }
    });
  }
  for (auto& c : clients) c.join();
  CHECK(good == 40);
  CHECK(handled == 40);
}

TEST_CASE("HttpServer Start reports a port already in use") {
  HttpServer first(HttpServerOptions{});
  REQUIRE(first.Start().ok());
  HttpServerOptions o;
  o.port = first.port();
  HttpServer second(o);
  Status st = second.Start();
  CHECK(st.code() == StatusCode::kUnavailable);
  HttpServerOptions bad;
  bad.address = "not an address";
  CHECK(HttpServer(bad).Start().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("HttpCall reports bad URLs and refused connections as values") {
  CHECK(HttpCall("GET", "ftp://127.0.0.1/", "", {}, 1s).status().code() == StatusCode::kInvalidArgument);
  CHECK(HttpCall("GET", "not a url", "", {}, 1s).status().code() == StatusCode::kInvalidArgument);
  uint16_t port;
  {
    HttpServer s(HttpServerOptions{});
    REQUIRE(s.Start().ok());
    port = s.port();
  }
  auto r = HttpCall("GET", "http://127.0.0.1:" + std::to_string(port) + "/x?to=%2B358401234567", "", {}, 1s);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kUnavailable);
  // No query in messages (the port may contain any digits, so look for the number itself).
  CHECK(r.status().message().find("401234567") == std::string::npos);
  CHECK(r.status().message().find("to=") == std::string::npos);
}

TEST_CASE("HttpServer prefix routes and the test doubles' delivery faults") {
  HttpServer server(HttpServerOptions{});
  server.AddRoute("GET", "/api/v1/kirjausavain/*", [](const HttpRequest& r) {
    return HttpResponse{200, "text/plain", r.path};
  }, false);
  server.AddRoute("GET", "/api/v1/kirjausavain/fixed", [](const HttpRequest&) {
    return HttpResponse{200, "text/plain", "exact"};
  }, false);
  server.AddRoute("GET", "/drop", [](const HttpRequest&) {
    HttpResponse r{200, "text/plain", "never seen"};
    r.delivery = HttpResponse::Delivery::kDrop;
    return r;
  }, false);
  server.AddRoute("GET", "/truncate", [](const HttpRequest&) {
    HttpResponse r{200, "application/json", R"({"viimeisinKirjausavain": 12345})"};
    r.delivery = HttpResponse::Delivery::kTruncate;
    return r;
  }, false);
  REQUIRE(server.Start().ok());
  auto p = Get(server, "/api/v1/kirjausavain/2024-01-31");
  REQUIRE(p.ok());
  CHECK(p->body == "/api/v1/kirjausavain/2024-01-31");
  CHECK(Get(server, "/api/v1/kirjausavain/fixed")->body == "exact");
  CHECK(Get(server, "/api/v1/kirjausavain/")->status == 404);  // the prefix alone is not under it
  CHECK(Get(server, "/api/v1/kirjausavainX")->status == 404);
  auto dropped = Get(server, "/drop");
  REQUIRE_FALSE(dropped.ok());
  CHECK(dropped.status().code() == StatusCode::kUnavailable);
  auto truncated = Get(server, "/truncate");
  REQUIRE_FALSE(truncated.ok());
  CHECK(truncated.status().code() == StatusCode::kUnavailable);
  CHECK(Get(server, "/api/v1/kirjausavain/x")->status == 200);  // the server is still serving
}

TEST_CASE("HttpCall times out on a server that never answers") {
  HttpServer server(HttpServerOptions{});
  server.AddRoute("GET", "/stall", [](const HttpRequest&) {
    std::this_thread::sleep_for(700ms);
    return HttpResponse{};
  }, false);
  REQUIRE(server.Start().ok());
  auto start = std::chrono::steady_clock::now();
  auto r = HttpCall("GET", Url(server, "/stall"), "", {}, 200ms);
  CHECK(std::chrono::steady_clock::now() - start < 600ms);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kUnavailable);
  CHECK(r.status().message().find("timed out") != std::string::npos);
}

}  // namespace
}  // namespace ennakko
