// HttpCall over TLS against a local TLS server whose certificates this test generates with the
// openssl command line tool; HTTP Basic header encoding.
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <catch2/catch.hpp>

#include "connectors/http/http_client.h"

namespace ennakko {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

// A temporary directory with self-signed certificates: "trusted" (SAN IP:127.0.0.1 and
// DNS:localhost), "other" (the same names, but nobody trusts it) and "wrongname" (trusted chain
// only if used as its own CA, named for another host).
struct Certificates {
  fs::path dir;
  Certificates() {
    std::random_device rd;
    dir = fs::temp_directory_path() / ("ennakko-tls-" + std::to_string(rd()));
    fs::create_directories(dir);
    Make("trusted", "subjectAltName=IP:127.0.0.1,DNS:localhost");
    Make("other", "subjectAltName=IP:127.0.0.1,DNS:localhost");
    Make("wrongname", "subjectAltName=DNS:elsewhere.example");
  }
  ~Certificates() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  void Make(const std::string& name, const std::string& san) {
    std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                      "-days 2 -subj /CN=ennakko-test -addext '" + san + "' -keyout '" +
                      Key(name) + "' -out '" + Cert(name) + "' >/dev/null 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);
  }
  std::string Key(const std::string& name) const { return (dir / (name + ".key")).string(); }
  std::string Cert(const std::string& name) const { return (dir / (name + ".pem")).string(); }
};

// Serves HTTPS on 127.0.0.1 with one certificate, one connection at a time, answering every
// request with 200 and a body naming the request's path and Authorization header.
class TlsServer {
 public:
  TlsServer(const Certificates& certs, const std::string& name)
      : ctx_(ssl::context::tls_server), acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    ctx_.use_certificate_chain_file(certs.Cert(name));
    ctx_.use_private_key_file(certs.Key(name), ssl::context::pem);
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { Run(); });
  }
  ~TlsServer() {
    stop_ = true;
    try {  // wake the blocking accept
      asio::io_context ioc;
      tcp::socket s(ioc);
      s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    } catch (...) {
    }
    thread_.join();
  }
  uint16_t port() const { return port_; }
  int handshakes_failed() const { return failed_.load(); }

 private:
  void Run() {
    while (!stop_) {
      beast::error_code ec;
      tcp::socket socket(ioc_);
      acceptor_.accept(socket, ec);
      if (ec || stop_) continue;
      beast::ssl_stream<tcp::socket> stream(std::move(socket), ctx_);
      stream.handshake(ssl::stream_base::server, ec);
      if (ec) {
        ++failed_;
        continue;
      }
      beast::flat_buffer buffer;
      http::request<http::string_body> req;
      http::read(stream, buffer, req, ec);
      if (ec) continue;
      http::response<http::string_body> res{http::status::ok, req.version()};
      res.set(http::field::content_type, "text/plain");
      res.body() = std::string(req.target()) + " " + std::string(req[http::field::authorization]);
      res.keep_alive(false);
      res.prepare_payload();
      http::write(stream, res, ec);
      stream.shutdown(ec);
    }
  }

  asio::io_context ioc_;
  ssl::context ctx_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> failed_{0};
  std::thread thread_;
};

std::string Url(const std::string& host, uint16_t port, const std::string& path) {
  return "https://" + host + ":" + std::to_string(port) + path;
}

}  // namespace

