#include "connectors/channels/suomifi_paper_channel.h"

#include <ctime>
#include <random>
#include <regex>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "connectors/channels/paper_letter.h"
#include "connectors/channels/suomifi_replies.h"
#include "connectors/http/http_client.h"

namespace ennakko {
namespace {

using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr size_t kMaxAttachmentBytes = 10 * 1024 * 1024;  // the API's 10,485,760-byte limit
constexpr size_t kMaxCachedUploads = 10000;

json AddressJson(const MailingAddress& a) {
  return {{"name", a.name},
          {"streetAddress", a.street_address},
          {"zipCode", a.zip_code},
          {"city", a.city},
          {"countryCode", a.country_code}};
}

std::string LetterDate(std::chrono::system_clock::time_point when) {
  std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  localtime_r(&t, &tm);
  return std::to_string(tm.tm_mday) + "." + std::to_string(tm.tm_mon + 1) + "." +
         std::to_string(tm.tm_year + 1900);
}

// The file name the recipient sees for the letter.
std::string LetterFileName(const std::string& language) {
  if (language == "sv") return "brev.pdf";
  if (language == "en") return "letter.pdf";
  return "kirje.pdf";
}

std::string RandomBoundary() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string b = "ennakko-";
  for (int i = 0; i < 32; ++i) b += kHex[rng() % 16];
  return b;
}

// The outcome for a reply that is not a success (401 here means a fresh token was refused too).
SendOutcome Failure(const HttpClientResult& reply) {
  if (reply.status == 401) {
    return SendOutcome::Transient("suomifi 401: a freshly issued token was rejected");
  }
  if (suomifi::Retryable(reply.status) || reply.status < 400) {
    return SendOutcome::Transient(suomifi::ReplyDetail(reply));
  }
  return SendOutcome::Permanent(suomifi::ReplyDetail(reply));
}

bool FieldOk(const std::string& s, size_t max) {
  const size_t n = suomifi::Characters(s);
  return n >= 1 && n <= max;
}

}  // namespace

std::string MultipartFile(const std::string& boundary, const std::string& filename,
                          const std::string& content_type, const std::string& content) {
  std::string out;
  out.reserve(content.size() + 256);
  out += "--" + boundary + "\r\n";
  out += "Content-Disposition: form-data; name=\"file\"; filename=\"" + filename + "\"\r\n";
  out += "Content-Type: " + content_type + "\r\n\r\n";
  out += content;
  out += "\r\n--" + boundary + "--\r\n";
  return out;
}

SuomiFiPaperChannel::SuomiFiPaperChannel(SuomiFiChannel& api, SuomiFiPaperOptions options)
    : api_(api), options_(std::move(options)) {}

Status SuomiFiPaperChannel::ValidateOptions(const SuomiFiPaperOptions& o) {
  const MailingAddress& a = o.sender;
  if (!FieldOk(a.name, 256) || !FieldOk(a.street_address, 256) || !FieldOk(a.city, 256) ||
      !FieldOk(a.zip_code, 64)) {
    return Status::Invalid(
        "suomifi paper: sender name, street_address, zip_code and city are required "
        "(at most 256 characters; zip_code 64)");
  }
  static const std::regex kCountry("[A-Z]{2}");
  if (!std::regex_match(a.country_code, kCountry)) {
    return Status::Invalid("suomifi paper: sender country_code must be two capital letters");
  }
  if (suomifi::Characters(o.posti_username) != 6) {
    return Status::Invalid("suomifi paper: posti username must be 6 characters");
  }
  if (suomifi::Characters(o.posti_password) != 4) {
    return Status::Invalid("suomifi paper: posti password must be 4 characters");
  }
  const size_t email = suomifi::Characters(o.contact_email);
  if (email < 5 || email > 256 || o.contact_email.find('@') == std::string::npos) {
    return Status::Invalid("suomifi paper: contact_email must be an address of 5..256 characters");
  }
  static const std::regex kCostPool("[A-Z0-9]{1,15}");
  if (!o.cost_pool.empty() && !std::regex_match(o.cost_pool, kCostPool)) {
    return Status::Invalid("suomifi paper: cost_pool must be 1..15 of A-Z and 0-9");
  }
  if (o.attachment_reuse.count() <= 0 || o.attachment_reuse > std::chrono::hours(23)) {
    return Status::Invalid("suomifi paper: attachment_reuse must be within (0, 23 h]");
  }
  return Status::Ok();
}

std::string SuomiFiPaperChannel::CannotReach(const Recipient& recipient) const {
  if (std::string why = PaperBlocked(recipient); !why.empty()) return why;
  if (recipient.hetu.empty()) return "no identity code";
  return {};
}

int SuomiFiPaperChannel::uploads() const {
  std::lock_guard lock(mu_);
  return uploads_;
}

