#include "engine/dispatch/dispatcher.h"

#include <algorithm>
#include <thread>

#include <spdlog/spdlog.h>

namespace ennakko {

RenderedMessage RenderMessage(const RuleSpec& rule, const std::string& language,
                              const std::map<std::string, std::string>& values) {
  auto it = rule.messages.find(language);
  if (it == rule.messages.end()) it = rule.messages.find("fi");
  RenderedMessage out;
  if (it == rule.messages.end()) return out;
  out.language = it->first;
  auto fill = [&](const std::string& text) {
    std::string r;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t open = text.find("{{", pos);
      if (open == std::string::npos) break;
      size_t close = text.find("}}", open);
      if (close == std::string::npos) break;
      r.append(text, pos, open - pos);
      std::string name = text.substr(open + 2, close - open - 2);
      name.erase(0, name.find_first_not_of(' '));
      name.erase(name.find_last_not_of(' ') + 1);
      auto v = values.find(name);
      if (v != values.end()) r += v->second;
      pos = close + 2;
    }
    r.append(text, pos);
    while (!r.empty() && r.back() == '\n') r.pop_back();
    return r;
  };
  out.title = fill(it->second.title);
  out.body = fill(it->second.body);
  return out;
}

std::string ReplyCode(int64_t id) {
  static constexpr char kAlphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";  // no I, O, 0, 1
  std::string out;
  uint64_t v = static_cast<uint64_t>(id);
  do {
    out += kAlphabet[v % 32];
    v /= 32;
  } while (v);
  std::reverse(out.begin(), out.end());
  return out;
}

Dispatcher::Dispatcher(DispatcherOptions options, Db& db, const Clock& clock,
                       std::map<std::string, Channel*> channels, AuditFn audit, PseudonymFn pseudonym)
    : options_(options),
      db_(db),
      outbox_(db, clock),
      channels_(std::move(channels)),
      audit_(std::move(audit)),
      pseudonym_(std::move(pseudonym)) {}

const RuleSpec* Dispatcher::RuleFor(const std::string& service) const {
  if (!rules_) return nullptr;
  for (const auto& r : rules_->sources().rules) {
    if (r.service == service) return &r;
  }
  return nullptr;
}

namespace {
Recipient ToRecipient(const ClaimedOffer& o, const PseudonymFn& pseudonym) {
  Recipient r;
  r.pseudonym = pseudonym(o.recipient_code);
  r.hetu = o.recipient_code;
  r.language = o.recipient_language;
  r.phone = o.phone;
  r.email = o.email;
  r.address_protected = o.address_protected;
  if (!o.address_protected && o.street_address && o.postal_code && o.post_office) {
    r.postal_address = MailingAddress{o.recipient_name, *o.street_address, *o.postal_code,
                                      *o.post_office, "FI"};
  }
  return r;
}
}  // namespace

ChannelChoice Dispatcher::Choose(const ClaimedOffer& offer, size_t start_after) const {
  const RuleSpec* rule = RuleFor(offer.service);
  if (!rule) return {"", "the service's rule is not loaded"};
  Recipient r = ToRecipient(offer, pseudonym_);
  std::string why;
  for (size_t i = start_after; i < rule->channels.size(); ++i) {
    const std::string& name = rule->channels[i];
    auto it = channels_.find(name);
    if (it == channels_.end()) {
      why += (why.empty() ? "" : "; ") + name + ": not configured";
      continue;
    }
    std::string cannot = it->second->CannotReach(r);
    if (cannot.empty()) return {name, ""};
    why += (why.empty() ? "" : "; ") + name + ": " + cannot;
  }
  return {"", why.empty() ? "no channels listed" : why};
}

std::chrono::milliseconds Dispatcher::Backoff(int attempt) {
  double base = static_cast<double>(options_.initial_backoff.count()) * std::pow(2.0, std::max(0, attempt - 1));
  base = std::min(base, static_cast<double>(options_.max_backoff.count()));
  std::uniform_real_distribution<double> jitter(0.5, 1.0);  // "equal jitter": spread retries out
  return std::chrono::milliseconds(static_cast<int64_t>(base * jitter(jitter_)));
}

Result<int> Dispatcher::Recover() {
  auto in_doubt = outbox_.RecoverInFlight([&](const std::string& channel) {
    auto it = channels_.find(channel);
    return it != channels_.end() && it->second->idempotent();
  });
  if (in_doubt.ok() && *in_doubt > 0) {
    spdlog::warn("{} offers were being sent on a non-idempotent channel when the previous process stopped; "
                 "they are held as in_doubt for an operator instead of risking a duplicate", *in_doubt);
    audit_("offer.in_doubt", {{"count", *in_doubt}});
  }
  return in_doubt;
}

