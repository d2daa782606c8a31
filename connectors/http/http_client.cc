#include "connectors/http/http_client.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <optional>
#include <sstream>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

namespace ennakko {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxResponseBodyBytes = 8u << 20;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The parts of a URL we need, plus a loggable "host:port/path" without the query.
struct Target {
  std::string host;
  std::string port;
  std::string host_header;
  std::string request_target;  // path?query, as sent on the request line
  std::string loggable;        // host:port/path: no query, no credentials
  bool tls = false;            // https
};

Result<Target> ParseTarget(const std::string& url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return Status::Invalid("unparsable URL");
  const boost::urls::url_view& u = *parsed;
  const std::string scheme = Lower(u.scheme());
  if (scheme != "http" && scheme != "https") {
    return Status::Invalid("only http:// and https:// URLs are supported");
  }
  if (u.has_userinfo()) return Status::Invalid("credentials in the URL are not supported");
  Target t;
  t.host = u.host_address();
  if (t.host.empty()) return Status::Invalid("URL has no host");
  t.tls = scheme == "https";
  t.port = u.has_port() ? std::string(u.port()) : (t.tls ? "443" : "80");
  t.host_header = std::string(u.encoded_host_and_port());
  t.request_target = std::string(u.encoded_target());
  if (t.request_target.empty() || t.request_target[0] != '/') {
    t.request_target.insert(0, "/");
  }
  t.loggable = t.host + ":" + t.port + std::string(u.encoded_path());
  return t;
}

// Runs `ioc` until the pending operation's handler has set `done`, or until the deadline passes.
// On a deadline, `cancel` aborts the operation and the handler is drained so that nothing
// outlives this call. tcp_stream operations carry their own expiry; this guards the resolver.
template <typename Cancel>
bool RunUntil(asio::io_context& ioc, const bool& done, Clock::time_point deadline,
              Cancel cancel) {
  ioc.restart();
  ioc.run_until(deadline);  // returns early once the handler has run and no work is left
  if (done) return true;
  cancel();
  ioc.restart();
  ioc.run();
  return false;
}

Status IoError(const char* step, const Target& t, const beast::error_code& ec) {
  if (ec == beast::error::timeout) {
    return Status::Unavailable(std::string(step) + " " + t.loggable + ": timed out");
  }
  return Status::Unavailable(std::string(step) + " " + t.loggable + ": " + ec.message());
}

// Runs one asynchronous step on `ioc` until its handler has run; the stream's expiry (set by the
// caller) bounds it. `ec` receives the step's error.
template <typename Start>
Status RunStep(asio::io_context& ioc, const Target& t, const char* step, beast::error_code& ec,
               Start start) {
  bool done = false;
  start(done);
  ioc.restart();
  ioc.run();
  if (!done) return Status::Internal(std::string(step) + ": operation did not complete");
  if (ec) return IoError(step, t, ec);
  return Status::Ok();
}

// Writes the request and reads the response over a connected (and, for TLS, handshaken) stream.
template <typename Stream>
Result<HttpClientResult> Exchange(asio::io_context& ioc, Stream& stream, const Target& t,
                                  http::request<http::string_body>& req,
                                  Clock::time_point deadline, const HttpCallOptions& options) {
  beast::error_code ec;
  beast::get_lowest_layer(stream).expires_at(deadline);
  if (!options.before_last_byte) {
    ENNAKKO_RETURN_IF_ERROR(RunStep(ioc, t, "write", ec, [&](bool& done) {
      http::async_write(stream, req, [&](const beast::error_code& e, size_t) {
        ec = e;
        done = true;
      });
    }));
  } else {
    // Everything but the last byte, then the hook, then the last byte: a server acts on a request
    // only once it is complete, so until that byte leaves, the request can still be abandoned.
    std::ostringstream serialized;
    serialized << req;
    const std::string wire = std::move(serialized).str();
    auto write = [&](std::string_view part) {
      return RunStep(ioc, t, "write", ec, [&](bool& done) {
        asio::async_write(stream, asio::buffer(part.data(), part.size()),
                          [&](const beast::error_code& e, size_t) {
                            ec = e;
                            done = true;
                          });
      });
    };
    ENNAKKO_RETURN_IF_ERROR(write(std::string_view(wire).substr(0, wire.size() - 1)));
    if (!options.before_last_byte()) {
      return Status::Cancelled("request to " + t.loggable + " abandoned before its last byte");
    }
    ENNAKKO_RETURN_IF_ERROR(write(std::string_view(wire).substr(wire.size() - 1)));
  }
  if (options.request_written) *options.request_written = true;

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBodyBytes);
  beast::get_lowest_layer(stream).expires_at(deadline);
  ENNAKKO_RETURN_IF_ERROR(RunStep(ioc, t, "read", ec, [&](bool& done) {
    http::async_read(stream, buffer, parser, [&](const beast::error_code& e, size_t) {
      ec = e;
      done = true;
    });
  }));

  const auto& res = parser.get();
  HttpClientResult out;
  out.status = static_cast<int>(res.result_int());
  out.body = res.body();
  for (const auto& field : res) {
    std::string name = Lower(field.name_string());
    auto [it, inserted] = out.headers.emplace(name, std::string(field.value()));
    if (!inserted) {
      it->second += ", ";
      it->second += field.value();
    }
  }
  return out;
}