Result<std::string> SuomiFiPaperChannel::Attachment(const OutgoingMessage& m,
                                                    SendOutcome* failure) {
  const auto now = SteadyClock::now();
  {
    std::lock_guard lock(mu_);
    auto it = uploaded_.find(m.idempotency_key);
    if (it != uploaded_.end() && now - it->second.second < options_.attachment_reuse) {
      return it->second.first;
    }
  }
  Letter letter;
  letter.language = m.recipient.language;
  letter.sender_name = options_.sender.name;
  letter.sender_lines = {options_.sender.street_address,
                         options_.sender.zip_code + " " + options_.sender.city};
  letter.date = LetterDate(options_.now());
  if (!options_.create_address_page) letter.recipient_address = m.recipient.postal_address;
  letter.title = m.title;
  letter.body = m.body;
  auto reply_it = options_.reply_instructions.find(m.recipient.language);
  if (reply_it == options_.reply_instructions.end()) reply_it = options_.reply_instructions.find("fi");
  if (reply_it != options_.reply_instructions.end()) letter.reply_instructions = reply_it->second;

  auto pdf = RenderLetterPdf(letter);
  if (!pdf.ok()) {
    *failure = SendOutcome::Transient(pdf.status().message());
    return pdf.status();
  }
  if (pdf->size() > kMaxAttachmentBytes) {
    *failure = SendOutcome::Permanent("suomifi paper: the letter is " +
                                      std::to_string(pdf->size()) + " bytes, over 10 MiB");
    return Status::Invalid(failure->detail);
  }
  std::string boundary = RandomBoundary();
  while (pdf->find(boundary) != std::string::npos) boundary = RandomBoundary();
  auto reply = api_.AuthorizedPost(
      "/v2/attachments",
      MultipartFile(boundary, LetterFileName(m.recipient.language), "application/pdf", *pdf),
      "multipart/form-data; boundary=" + boundary);
  if (!reply.ok()) {
    *failure = reply.status().code() == StatusCode::kInvalidArgument
                   ? SendOutcome::Permanent(reply.status().message())
                   : SendOutcome::Transient(reply.status().message());
    return reply.status();
  }
  if (reply->status != 201 && reply->status != 200) {
    *failure = Failure(*reply);
    failure->detail = "upload: " + failure->detail;
    return Status::Unavailable(failure->detail);
  }
  json j = json::parse(reply->body, nullptr, false);
  if (!j.is_object() || !j.contains("attachmentId") || !j["attachmentId"].is_string() ||
      j["attachmentId"].get_ref<const std::string&>().empty()) {
    *failure = SendOutcome::Transient("suomifi upload: reply without attachmentId");
    return Status::Unavailable(failure->detail);
  }
  std::string id = j["attachmentId"];
  std::lock_guard lock(mu_);
  ++uploads_;
  if (uploaded_.size() >= kMaxCachedUploads) {
    // Drop what Suomi.fi has removed anyway, then the oldest, to stay bounded.
    std::erase_if(uploaded_, [&](const auto& e) {
      return now - e.second.second >= options_.attachment_reuse;
    });
    if (uploaded_.size() >= kMaxCachedUploads) {
      auto oldest = uploaded_.begin();
      for (auto it = uploaded_.begin(); it != uploaded_.end(); ++it) {
        if (it->second.second < oldest->second.second) oldest = it;
      }
      uploaded_.erase(oldest);
    }
  }
  uploaded_[m.idempotency_key] = {id, now};
  return id;
}

std::string SuomiFiPaperChannel::MultichannelBody(const OutgoingMessage& m,
                                                  const std::string& attachment_id) const {
  json printing = {{"postiMessaging",
                    {{"username", options_.posti_username},
                     {"password", options_.posti_password},
                     {"contactDetails", {{"email", options_.contact_email}}}}}};
  if (!options_.cost_pool.empty()) printing["costPool"] = options_.cost_pool;
  json body = {
      {"externalId", m.idempotency_key},
      {"recipient", {{"id", m.recipient.hetu}}},
      {"sender", {{"serviceId", api_.options().service_id}}},
      {"electronic", suomifi::ElectronicPart(m)},
      {"paperMail",
       {{"attachments", json::array({json{{"attachmentId", attachment_id}}})},
        {"colorPrinting", options_.color_printing},
        {"createAddressPage", options_.create_address_page},
        {"messageServiceType", "Normal"},
        {"printingAndEnvelopingService", std::move(printing)},
        {"recipient", {{"address", AddressJson(*m.recipient.postal_address)}}},
        {"rotateLandscapePages", false},
        {"sender", {{"address", AddressJson(options_.sender)}}},
        {"twoSidedPrinting", options_.two_sided_printing}}},
  };
  return suomifi::Dump(body);
}

SendOutcome SuomiFiPaperChannel::Send(const OutgoingMessage& message) {
  if (std::string why = CannotReach(message.recipient); !why.empty()) {
    return SendOutcome::Permanent(why);
  }
  if (std::string why = suomifi::InvalidTexts(message); !why.empty()) {
    return SendOutcome::Permanent(why);
  }
  SendOutcome outcome;
  auto attachment = Attachment(message, &outcome);
  if (!attachment.ok()) {
    spdlog::warn("suomifi paper: outbox {} ({}): {}", message.outbox_id,
                 message.recipient.pseudonym, outcome.detail);
    return outcome;
  }
  auto reply = api_.AuthorizedPost("/v2/messages", MultichannelBody(message, *attachment));
  if (!reply.ok()) {
    outcome = reply.status().code() == StatusCode::kInvalidArgument
                  ? SendOutcome::Permanent(reply.status().message())
                  : SendOutcome::Transient(reply.status().message());
  } else if (reply->status == 200 || reply->status == 409) {
    // 409: this externalId was accepted before (a retry after a lost reply): already there.
    outcome = SendOutcome::Sent(suomifi::MessageId(*reply));
  } else {
    outcome = Failure(*reply);
  }
  if (outcome.kind != SendOutcome::Kind::kTransient) {
    std::lock_guard lock(mu_);
    uploaded_.erase(message.idempotency_key);  // done with it either way
  }
  if (outcome.kind == SendOutcome::Kind::kSent) {
    spdlog::debug("suomifi paper: outbox {} ({}) accepted as message {}", message.outbox_id,
                  message.recipient.pseudonym, outcome.gateway_ref);
  } else {
    spdlog::warn("suomifi paper: outbox {} ({}): {}", message.outbox_id,
                 message.recipient.pseudonym, outcome.detail);
  }
  return outcome;
}

}  // namespace ennakko
