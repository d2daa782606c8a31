#include "engine/dispatch/dispatcher.h"

#include <algorithm>
#include <cmath>
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
  // Who sends it, why, how to object: the template's own sections fill their placeholders.
  std::map<std::string, std::string> all = values;
  all.emplace("sender", it->second.sender);
  all.emplace("reason", it->second.reason);
  all.emplace("objection", it->second.objection);
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
      auto v = all.find(name);
      if (v != all.end()) r += v->second;
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
    : options_(std::move(options)),
      db_(db),
      outbox_(db, clock),
      channels_(std::move(channels)),
      audit_(std::move(audit)),
      pseudonym_(std::move(pseudonym)),
      clock_(clock) {
  for (const auto& [name, channel] : channels_) {
    auto limit = options_.rate_limits.find(name);
    buckets_[name] = std::make_unique<TokenBucket>(limit == options_.rate_limits.end() ? RateLimit{} : limit->second, clock);
    breakers_[name] = std::make_unique<CircuitBreaker>(
        name, options_.circuit_breaker, clock, [this](std::string_view ch, CircuitBreaker::State state) {
          if (MetricsRegistry* m = metrics_.load()) {
            m->Set("ennakko_channel_circuit_state", {{"channel", std::string(ch)}}, static_cast<double>(state));
          }
        });
  }
}

void Dispatcher::SetMetrics(MetricsRegistry* metrics) {
  metrics_ = metrics;
  if (!metrics) return;
  metrics->Describe("ennakko_channel_circuit_state", "gauge",
                    "Circuit breaker of each channel: 0 closed, 1 open, 2 half-open.");
  metrics->Describe("ennakko_offers_held_total", "counter",
                    "Offers left queued for later, by channel and reason (quiet_hours, rate_limit, circuit_open, mailbox_unknown).");
  metrics->Describe("ennakko_mailbox_checks_total", "counter", "Suomi.fi mailbox status checks by result (ok, failed).");
  metrics->Describe("ennakko_mailbox_recipients_checked_total", "counter", "Recipients whose Suomi.fi mailbox status was asked.");
  for (const auto& [name, breaker] : breakers_) {
    metrics->Set("ennakko_channel_circuit_state", {{"channel", name}}, static_cast<double>(breaker->state()));
  }
}

CircuitBreaker::State Dispatcher::circuit_state(const std::string& channel) {
  auto it = breakers_.find(channel);
  return it == breakers_.end() ? CircuitBreaker::State::kClosed : it->second->state();
}

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

constexpr char kNoMailbox[] = "no active Suomi.fi mailbox";

nlohmann::json SkippedJson(const std::vector<std::pair<std::string, std::string>>& skipped) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [channel, reason] : skipped) out.push_back({{"channel", channel}, {"reason", reason}});
  return out;
}
}  // namespace

Result<std::vector<std::string>> Dispatcher::FailedChannels(int64_t offer_id) {
  auto st = db_.Prepare("SELECT DISTINCT channel FROM deliveries WHERE outbox_id = ? AND status = 'permanent_failure'");
  if (!st.ok()) return st.status();
  st->Bind(1, offer_id);
  std::vector<std::string> out;
  for (;;) {
    auto row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(st->Text(0));
  }
  return out;
}

std::string Dispatcher::Unreachable(const std::string& name, const Recipient& r,
                                    const std::vector<std::string>& failed_before, bool* unknown) {
  auto it = channels_.find(name);
  if (it == channels_.end()) return "not configured";
  if (std::find(failed_before.begin(), failed_before.end(), name) != failed_before.end()) {
    return "failed permanently on an earlier attempt";
  }
  if (name == "paper" && r.address_protected) return "protected address";
  if (std::string why = it->second->CannotReach(r); !why.empty()) return why;
  if (name == "suomifi" && mailbox_) {
    auto active = mailbox_->Active(r.hetu);
    if (active.ok() && active->has_value()) return **active ? "" : kNoMailbox;
    *unknown = true;
    return "Suomi.fi mailbox status unknown";
  }
  return "";
}

