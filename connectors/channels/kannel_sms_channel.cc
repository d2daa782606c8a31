#include "connectors/channels/kannel_sms_channel.h"

#include <cstdlib>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url.hpp>
#include <spdlog/spdlog.h>

#include "connectors/channels/sms_encoding.h"
#include "connectors/http/http_client.h"
#include "engine/base/crypto.h"

namespace ennakko {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

// The sendsms URL with `params` appended. Values are encoded strictly (everything but RFC 3986
// unreserved characters), so '+' in a phone number and '&' or '=' in a text survive Kannel's
// form decoding.
Result<std::string> BuildUrl(const std::string& base, const Params& params) {
  auto parsed = boost::urls::parse_uri(base);
  if (!parsed) return Status::Invalid("unparsable sendsms_url");
  boost::urls::url u(*parsed);
  std::string query = u.has_query() ? std::string(u.encoded_query()) : std::string();
  for (const auto& [key, value] : params) {
    if (!query.empty()) query += '&';
    query += key;
    query += '=';
    query += boost::urls::encode(value, boost::urls::unreserved_chars);
  }
  u.set_encoded_query(query);
  return std::string(u.buffer());
}

// Kannel's reply, trimmed and bounded, for a SendOutcome detail. Kannel's replies name the
// problem ("Authorization failed for sendsms"), not the recipient.
std::string ReplyDetail(const HttpClientResult& reply) {
  std::string text = reply.body.substr(0, 200);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return "kannel " + std::to_string(reply.status) + ": " + text;
}

SendOutcome Classify(const HttpClientResult& reply) {
  if (reply.status == 202) return SendOutcome::Sent();
  if (reply.status == 200 && (reply.body.find("Accepted") != std::string::npos ||
                              reply.body.find("Sent") != std::string::npos)) {
    return SendOutcome::Sent();
  }
  if (reply.status == 429) {
    // Not Kannel's own answer, but a proxy or an SMS provider's rate limit in front of it.
    SendOutcome out = SendOutcome::Transient(ReplyDetail(reply));
    if (auto it = reply.headers.find("retry-after"); it != reply.headers.end()) {
      int seconds = std::atoi(it->second.c_str());
      if (seconds > 0) out.retry_after = std::chrono::seconds(std::min(seconds, 3600));
    }
    return out;
  }
  if (reply.status >= 400 && reply.status < 500) return SendOutcome::Permanent(ReplyDetail(reply));
  // 5xx, and anything unexpected: Kannel or a proxy in front of it may recover.
  return SendOutcome::Transient(ReplyDetail(reply));
}

}  // namespace

std::string KannelDlrSignature(std::string_view key, int64_t outbox_id) {
  return HmacSha256Hex(key, "ennakko-dlr-v1|" + std::to_string(outbox_id)).substr(0, 32);
}

KannelSmsChannel::KannelSmsChannel(KannelSmsOptions options) : options_(std::move(options)) {}

Status KannelSmsChannel::ValidateOptions(const KannelSmsOptions& options) {
  auto parsed = boost::urls::parse_uri(options.sendsms_url);
  if (!parsed) return Status::Invalid("sms: sendsms_url is not a URL");
  if (parsed->scheme() != "http" && parsed->scheme() != "https") {
    return Status::Invalid("sms: sendsms_url must be http:// or https://");
  }
  if (options.username.empty()) return Status::Invalid("sms: username is empty");
  if (options.max_messages < 1) return Status::Invalid("sms: max_messages must be at least 1");
  if (options.timeout.count() <= 0) return Status::Invalid("sms: timeout must be positive");
  if (!options.dlr_url.empty() && options.dlr_key.size() < 16) {
    return Status::Invalid("sms: delivery reports need a signing key of at least 16 bytes");
  }
  return Status::Ok();
}

std::string KannelSmsChannel::CannotReach(const Recipient& recipient) const {
  if (!recipient.phone || recipient.phone->empty()) return "no phone";
  return {};
}

SendOutcome KannelSmsChannel::Send(const OutgoingMessage& message) {
  if (std::string why = CannotReach(message.recipient); !why.empty()) {
    return SendOutcome::Permanent(why);
  }
  const std::string& text = message.body;
  const int parts = SmsParts(text);
  if (parts > options_.max_messages) {
    return SendOutcome::Permanent("text needs " + std::to_string(parts) +
                                  " SMS parts; max_messages is " +
                                  std::to_string(options_.max_messages));
  }
  Params params = {
      {"username", options_.username},
      {"password", options_.password},
      {"to", *message.recipient.phone},
  };
  if (!options_.from.empty()) params.emplace_back("from", options_.from);
  params.emplace_back("text", text);
  params.emplace_back("charset", "UTF-8");
  params.emplace_back("coding", IsGsm7(text) ? "0" : "2");
  params.emplace_back("max-messages", std::to_string(options_.max_messages));
  if (!options_.dlr_url.empty()) {
    params.emplace_back("dlr-mask", "31");
    params.emplace_back("dlr-url", options_.dlr_url +
                                       (options_.dlr_url.find('?') == std::string::npos ? "?" : "&") +
                                       "id=" + std::to_string(message.outbox_id) + "&sig=" +
                                       KannelDlrSignature(options_.dlr_key, message.outbox_id) + "&status=%d");
  }

  Result<std::string> url = Status::Internal("unset");
  try {
    url = BuildUrl(options_.sendsms_url, params);
  } catch (const std::exception& e) {
    url = Status::Invalid(std::string("building the sendsms URL: ") + e.what());
  }
  if (!url.ok()) return SendOutcome::Permanent("sms: " + url.status().message());

  HttpCallOptions call;
  call.timeout = options_.timeout;
  bool written = false;
  call.request_written = &written;
  if (message.handover) call.before_last_byte = message.handover;
  auto reply = HttpCall("GET", *url, "", {}, call);
  if (!reply.ok()) {
    spdlog::warn("sms: outbox {} ({}): {}", message.outbox_id, message.recipient.pseudonym,
                 reply.status().ToString());
    if (reply.status().code() == StatusCode::kInvalidArgument) {
      return SendOutcome::Permanent(reply.status().message());
    }
    SendOutcome out = SendOutcome::Transient(reply.status().message());
    // The whole request reached Kannel but no answer came back: it may have queued the SMS.
    out.ambiguous = written;
    return out;
  }
  SendOutcome outcome = Classify(*reply);
  // 502/504 come from a proxy in front of Kannel whose upstream failed or timed out after it had
  // the whole request: Kannel may have queued the SMS (Kannel's own "try later" is 503).
  if (outcome.kind == SendOutcome::Kind::kTransient && (reply->status == 502 || reply->status == 504)) {
    outcome.ambiguous = true;
  }
  if (outcome.kind != SendOutcome::Kind::kSent) {
    spdlog::warn("sms: outbox {} ({}): {}", message.outbox_id, message.recipient.pseudonym,
                 outcome.detail);
  } else {
    spdlog::debug("sms: outbox {} ({}) accepted by kannel, {} part(s)", message.outbox_id,
                  message.recipient.pseudonym, parts);
  }
  return outcome;
}

}  // namespace ennakko