Status TlsSetupError(const char* what, const Target& t, const beast::error_code& ec) {
  return Status::Unavailable(std::string("tls ") + what + " " + t.loggable + ": " + ec.message());
}

Result<HttpClientResult> Call(const std::string& method, const std::string& url,
                              const std::string& body,
                              const std::map<std::string, std::string>& headers,
                              const HttpCallOptions& options) {
  const Clock::time_point deadline = Clock::now() + options.timeout;
  if (options.request_written) *options.request_written = false;
  auto target = ParseTarget(url);
  if (!target.ok()) return target.status();
  const Target& t = *target;

  http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) return Status::Invalid("unknown HTTP method");

  asio::io_context ioc;
  beast::error_code ec;

  // Resolve (numeric hosts resolve without a lookup).
  tcp::resolver resolver(ioc);
  tcp::resolver::results_type endpoints;
  bool resolved = false;
  resolver.async_resolve(t.host, t.port,
                         [&](const beast::error_code& e, tcp::resolver::results_type r) {
                           ec = e;
                           endpoints = std::move(r);
                           resolved = true;
                         });
  if (!RunUntil(ioc, resolved, deadline, [&] { resolver.cancel(); })) {
    return Status::Unavailable("resolve " + t.loggable + ": timed out");
  }
  if (ec) return IoError("resolve", t, ec);

  http::request<http::string_body> req{verb, t.request_target, 11};
  req.set(http::field::host, t.host_header);
  req.set(http::field::user_agent, "ennakko/" ENNAKKO_VERSION);
  req.keep_alive(false);
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  if (!body.empty() || verb == http::verb::post || verb == http::verb::put) req.prepare_payload();

  auto connect = [&](beast::tcp_stream& tcp_stream) {
    tcp_stream.expires_at(deadline);
    return RunStep(ioc, t, "connect", ec, [&](bool& done) {
      tcp_stream.async_connect(endpoints, [&](const beast::error_code& e, const tcp::endpoint&) {
        ec = e;
        done = true;
      });
    });
  };

  if (!t.tls) {
    beast::tcp_stream stream(ioc);
    ENNAKKO_RETURN_IF_ERROR(connect(stream));
    auto out = Exchange(ioc, stream, t, req, deadline, options);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    return out;
  }

  ssl::context ctx(ssl::context::tls_client);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  if (options.verify_peer) {
    if (options.ca_file.empty()) {
      ctx.set_default_verify_paths(ec);
    } else {
      ctx.load_verify_file(options.ca_file, ec);
    }
    if (ec) return TlsSetupError("loading CA certificates for", t, ec);
    ctx.set_verify_mode(ssl::verify_peer);
  } else {
    ctx.set_verify_mode(ssl::verify_none);
  }
  beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
  boost::system::error_code addr_ec;
  const bool ip_literal = (asio::ip::make_address(t.host, addr_ec), !addr_ec);
  // SNI carries host names only (RFC 6066 §3).
  if (!ip_literal && !SSL_set_tlsext_host_name(stream.native_handle(), t.host.c_str())) {
    return Status::Internal("tls: cannot set the server name");
  }
  if (options.verify_peer) stream.set_verify_callback(ssl::host_name_verification(t.host));
  ENNAKKO_RETURN_IF_ERROR(connect(beast::get_lowest_layer(stream)));
  beast::get_lowest_layer(stream).expires_at(deadline);
  ENNAKKO_RETURN_IF_ERROR(RunStep(ioc, t, "tls handshake", ec, [&](bool& done) {
    stream.async_handshake(ssl::stream_base::client, [&](const beast::error_code& e) {
      ec = e;
      done = true;
    });
  }));
  auto out = Exchange(ioc, stream, t, req, deadline, options);
  // "Connection: close": no close_notify exchange, which a peer may never answer.
  beast::error_code ignored;
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
  return out;
}

}  // namespace

Result<HttpClientResult> HttpCall(const std::string& method, const std::string& url,
                                  const std::string& body,
                                  const std::map<std::string, std::string>& headers,
                                  std::chrono::milliseconds timeout) {
  return HttpCall(method, url, body, headers, HttpCallOptions{.timeout = timeout});
}

std::string BasicAuthorization(std::string_view username, std::string_view password) {
  std::string plain;
  plain.reserve(username.size() + 1 + password.size());
  plain.append(username).append(":").append(password);
  std::string encoded(4 * ((plain.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                          reinterpret_cast<const unsigned char*>(plain.data()),
                          static_cast<int>(plain.size()));
  encoded.resize(static_cast<size_t>(n));
  OPENSSL_cleanse(plain.data(), plain.size());
  return "Basic " + encoded;
}

Result<HttpClientResult> HttpCall(const std::string& method, const std::string& url,
                                  const std::string& body,
                                  const std::map<std::string, std::string>& headers,
                                  const HttpCallOptions& options) {
  // Boost throws on allocation failure and on a few invariant violations; nothing may escape.
  try {
    return Call(method, url, body, headers, options);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("http client: ") + e.what());
  } catch (...) {
    return Status::Internal("http client: unknown exception");
  }
}

}  // namespace ennakko