std::optional<Dispatcher::Hold> Dispatcher::Gate(const std::string& channel, bool at_claim) {
  const auto now = clock_.Now();
  if (auto q = options_.quiet_hours.find(channel); q != options_.quiet_hours.end()) {
    if (auto until = q->second.HeldUntil(now)) {
      return Hold{*until, "quiet_hours", "quiet hours " + q->second.ToString() + " on " + channel};
    }
  }
  CircuitBreaker& breaker = *breakers_.at(channel);
  if (breaker.Blocks()) return Hold{breaker.RetryAt(), "circuit_open", "circuit open on " + channel};
  TokenBucket& bucket = *buckets_.at(channel);
  if (!bucket.TryTake()) {
    auto until = now + std::max(std::chrono::milliseconds(1), bucket.WaitFor(0));
    if (at_claim) {
      auto& slot = token_slots_[channel];
      const auto interval = std::chrono::microseconds(static_cast<int64_t>(1e6 / bucket.per_second()));
      slot = std::max(until, slot + std::chrono::duration_cast<std::chrono::system_clock::duration>(interval));
      until = slot;
    }
    return Hold{until, "rate_limit", "rate limit on " + channel};
  }
  if (!breaker.Admit()) return Hold{breaker.RetryAt(), "circuit_open", "circuit half-open on " + channel + ": a probe is out"};
  return std::nullopt;
}

ChannelChoice Dispatcher::ChooseAtClaim(const ClaimedOffer& offer) {
  const RuleSpec* rule = RuleFor(offer.service);
  if (!rule) return {"", "the service's rule is not loaded"};
  std::vector<std::string> failed_before;
  if (offer.attempts > 0) {
    auto failed = FailedChannels(offer.id);
    if (failed.ok()) failed_before = std::move(*failed);
  }
  Recipient r = ToRecipient(offer, pseudonym_);
  Plan plan;
  for (const std::string& name : rule->channels) {
    bool unknown = false;
    std::string why = Unreachable(name, r, failed_before, &unknown);
    if (unknown && plan.candidates.empty()) {
      // Suomi.fi comes first for this recipient and we do not know whether the mailbox is
      // active: wait for a successful check rather than silently choose the next channel.
      auto wait = mailbox_check_failed_ ? options_.mailbox_retry : std::chrono::milliseconds(1000);
      Hold hold{clock_.Now() + wait, "mailbox_unknown",
                mailbox_check_failed_ ? "the Suomi.fi mailbox check failed; retrying" : "Suomi.fi mailbox status not yet checked"};
      claim_holds_.emplace_back(offer.id, name, hold);
      return {"", hold.reason, hold.until};
    }
    if (!why.empty()) {
      plan.skipped.emplace_back(name, std::move(why));
      continue;
    }
    plan.candidates.push_back(name);
  }
  if (plan.candidates.empty()) {
    std::string why;
    for (const auto& [name, reason] : plan.skipped) why += (why.empty() ? "" : "; ") + name + ": " + reason;
    return {"", why.empty() ? "no channels listed" : why};
  }
  const std::string& chosen = plan.candidates.front();
  if (auto hold = Gate(chosen, true)) {
    claim_holds_.emplace_back(offer.id, chosen, *hold);
    return {"", hold->reason, hold->until};
  }
  ChannelChoice choice{chosen, ""};
  plans_[offer.id] = std::move(plan);
  return choice;
}

