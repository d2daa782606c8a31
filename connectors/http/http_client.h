// A small blocking HTTP/1.1 client for connectors (Kannel's sendsms, test fakes, later REST APIs).
//
// HttpCall opens one connection per call (no pooling, "Connection: close"), sends one request and
// reads the whole response. The whole call — resolve, connect, write, read — is bounded by
// `timeout`. Only plain http:// is supported for now; TLS (https://) is a later issue and is
// refused with InvalidArgument rather than silently sent in clear text.
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
#include <map>
#include <string>

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

}  // namespace ennakko
