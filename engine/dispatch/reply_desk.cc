#include "engine/dispatch/reply_desk.h"

#include <spdlog/spdlog.h>

#include "engine/dispatch/outbox.h"
#include "engine/dispatch/reply_texts.h"
#include "engine/dispatch/sms_reply.h"

namespace ennakko {

namespace {

bool Open(OfferState s) {
  return s == OfferState::kSent || s == OfferState::kDelivered || s == OfferState::kReminded ||
         s == OfferState::kInDoubt;
}

}  // namespace

std::string ReplyLinkFor(const ReplyDeskOptions& options, int64_t offer_id, std::chrono::system_clock::time_point now) {
  auto expires = std::chrono::duration_cast<std::chrono::seconds>((now + options.link_lifetime).time_since_epoch());
  std::string token = SignLinkToken(options.link_key, {offer_id, LinkAction::kRespond, expires.count()});
  return options.link_base_url + (options.link_base_url.find('?') == std::string::npos ? "?t=" : "&t=") + token;
}

ReplyDesk::ReplyDesk(ReplyDeskOptions options, Db& db, const Clock& clock, AuditFn audit, PseudonymFn pseudonym,
                     RuleLookupFn rule_for)
    : options_(std::move(options)),
      db_(db),
      clock_(clock),
      audit_(audit),
      rule_for_(std::move(rule_for)),
      lifecycle_(db, clock, std::move(audit), std::move(pseudonym)) {}

std::string ReplyDesk::TitleOf(const std::string& service, const std::string& language) const {
  const RuleSpec* rule = rule_for_ ? rule_for_(service) : nullptr;
  if (!rule) return service;
  if (auto it = rule->title.find(language); it != rule->title.end()) return it->second;
  if (auto it = rule->title.find("fi"); it != rule->title.end()) return it->second;
  return service;
}

std::string ReplyDesk::Language(const OfferRecord& offer) const {
  return offer.language == "sv" || offer.language == "en" ? offer.language : "fi";
}

std::string ReplyDesk::HandleSms(std::string_view raw_phone, std::string_view text) {
  const std::string phone = NormalizePhone(raw_phone);
  std::string lang = "fi";
  if (auto l = lifecycle_.LanguageForPhone(phone); l.ok() && !l->empty()) lang = *l;
  const SmsAnswer answer = ParseSmsAnswer(text);
  auto open = lifecycle_.OpenOffersForPhone(phone);
  if (!open.ok()) {
    spdlog::error("replies: looking up open offers failed: {}", open.status().ToString());
    return SmsReply(lang, SmsReplyText::kTryAgain, {});
  }
  std::vector<OfferLabel> labels;
  for (const auto& o : *open) labels.push_back({ReplyCode(o.id), TitleOf(o.service, Language(o)), o.subject_first_name});
  auto unmatched = [&](std::string_view meaning, SmsReplyText reply) {
    (void)lifecycle_.RecordReply(std::nullopt, "sms", meaning);
    audit_("reply.unmatched", {{"via", "sms"}, {"meaning", meaning}, {"open_offers", open->size()}});
    return SmsReply(lang, reply, labels, answer.code);
  };
  switch (answer.kind) {
    case SmsAnswer::Kind::kUnrecognised:
      return unmatched("unrecognised", open->empty() ? SmsReplyText::kNoOpenOffer : SmsReplyText::kUnrecognised);
    case SmsAnswer::Kind::kObjection: {
      nlohmann::json offers = nlohmann::json::array();
      for (const auto& o : *open) offers.push_back(o.id);
      (void)lifecycle_.RecordReply(open->size() == 1 ? std::optional<int64_t>(open->front().id) : std::nullopt, "sms",
                                   "objection");
      audit_("reply.objection", {{"via", "sms"}, {"offers", offers}});
      return SmsReply(lang, SmsReplyText::kObjection, labels);
    }
    case SmsAnswer::Kind::kAccept:
    case SmsAnswer::Kind::kDecline:
      break;
  }
  if (open->empty()) return unmatched("no_offer", SmsReplyText::kNoOpenOffer);
  const OfferRecord* target = nullptr;
  if (answer.offer_id) {
    for (const auto& o : *open) {
      if (o.id == *answer.offer_id) target = &o;
    }
    if (!target) return unmatched("unknown_code", SmsReplyText::kUnknownCode);
  } else if (open->size() == 1) {
    target = &open->front();
  } else {
    return unmatched("ambiguous", SmsReplyText::kAmbiguous);
  }
  const bool accepted = answer.kind == SmsAnswer::Kind::kAccept;
  auto recorded = lifecycle_.RecordAnswer(target->id, accepted, "sms");
  lang = Language(*target);
  if (!recorded.ok()) {
    if (recorded.status().code() == StatusCode::kFailedPrecondition) return unmatched("refused", SmsReplyText::kNoOpenOffer);
    spdlog::error("replies: recording an SMS answer for offer {} failed: {}", target->id, recorded.status().ToString());
    return SmsReply(lang, SmsReplyText::kTryAgain, {});
  }
  std::vector<OfferLabel> answered = {{ReplyCode(target->id), TitleOf(target->service, lang), target->subject_first_name}};
  return SmsReply(lang, accepted ? SmsReplyText::kAccepted : SmsReplyText::kDeclined, answered);
}

Status ReplyDesk::HandleDeliveryReport(int64_t outbox_id, int kannel_status) {
  if (kannel_status == 1 || kannel_status == 2 || kannel_status == 4 || kannel_status == 8 || kannel_status == 16) {
    // Any report proves Kannel had the message: a send cut off after its hand-over is not sent again.
    ENNAKKO_RETURN_IF_ERROR(Outbox(db_, clock_).ConfirmReceipt(outbox_id));
  }
  DeliveryReport report;
  switch (kannel_status) {
    case 1:
      report = DeliveryReport::Delivered("handset", "kannel-dlr");
      break;
    case 2:
      report = DeliveryReport::NotDelivered("not delivered to the phone (Kannel DLR 2)", "kannel-dlr");
      break;
    case 16:
      report = DeliveryReport::NotDelivered("not accepted by the SMS centre (Kannel DLR 16)", "kannel-dlr");
      break;
    case 4:
    case 8: {
      // Intermediate: queued at or accepted by the SMS centre. Kept, no state change.
      auto rec = lifecycle_.Load(outbox_id);
      if (!rec.ok()) return rec.status();
      auto st = db_.Prepare(
          "INSERT INTO deliveries (outbox_id, attempt, channel, status, detail, gateway_ref, at) "
          "SELECT id, attempts, COALESCE(channel, 'sms'), ?, 'kannel-dlr', NULL, ? FROM outbox WHERE id = ?");
      if (!st.ok()) return st.status();
      st->Bind(1, kannel_status == 4 ? "smsc_queued" : "smsc_accepted").Bind(2, FormatTimestamp(clock_.Now())).Bind(3, outbox_id);
      return st->Run();
    }
    default:
      return Status::Invalid("unknown Kannel delivery status " + std::to_string(kannel_status));
  }
  auto after = lifecycle_.RecordDelivery(outbox_id, report);
  return after.ok() ? Status::Ok() : after.status();
}

ReplyPage ReplyDesk::HandleLinkGet(std::string_view token) {
  auto t = ParseSignedLinkToken(options_.link_key, token);
  if (!t.ok()) return {403, RenderNoticePage("", ReplyNotice::kInvalidLink)};
  auto offer = lifecycle_.Load(t->offer_id);
  if (!offer.ok()) {
    return offer.status().code() == StatusCode::kNotFound ? ReplyPage{404, RenderNoticePage("", ReplyNotice::kInvalidLink)}
                                                          : ReplyPage{503, RenderNoticePage("", ReplyNotice::kUnavailable)};
  }
  const std::string lang = Language(*offer);
  if (offer->state == OfferState::kReplied) return {409, RenderNoticePage(lang, ReplyNotice::kAlreadyAnswered, offer->outcome)};
  if (!VerifyLinkToken(options_.link_key, token, clock_.Now()).ok()) return {410, RenderNoticePage(lang, ReplyNotice::kExpiredLink)};
  if (!Open(offer->state) || offer->kind != "offer") return {410, RenderNoticePage(lang, ReplyNotice::kClosedOffer)};
  OfferPage page;
  page.language = lang;
  page.service_title = TitleOf(offer->service, lang);
  page.child_first_name = offer->subject_first_name;
  page.period = offer->period;
  page.token = std::string(token);
  page.may_accept = t->action != LinkAction::kDecline;
  page.may_decline = t->action != LinkAction::kAccept;
  return {200, RenderOfferPage(page)};
}

ReplyPage ReplyDesk::HandleLinkPost(std::string_view token, std::string_view answer) {
  auto refused = [&](std::string_view why) { audit_("reply.refused", {{"via", "link"}, {"why", why}}); };
  auto t = ParseSignedLinkToken(options_.link_key, token);
  if (!t.ok()) {
    refused("invalid link");
    return {403, RenderNoticePage("", ReplyNotice::kInvalidLink)};
  }
  auto offer = lifecycle_.Load(t->offer_id);
  if (!offer.ok()) {
    refused("unknown offer");
    return {404, RenderNoticePage("", ReplyNotice::kInvalidLink)};
  }
  const std::string lang = Language(*offer);
  if (offer->state == OfferState::kReplied) {
    refused("already answered");
    return {409, RenderNoticePage(lang, ReplyNotice::kAlreadyAnswered, offer->outcome)};
  }
  if (!VerifyLinkToken(options_.link_key, token, clock_.Now()).ok()) {
    refused("expired link");
    return {410, RenderNoticePage(lang, ReplyNotice::kExpiredLink)};
  }
  const bool accept = answer == "accept";
  if ((!accept && answer != "decline") || (accept && t->action == LinkAction::kDecline) ||
      (!accept && t->action == LinkAction::kAccept)) {
    return {400, RenderNoticePage(lang, ReplyNotice::kBadRequest)};
  }
  if (!Open(offer->state) || offer->kind != "offer") {
    refused("offer closed");
    return {410, RenderNoticePage(lang, ReplyNotice::kClosedOffer)};
  }
  auto recorded = lifecycle_.RecordAnswer(offer->id, accept, "link");
  if (!recorded.ok()) {
    if (recorded.status().code() == StatusCode::kFailedPrecondition) {
      auto now = lifecycle_.Load(offer->id);
      if (now.ok() && now->state == OfferState::kReplied) {
        return {409, RenderNoticePage(lang, ReplyNotice::kAlreadyAnswered, now->outcome)};
      }
      return {410, RenderNoticePage(lang, ReplyNotice::kClosedOffer)};
    }
    spdlog::error("replies: recording a link answer for offer {} failed: {}", offer->id, recorded.status().ToString());
    return {503, RenderNoticePage(lang, ReplyNotice::kUnavailable)};
  }
  return {200, RenderNoticePage(lang, accept ? ReplyNotice::kAccepted : ReplyNotice::kDeclined)};
}

}  // namespace ennakko