TEST_CASE("BasicAuthorization encodes user:password in base64 (RFC 7617 example)") {
  CHECK(BasicAuthorization("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  CHECK(BasicAuthorization("a", "") == "Basic YTo=");
  CHECK(BasicAuthorization("test", "ä:x") == "Basic dGVzdDrDpDp4");
}

TEST_CASE("HttpCall speaks https and verifies the peer") {
  Certificates certs;
  TlsServer server(certs, "trusted");
  HttpCallOptions trusting{.timeout = 5s, .ca_file = certs.Cert("trusted")};

  SECTION("a certificate from the configured CA file is accepted, by IP and by name") {
    auto r = HttpCall("GET", Url("127.0.0.1", server.port(), "/hello?x=1"), "",
                      {{"Authorization", BasicAuthorization("u", "p")}}, trusting);
    REQUIRE(r.ok());
    CHECK(r->status == 200);
    CHECK(r->body == "/hello?x=1 Basic dTpw");
    auto by_name = HttpCall("POST", Url("localhost", server.port(), "/p"), "{}", {}, trusting);
    REQUIRE(by_name.ok());
    CHECK(by_name->body == "/p ");
  }
  SECTION("an untrusted certificate fails verification as a value, and nothing is sent") {
    HttpCallOptions other{.timeout = 5s, .ca_file = certs.Cert("other")};
    auto r = HttpCall("GET", Url("127.0.0.1", server.port(), "/x"), "", {}, other);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kUnavailable);
    CHECK(r.status().message().find("certificate verify failed") != std::string::npos);
  }
  SECTION("the system CA store does not trust a self-signed test certificate") {
    auto r = HttpCall("GET", Url("127.0.0.1", server.port(), "/x"), "", {},
                      HttpCallOptions{.timeout = 5s});
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kUnavailable);
  }
  SECTION("verification can be turned off (tests only)") {
    auto r = HttpCall("GET", Url("127.0.0.1", server.port(), "/x"), "", {},
                      HttpCallOptions{.timeout = 5s, .verify_peer = false});
    REQUIRE(r.ok());
    CHECK(r->status == 200);
  }
  SECTION("a missing CA file is a clear error") {
    auto r = HttpCall("GET", Url("127.0.0.1", server.port(), "/x"), "", {},
                      HttpCallOptions{.timeout = 5s, .ca_file = (certs.dir / "none.pem").string()});
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("CA") != std::string::npos);
  }
}

TEST_CASE("HttpCall checks the certificate's name, not just its chain") {
  Certificates certs;
  TlsServer server(certs, "wrongname");
  auto r = HttpCall("GET", Url("127.0.0.1", server.port(), "/x"), "", {},
                    HttpCallOptions{.timeout = 5s, .ca_file = certs.Cert("wrongname")});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kUnavailable);
}

TEST_CASE("HttpCall refuses other schemes") {
  CHECK(HttpCall("GET", "ftp://127.0.0.1/", "", {}, 1s).status().code() ==
        StatusCode::kInvalidArgument);
}


TEST_CASE("HttpCall's hand-over hook runs before the last byte, and refusing it leaves no request") {
  // A plain HTTP server that counts the requests it parsed completely.
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  asio::io_context ioc;
  asio::ip::tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  const int port = acceptor.local_endpoint().port();
  std::atomic<int> complete{0};
  std::thread server([&] {
    for (int i = 0; i < 2; ++i) {
      asio::ip::tcp::socket socket(ioc);
      acceptor.accept(socket);
      boost::beast::flat_buffer buffer;
      http::request<http::string_body> req;
      boost::beast::error_code ec;
      http::read(socket, buffer, req, ec);
      if (ec) continue;  // the client gave up before the end: nothing to act on
      ++complete;
      http::response<http::string_body> res{http::status::accepted, req.version()};
      res.body() = "0: Accepted for delivery";
      res.prepare_payload();
      http::write(socket, res, ec);
    }
  });
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/cgi-bin/sendsms?to=x";

  HttpCallOptions refuse;
  bool written = true;
  refuse.request_written = &written;
  refuse.before_last_byte = [] { return false; };
  auto refused = HttpCall("GET", url, "", {}, refuse);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == StatusCode::kCancelled);
  CHECK_FALSE(written);

  HttpCallOptions hand_over;
  int calls = 0;
  hand_over.request_written = &written;
  hand_over.before_last_byte = [&] {
    ++calls;
    return complete.load() == 0;  // nothing complete has reached the server yet
  };
  auto sent = HttpCall("GET", url, "", {}, hand_over);
  REQUIRE(sent.ok());
  CHECK(sent->status == 202);
  CHECK(calls == 1);
  CHECK(written);
  server.join();
  CHECK(complete == 1);  // only the request whose hand-over was allowed
}

}  // namespace ennakko
