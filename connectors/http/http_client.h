// A small blocking HTTP/1.1 client for connectors (Kannel's sendsms, test fakes, later REST APIs).
//
// HttpCall opens one connection per call (no pooling, "Connection: close"), sends one request and
// reads the whole response. The whole call — resolve, connect, write, read — is bounded by
// `timeout`. http:// and https:// are supported. For https the client sends SNI (for host names)
// and verifies the peer by default: the certificate chain against the system CA store (or
// HttpCallOptions::ca_file) and the host name (or IP address) against the certificate. A failed
// verification is Unavailable with "certificate verify failed" in the message (an operator fixes
// the CA file; the scheduler's retries are harmless).
//
// Errors are values: a bad URL or method is InvalidArgument; a failure to resolve or connect, a
// reset or a timeout is Unavailable (the caller may retry); any HTTP status, including 4xx and
// 5xx, is a successful call whose result carries that status. URLs often carry personal data or
// secrets in their query (phone numbers, passwords), so neither this client nor its Status
// messages ever contain the query string or the body: messages name only host, port and path.
//
// Thread-safety: HttpCall is reentrant; each call uses its own io_context and socket.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "engine/base/status.h"

namespace ennakko {

struct HttpClientResult {
  int status = 0;    // the HTTP status code, e.g. 202
  std::string body;  // the whole response body (limited to 8 MiB)
  std::map<std::string, std::string> headers;  // lower-case names; repeated headers joined ", "
};

// `method` is an HTTP method name ("GET", "POST", ...). `url` is absolute:
// http://host[:port]/path[?query], query already percent-encoded (build it with Boost.URL).
// `headers` are added to the request and override the defaults (Host, User-Agent, Content-Type
// is not set by default). A non-empty body is sent with its Content-Length.
Result<HttpClientResult> HttpCall(const std::string& method, const std::string& url,
                                  const std::string& body,
                                  const std::map<std::string, std::string>& headers,
                                  std::chrono::milliseconds timeout);

struct HttpCallOptions {
  // Bounds the whole call: resolve, connect, TLS handshake, write, read.
  std::chrono::milliseconds timeout{10000};
  // https: a PEM file of trusted CA certificates. Empty: the system CA store.
  std::string ca_file = {};
  // https: verify the peer's certificate chain and name. Turn off only in tests.
  bool verify_peer = true;
  // Called once, right before the last byte of the request is written: the moment from which the
  // server can act on it. Returning false aborts the call before that byte, so the server never
  // gets a complete request (the call then fails with Cancelled). A sender that cannot later ask
  // the server whether a request arrived uses this to record durably that it is handing it over.
  std::function<bool()> before_last_byte = {};
  // When set, receives whether the whole request was written. An error after that is ambiguous:
  // the server may have acted on the request even though no answer was read.
  bool* request_written = nullptr;
};

// The same call with TLS options.
Result<HttpClientResult> HttpCall(const std::string& method, const std::string& url,
                                  const std::string& body,
                                  const std::map<std::string, std::string>& headers,
                                  const HttpCallOptions& options);

// The value of an "Authorization" header for HTTP Basic (RFC 7617): "Basic base64(user:password)".
// The result is a secret: never log it.
std::string BasicAuthorization(std::string_view username, std::string_view password);

}  // namespace ennakko