void Dispatcher::RefreshMailboxes() {
  mailbox_check_failed_ = false;
  if (!mailbox_ || !channels_.contains("suomifi") || !rules_) return;
  // The recipients of the offers the next claim will look at (same order and filter), for the
  // services whose channel list has suomifi.
  auto st = db_.Prepare(
      "SELECT o.service, r.hetu FROM outbox o JOIN residents r ON r.id = o.recipient_id WHERE o.state = 'queued' "
      "AND o.next_attempt_at <= ? AND o.service NOT IN (SELECT service FROM service_pauses) "
      "ORDER BY o.next_attempt_at, o.id LIMIT ?");
  if (!st.ok()) return;
  st->Bind(1, FormatTimestamp(clock_.Now())).Bind(2, options_.batch_size);
  std::vector<std::string> codes;
  for (;;) {
    auto row = st->Step();
    if (!row.ok() || !*row) break;
    const RuleSpec* rule = RuleFor(st->Text(0));
    if (rule && std::find(rule->channels.begin(), rule->channels.end(), "suomifi") != rule->channels.end()) {
      codes.push_back(st->Text(1));
    }
  }
  if (codes.empty()) return;
  auto refreshed = mailbox_->Refresh(codes);
  MetricsRegistry* m = metrics_.load();
  if (!refreshed.ok()) {
    mailbox_check_failed_ = true;
    spdlog::warn("dispatch: Suomi.fi mailbox check failed; offers that would go to Suomi.fi wait {} ms: {}",
                 options_.mailbox_retry.count(), refreshed.status().ToString());
    if (m) m->Add("ennakko_mailbox_checks_total", {{"result", "failed"}});
    return;
  }
  if (m && refreshed->calls > 0) {
    m->Add("ennakko_mailbox_checks_total", {{"result", "ok"}}, refreshed->calls);
    m->Add("ennakko_mailbox_recipients_checked_total", {}, refreshed->asked);
  }
}

std::chrono::milliseconds Dispatcher::Backoff(int attempt) {
  double base = static_cast<double>(options_.initial_backoff.count()) * std::pow(2.0, std::max(0, attempt - 1));
  base = std::min(base, static_cast<double>(options_.max_backoff.count()));
  std::uniform_real_distribution<double> jitter(0.5, 1.0);  // "equal jitter": spread retries out
  return std::chrono::milliseconds(static_cast<int64_t>(base * jitter(jitter_)));
}

Result<int> Dispatcher::Recover() {
  auto recovered = outbox_.RecoverInFlight([&](const std::string& channel) {
    auto it = channels_.find(channel);
    if (it == channels_.end()) return Outbox::ChannelKind::kNeither;  // not configured now: ask
    if (it->second->idempotent()) return Outbox::ChannelKind::kIdempotent;
    return it->second->marks_handover() ? Outbox::ChannelKind::kMarksHandover : Outbox::ChannelKind::kNeither;
  }, [&](const std::string& channel) { return ReceiptWithin(channel); });
  if (!recovered.ok()) return recovered.status();
  ENNAKKO_RETURN_IF_ERROR(outbox_.PostponeReceiptDeadlines([&](const std::string& channel) { return ReceiptWithin(channel); }));
  if (recovered->requeued > 0 || recovered->presumed_sent > 0) {
    spdlog::info("dispatch: {} offer(s) cut off by the previous stop go out again; {} had been handed to their "
                 "gateway and count as sent, unconfirmed, {} of them until a delivery report proves it or its "
                 "time runs out (then sent again once)",
                 recovered->requeued, recovered->presumed_sent, recovered->awaiting_receipt);
    audit_("offer.recovered", {{"requeued", recovered->requeued}, {"presumed_sent", recovered->presumed_sent},
                               {"awaiting_receipt", recovered->awaiting_receipt}});
  }
  if (recovered->in_doubt > 0) {
    spdlog::warn("{} offers were being sent on a non-idempotent channel when the previous process stopped; "
                 "they are held as in_doubt for an operator instead of risking a duplicate", recovered->in_doubt);
    audit_("offer.in_doubt", {{"count", recovered->in_doubt}});
  }
  return recovered->in_doubt;
}

void Dispatcher::AuditHolds(const std::vector<std::tuple<int64_t, std::string, Hold>>& holds) {
  // One event per (channel, reason): a night of quiet hours holds thousands of offers at once.
  std::map<std::pair<std::string, std::string>, std::pair<nlohmann::json, std::chrono::system_clock::time_point>> groups;
  for (const auto& [id, channel, hold] : holds) {
    auto& [ids, until] = groups[{channel, hold.reason}];
    if (ids.is_null()) ids = nlohmann::json::array();
    ids.push_back(id);
    until = std::max(until, hold.until);
    if (MetricsRegistry* m = metrics_.load()) m->Add("ennakko_offers_held_total", {{"channel", channel}, {"reason", hold.kind}});
  }
  for (const auto& [key, group] : groups) {
    audit_("offer.held", {{"channel", key.first}, {"reason", key.second}, {"count", group.first.size()},
                          {"offers", group.first}, {"until", FormatTimestamp(group.second)}});
  }
}

