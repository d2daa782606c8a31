// An embedded HTTP/1.1 server for the daemon's API (health, metrics, responses, explanations) and
// for test fakes of the gateways we call.
//
// Routes are exact (method, path) pairs registered before Start(), except that a path ending in
// "/*" matches every path under it (the longest such prefix wins; an exact route wins over any
// prefix; the handler reads HttpRequest::path); the server answers 404 for an
// unknown path, 405 (with Allow) for a known path with another method, 401 (with
// WWW-Authenticate) when a route that requires the token gets no or a wrong
// "Authorization: Bearer <token>" (compared in constant time), 403 when such a route is called
// but no token is configured, 400 for a malformed request, 413 for a body over max_body_bytes, and
// 500 without details when a handler throws. Keep-alive is supported; every read and write is
// bounded by io_timeout, so an idle or stalled connection is closed.
//
// Logging: method, path and status only. Bodies and query strings are never logged; they may hold
// phone numbers or identity codes.
//
// Threading: the server runs its own io_context on `threads` threads. Each connection has its own
// strand, so one handler call runs at a time per connection, but handlers of different
// connections may run concurrently: handlers must be thread-safe and should be quick (they run on
// an I/O thread). Stop() drains gracefully: it stops accepting, closes idle keep-alive
// connections, lets requests already being read or handled finish until the deadline, then closes
// what is left and joins the threads (a handler that never returns would block that join).
// AddRoute, Start and Stop are called from one owner thread, never from a handler. Boost.Beast
// stays inside http_server.cc (pimpl).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "engine/base/status.h"

namespace ennakko {

struct HttpServerOptions {
  // The address to listen on. Loopback by default: the API is put behind a proxy to be exposed.
  std::string address = "127.0.0.1";
  // The TCP port; 0 picks a free port (read it back with HttpServer::port()).
  uint16_t port = 0;
  // The bearer token required by routes registered with requires_token. Empty: those routes
  // answer 403.
  std::string bearer_token;
  // The number of I/O threads running handlers (at least 1).
  int threads = 1;
  // The limit for each read of a request and each write of a response, and the idle limit of a
  // keep-alive connection.
  std::chrono::seconds io_timeout{10};
  // The largest request body accepted; larger ones get 413.
  size_t max_body_bytes = 1 << 20;
};

struct HttpRequest {
  std::string method;                          // "GET", "POST", ...
  std::string path;                            // percent-decoded, without the query
  std::map<std::string, std::string> query;    // decoded ('+' is a space); first value of a key wins
  std::map<std::string, std::string> headers;  // lower-case names; repeated headers joined ", "
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Extra response headers (e.g. Retry-After, Location). Server and Content-Type are set by the
  // server; a header named here replaces the server's own.
  std::map<std::string, std::string> headers = {};
  // For test doubles of flaky services only: kDrop closes the connection without answering;
  // kTruncate sends the status line and headers (with the full Content-Length) and the first half
  // of the body, then closes. The API's own handlers always use kNormal.
  enum class Delivery { kNormal, kDrop, kTruncate };
  Delivery delivery = Delivery::kNormal;
  // Answer with "Connection: close" and close, whatever the client asked for. For callers that must
  // not keep a connection to us: Kannel 1.4.5's smsbox aborts (conn_unregister assertion) when it
  // writes to a kept-alive connection that a restart of the daemon has reset.
  bool close_connection = false;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();  // Stop()s with the default deadline
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // REQUIRES: before Start(). A later call is ignored (and logged). Registering the same method
  // and path twice keeps the last handler.
  void AddRoute(std::string method, std::string path, Handler handler, bool requires_token);
  // Binds, listens and starts the I/O threads. Unavailable when the address cannot be bound,
  // InvalidArgument for an unparsable address, FailedPrecondition when already started.
  Status Start();
  // The bound port once Start() succeeded (the chosen one when options.port was 0), else 0.
  uint16_t port() const;
  // Graceful shutdown (see the header comment). Idempotent; a no-op before Start().
  void Stop(std::chrono::milliseconds deadline = std::chrono::seconds(5));

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ennakko