Result<DrainStats> Dispatcher::DrainOnce(const std::atomic<bool>& stop) {
  DrainStats stats;
  if (!rules_) return stats;
  std::vector<std::pair<int64_t, std::string>> unreachable;
  auto claimed = outbox_.ClaimDue(options_.batch_size, [&](const ClaimedOffer& o) { return Choose(o); }, &unreachable);
  if (!claimed.ok()) return claimed.status();
  for (const auto& [id, why] : unreachable) {
    audit_("offer.failed", {{"offer", id}, {"reason", "no channel can reach the recipient: " + why}});
    ++stats.failed;
  }
  std::vector<ClaimedOffer>& offers = *claimed;
  stats.claimed = static_cast<int>(offers.size());
  if (offers.empty()) return stats;

  struct Attempt {
    bool attempted = false;
    std::vector<std::pair<std::string, SendOutcome>> tries;  // channel, outcome (fallbacks in order)
  };
  std::vector<Attempt> attempts(offers.size());
  std::atomic<size_t> next{0};
  auto work = [&]() {
    for (;;) {
      size_t i = next.fetch_add(1);
      if (i >= offers.size()) return;
      if (stop.load()) continue;  // leave it queued
      const ClaimedOffer& o = offers[i];
      const RuleSpec* rule = RuleFor(o.service);
      Attempt& a = attempts[i];
      a.attempted = true;
      std::string title = rule ? (rule->title.count(o.recipient_language) ? rule->title.at(o.recipient_language) : rule->title.at("fi")) : "";
      // Rendered per channel: a reply link belongs in an email, not in an SMS (message_values_).
      auto render = [&](const std::string& channel) {
        std::map<std::string, std::string> values = {{"child_first_name", o.subject_first_name}, {"period", o.period},
                                                     {"service_title", title}, {"reply_code", ReplyCode(o.id)}};
        if (message_values_) message_values_(o, channel, values);
        RenderedMessage m = RenderMessage(*rule, o.recipient_language, values);
        return OutgoingMessage{o.id, o.idem_key, o.service, ToRecipient(o, pseudonym_), m.title, m.body};
      };
      std::string channel = o.channel;
      for (;;) {
        OutgoingMessage msg = render(channel);
        SendOutcome out = channels_.at(channel)->Send(msg);
        a.tries.emplace_back(channel, out);
        if (out.kind != SendOutcome::Kind::kPermanent) break;
        // Permanent on this channel: fall back to the next one that can reach the recipient.
        size_t pos = std::find(rule->channels.begin(), rule->channels.end(), channel) - rule->channels.begin();
        ChannelChoice next_choice = Choose(o, pos + 1);
        if (next_choice.channel.empty()) break;
        channel = next_choice.channel;
        // The next channel is recorded after the batch; a crash in between leaves the offer in
        // `sending` on the first channel, which RecoverInFlight treats by that channel's rules.
      }
    }
  };
  int n_threads = std::min<int>(options_.workers, static_cast<int>(offers.size()));
  std::vector<std::thread> threads;
  for (int t = 1; t < n_threads; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();

  Transaction tx(db_);
  ENNAKKO_RETURN_IF_ERROR(tx.begin_status());
  for (size_t i = 0; i < offers.size(); ++i) {
    const ClaimedOffer& o = offers[i];
    const Attempt& a = attempts[i];
    if (!a.attempted) {
      ENNAKKO_RETURN_IF_ERROR(outbox_.Unclaim(o.id));
      ++stats.unclaimed;
      continue;
    }
    int attempt = o.attempts + 1;
    for (size_t k = 0; k + 1 < a.tries.size(); ++k) {
      audit_("offer.channel_failed", {{"offer", o.id}, {"channel", a.tries[k].first}, {"reason", a.tries[k].second.detail}});
    }
    const auto& [channel, out] = a.tries.back();
    switch (out.kind) {
      case SendOutcome::Kind::kSent:
        ENNAKKO_RETURN_IF_ERROR(outbox_.MarkSent(o.id, channel, out.gateway_ref, attempt));
        audit_("offer.sent", {{"offer", o.id}, {"service", o.service}, {"recipient", pseudonym_(o.recipient_code)},
                              {"channel", channel}, {"attempt", attempt}});
        ++stats.sent;
        break;
      case SendOutcome::Kind::kTransient:
        if (attempt >= options_.max_attempts) {
          ENNAKKO_RETURN_IF_ERROR(outbox_.MarkFailed(o.id, channel, "gave up after " + std::to_string(attempt) + " attempts: " + out.detail, attempt));
          audit_("offer.failed", {{"offer", o.id}, {"channel", channel}, {"attempt", attempt}, {"reason", out.detail}});
          ++stats.failed;
        } else {
          auto delay = Backoff(attempt);
          ENNAKKO_RETURN_IF_ERROR(outbox_.MarkRetry(o.id, channel, out.detail, attempt, delay));
          audit_("offer.retry", {{"offer", o.id}, {"channel", channel}, {"attempt", attempt},
                                 {"delay_ms", delay.count()}, {"reason", out.detail}});
          ++stats.retried;
        }
        break;
      case SendOutcome::Kind::kPermanent:
        ENNAKKO_RETURN_IF_ERROR(outbox_.MarkFailed(o.id, channel, out.detail, attempt));
        audit_("offer.failed", {{"offer", o.id}, {"channel", channel}, {"attempt", attempt}, {"reason", out.detail}});
        ++stats.failed;
        break;
    }
  }
  ENNAKKO_RETURN_IF_ERROR(tx.Commit());
  return stats;
}

}  // namespace ennakko