std::optional<std::chrono::seconds> Dispatcher::ReceiptWithin(const std::string& channel) const {
  auto it = channels_.find(channel);
  if (it == channels_.end()) return std::nullopt;
  return it->second->receipt_within();
}

Status Dispatcher::ResendUnconfirmed() {
  auto u = outbox_.ResendUnconfirmed();
  if (!u.ok()) return u.status();
  if (!u->resent.empty()) {
    spdlog::warn("dispatch: {} offer(s) handed to their gateway when a send was cut off got no delivery report in "
                 "time: the gateway never had them; they are sent again", u->resent.size());
    audit_("offer.resent_unconfirmed", {{"count", u->resent.size()}, {"offers", u->resent}});
  }
  if (!u->in_doubt.empty()) {
    spdlog::error("dispatch: {} offer(s) got no delivery report after a resend either; held in_doubt for an operator "
                  "(does Kannel reach replies.dlr_url, and retry it?)", u->in_doubt.size());
    audit_("offer.in_doubt", {{"count", u->in_doubt.size()}, {"offers", u->in_doubt},
                              {"reason", "no delivery report after a resend"}});
  }
  return Status::Ok();
}

Result<DrainStats> Dispatcher::DrainOnce(const std::atomic<bool>& stop) {
  DrainStats stats;
  if (!rules_) return stats;
  ENNAKKO_RETURN_IF_ERROR(ResendUnconfirmed());
  RefreshMailboxes();
  plans_.clear();
  claim_holds_.clear();
  std::vector<std::pair<int64_t, std::string>> unreachable;
  auto claimed = outbox_.ClaimDue(options_.batch_size, [&](const ClaimedOffer& o) { return ChooseAtClaim(o); }, &unreachable);
  if (!claimed.ok()) return claimed.status();
  for (const auto& [id, why] : unreachable) {
    audit_("offer.failed", {{"offer", id}, {"reason", "no channel can reach the recipient: " + why}});
    ++stats.failed;
  }
  stats.held = static_cast<int>(claim_holds_.size());
  AuditHolds(claim_holds_);
  std::vector<ClaimedOffer>& offers = *claimed;
  stats.claimed = static_cast<int>(offers.size());
  if (offers.empty()) return stats;

  struct Attempt {
    bool attempted = false;
    std::vector<std::pair<std::string, SendOutcome>> tries;  // channel, outcome (fallbacks in order)
    std::optional<std::pair<std::string, Hold>> hold;        // waits for this channel instead
    bool mailbox_inactive = false;                           // Suomi.fi said MAILBOX_NOT_IN_USE
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
      const Plan& plan = plans_.at(o.id);
      Attempt& a = attempts[i];
      a.attempted = true;
      std::string title = rule ? (rule->title.count(o.recipient_language) ? rule->title.at(o.recipient_language) : rule->title.at("fi")) : "";
      // Rendered per channel: a reply link belongs in an email, not in an SMS (message_values_).
      auto render = [&](const std::string& channel) {
        std::map<std::string, std::string> values = {{"child_first_name", o.subject_first_name}, {"period", o.period},
                                                     {"service_title", title}, {"reply_code", ReplyCode(o.id)}};
        if (message_values_) message_values_(o, channel, values);
        RenderedMessage m = RenderMessage(*rule, o.recipient_language, values);
        OutgoingMessage msg{o.id, o.idem_key, o.service, ToRecipient(o, pseudonym_), m.title, m.body};
        if (channels_.at(channel)->marks_handover()) {
          // Durable before the gateway can accept: after a crash, RecoverInFlight knows whether
          // this message may have left (channel.h). The thread running DrainOnce takes part in
          // the sends, so nobody else uses the connection meanwhile; the mutex orders the workers.
          msg.handover = [this, id = o.id, channel] {
            std::lock_guard lock(handover_mu_);
            Status st = outbox_.MarkHandedOver(id, channel);
            if (!st.ok()) spdlog::error("dispatch: offer {}: could not record the hand-over: {}", id, st.ToString());
            return st.ok();
          };
        }
        return msg;
      };
      for (size_t k = 0; k < plan.candidates.size(); ++k) {
        const std::string& channel = plan.candidates[k];
        // The chosen channel passed its gates at claim time; its circuit may have opened since.
        // A fallback channel passes them now (quiet hours, token, circuit).
        CircuitBreaker& breaker = *breakers_.at(channel);
        if (k == 0 && breaker.Blocks()) {
          a.hold.emplace(channel, Hold{breaker.RetryAt(), "circuit_open", "circuit open on " + channel});
          break;
        }
        if (k > 0) {
          if (auto hold = Gate(channel, false)) {
            a.hold.emplace(channel, *hold);
            break;
          }
        }
        if (k > 0) {
          // A fallback: record the channel now in use, and that nothing is handed over on it yet,
          // so a crash during this try is judged by this channel (RecoverInFlight).
          std::lock_guard lock(handover_mu_);
          Status st = outbox_.MoveToChannel(o.id, channel);
          if (!st.ok()) {
            a.tries.emplace_back(channel, SendOutcome::Transient("could not record the fallback: " + st.message()));
            break;
          }
        }
        OutgoingMessage msg = render(channel);
        SendOutcome out = channels_.at(channel)->Send(msg);
        if (out.kind == SendOutcome::Kind::kTransient) breaker.RecordTransientFailure(); else breaker.RecordSuccess();
        if (channel == "suomifi" && out.kind == SendOutcome::Kind::kPermanent && out.detail == kNoMailbox) {
          a.mailbox_inactive = true;
        }
        a.tries.emplace_back(channel, std::move(out));
        if (a.tries.back().second.kind != SendOutcome::Kind::kPermanent) break;
        // Permanent on this channel: fall back to the next one that can reach the recipient.
      }
    }
  };
  // While the sends run, the only writes are hand-over records, and each must be visible to a
  // restart before the message's last byte leaves. With synchronous=FULL a commit is visible to
  // a restart as soon as its WAL frame is written, but returns only after the fsync: a crash in
  // that fsync would leave a hand-over recorded for a message that never left. NORMAL commits
  // without the fsync, shrinking that window to a write(); they still survive a process crash.
  // The batch's outcomes below are committed with the configured level again, which also makes
  // the hand-over records durable against power loss.
  std::optional<int64_t> sync_level;
  if (auto q = db_.Prepare("PRAGMA synchronous"); q.ok()) {
    if (auto row = q->Step(); row.ok() && *row) sync_level = q->Int(0);
  }
  if (sync_level && *sync_level > 1) (void)db_.Exec("PRAGMA synchronous = NORMAL");
  // Likewise no WAL checkpoint inside a hand-over's commit (it would run after the commit became
  // visible, with fsyncs, before the last byte leaves); the batch's commit below, or the daemon's
  // WalCheckpointer thread, does it.
  std::optional<int64_t> autocheckpoint;
  if (auto q = db_.Prepare("PRAGMA wal_autocheckpoint"); q.ok()) {
    if (auto row = q->Step(); row.ok() && *row) autocheckpoint = q->Int(0);
  }
  if (autocheckpoint && *autocheckpoint > 0) (void)db_.Exec("PRAGMA wal_autocheckpoint = 0");
  int n_threads = std::min<int>(options_.workers, static_cast<int>(offers.size()));
  std::vector<std::thread> threads;
  for (int t = 1; t < n_threads; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  if (sync_level && *sync_level > 1) {
    ENNAKKO_RETURN_IF_ERROR(db_.Exec("PRAGMA synchronous = " + std::to_string(*sync_level)));
  }
  if (autocheckpoint && *autocheckpoint > 0) {
    ENNAKKO_RETURN_IF_ERROR(db_.Exec("PRAGMA wal_autocheckpoint = " + std::to_string(*autocheckpoint)));
  }

  // Channels that make their sends durable per batch (the file channel) do it now, before the
  // outcomes are committed; a failure makes those sends transient failures (retried).
  std::map<std::string, Status> flushed;
  for (const Attempt& a : attempts) {
    if (!a.hold && !a.tries.empty() && a.tries.back().second.kind == SendOutcome::Kind::kSent) {
      flushed.emplace(a.tries.back().first, Status::Ok());
    }
  }
  for (auto& [name, st] : flushed) {
    st = channels_.at(name)->Flush();
    if (!st.ok()) spdlog::error("dispatch: channel {} could not make its sends durable: {}", name, st.ToString());
  }
  for (Attempt& a : attempts) {
    if (a.hold || a.tries.empty() || a.tries.back().second.kind != SendOutcome::Kind::kSent) continue;
    const Status& st = flushed.at(a.tries.back().first);
    if (!st.ok()) a.tries.back().second = SendOutcome::Transient(st.message());
  }

  std::vector<std::tuple<int64_t, std::string, Hold>> send_holds;
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
    if (a.mailbox_inactive && mailbox_) (void)mailbox_->MarkInactive(o.recipient_code);
    const int attempt = a.tries.empty() ? o.attempts : o.attempts + 1;
    // Every try but the last failed permanently (the last one too when the offer now waits).
    const size_t failed_tries = a.hold ? a.tries.size() : a.tries.size() - 1;
    for (size_t k = 0; k < failed_tries; ++k) {
      ENNAKKO_RETURN_IF_ERROR(outbox_.RecordChannelFailure(o.id, attempt, a.tries[k].first, a.tries[k].second.detail));
      audit_("offer.channel_failed", {{"offer", o.id}, {"channel", a.tries[k].first}, {"reason", a.tries[k].second.detail}});
    }
    if (a.hold) {
      ENNAKKO_RETURN_IF_ERROR(outbox_.Hold(o.id, a.hold->second.until, a.hold->second.reason, attempt));
      send_holds.emplace_back(o.id, a.hold->first, a.hold->second);
      ++stats.held;
      continue;
    }
    const auto& [channel, out] = a.tries.back();
    switch (out.kind) {
      case SendOutcome::Kind::kSent: {
        ENNAKKO_RETURN_IF_ERROR(outbox_.MarkSent(o.id, channel, out.gateway_ref, attempt));
        nlohmann::json fields = {{"offer", o.id}, {"service", o.service}, {"recipient", pseudonym_(o.recipient_code)},
                                 {"channel", channel}, {"attempt", attempt}};
        const Plan& plan = plans_.at(o.id);
        if (!plan.skipped.empty()) fields["skipped"] = SkippedJson(plan.skipped);
        audit_("offer.sent", fields);
        ++stats.sent;
        break;
      }
      case SendOutcome::Kind::kTransient:
        if (out.ambiguous && !channels_.at(channel)->idempotent()) {
          // The gateway may have accepted it (channel.h): sending it again could deliver it twice.
          // Recorded as sent, unconfirmed; on a channel with delivery reports, one must come in
          // time (ResendUnconfirmed).
          std::optional<std::chrono::system_clock::time_point> confirm_by;
          if (auto wait = ReceiptWithin(channel)) confirm_by = clock_.Now() + *wait;
          ENNAKKO_RETURN_IF_ERROR(outbox_.MarkSent(o.id, channel, "", attempt, "unconfirmed: " + out.detail, confirm_by));
          audit_("offer.sent", {{"offer", o.id}, {"service", o.service}, {"recipient", pseudonym_(o.recipient_code)},
                                {"channel", channel}, {"attempt", attempt}, {"unconfirmed", out.detail}});
          ++stats.sent;
          break;
        }
        if (attempt >= options_.max_attempts) {
          ENNAKKO_RETURN_IF_ERROR(outbox_.MarkFailed(o.id, channel, "gave up after " + std::to_string(attempt) + " attempts: " + out.detail, attempt));
          audit_("offer.failed", {{"offer", o.id}, {"channel", channel}, {"attempt", attempt}, {"reason", out.detail}});
          ++stats.failed;
        } else {
          auto delay = std::max(Backoff(attempt), out.retry_after.value_or(std::chrono::milliseconds(0)));
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
  // The audit trail first: a crash between the two leaves events for outcomes that roll back
  // (the offers are then resolved again at start, and audited again), never the reverse.
  if (audit_flush_) ENNAKKO_RETURN_IF_ERROR(audit_flush_());
  ENNAKKO_RETURN_IF_ERROR(tx.Commit());
  AuditHolds(send_holds);
  return stats;
}

}  // namespace ennakko
