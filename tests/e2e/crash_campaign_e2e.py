#!/usr/bin/env python3
"""Crash test: kill -9 `ennakko serve` at random moments during a campaign of more than 5,000
offers, 20 times or more, restart it each time, and check at the gateways that every eligible
recipient got exactly one message.

The gateways are real processes: Kannel (bearerbox + fakesmsc + smsbox) for SMS, an SMTP server
(aiosmtpd) on loopback for email, and the Suomi.fi Messages double (suomifi_fake) for Suomi.fi.
The campaign is a test rule (`crash-campaign`, offered to the residents themselves, channels
suomifi → sms → email) over a synthetic demo city, so that every message names one recipient.

Steps:
  1. Start the three gateways; generate the city; write the config and the rules directory (the
     repository's rules plus the campaign rule).
  2. Loop: start the daemon; wait until it is sending (the count of sent offers grows) — or, every
     fourth round, not at all, so that some kills land during loading and evaluation — then wait
     a random 0–400 ms and SIGKILL it. At least KILLS rounds, each with a random moment.
  3. Start it once more and let it finish: nothing queued or sending is left.
  4. Count at the gateways: messages per recipient across Suomi.fi (recipient id), fakesmsc (the
     phone number) and SMTP (the envelope recipient). Every offer of the campaign that the outbox
     says was sent has exactly one message; nobody else got one; no offer is left in_doubt; the
     offers that failed are exactly those no channel can reach.
  5. `ennakko audit verify` exits 0 on the audit log written across all those crashes.

Usage: crash_campaign_e2e.py --ennakko BIN --suomifi-fake BIN [--repo SRC] [--kills N] [--keep]
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_support import CheckFailed, Daemon, check, free_port, query, run, wait_until, yaml_str  # noqa: E402
from kannel_harness import KannelHarness  # noqa: E402
from smtp_harness import SmtpHarness  # noqa: E402

SEED = 4242
RESIDENTS = 27000
MIN_OFFERS = 5000
PSEUDONYM_KEY = "crash-e2e-pseudonym-key-not-secret-0123"
SERVICE = "crash-campaign"

CAMPAIGN_RULE = """\
# A test campaign for crash_campaign_e2e.py: every resident aged 25-39 is invited, once a year.
service: crash-campaign
version: 1
title:
  fi: Kutsu
  sv: Inbjudan
  en: Invitation
owner: Test
mode: offer
subject: person
data_held:
  facts: [subject.birth_date, subject.alive, subject.municipality]
permission:
  basis: public-task
  reference: "test"
obligation:
  statute: "test"
  summary: A test campaign.
eligibility:
  applies_to: >
    year(today) - year(subject.birth_date) >= 25
    && year(today) - year(subject.birth_date) <= 39
  when: subject.alive && subject.municipality == params.city_code
benefit:
  resident_minutes_saved: 1
  city_eur_saved: 1
offer:
  to: "[subject]"
  channels: [suomifi, sms, email]
  period: year(today)
  messages: messages.yaml
"""

CAMPAIGN_MESSAGES = """\
fi:
  title: "Kutsu {{period}}"
  sender: "Helsingin kaupunki"
  reason: "Sait viestin, koska asut kunnassa."
  objection: "Et halua viestejä: vastaa STOP."
  body: |
    {{sender}} kutsuu sinut ({{period}}). Vastaa KYLLÄ {{reply_code}} tai EI {{reply_code}}. {{reason}} {{objection}}
sv:
  title: "Inbjudan {{period}}"
  sender: "Helsingfors stad"
  reason: "Du fick meddelandet eftersom du bor i kommunen."
  objection: "Inga meddelanden: svara STOP."
  body: |
    {{sender}} bjuder in dig ({{period}}). Svara JA {{reply_code}} eller NEJ {{reply_code}}. {{reason}} {{objection}}
en:
  title: "Invitation {{period}}"
  sender: "The City of Helsinki"
  reason: "You got this because you live in the city."
  objection: "To object, reply STOP."
  body: |
    {{sender}} invites you ({{period}}). Reply YES {{reply_code}} or NO {{reply_code}}. {{reason}} {{objection}}
"""


# Slow enough that the campaign is still under way at the last kill.
RATE_LIMITED = """\
  rate_limits: {sms: {per_second: 100, burst: 100}, suomifi: {per_second: 100, burst: 100},
                email: {per_second: 20, burst: 20}}"""


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ennakko", required=True)
    p.add_argument("--suomifi-fake", required=True)
    p.add_argument("--repo", default=str(Path(__file__).resolve().parents[2]))
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--seed", type=int, default=None, help="random seed for the kill moments")
    p.add_argument("--keep", action="store_true")
    return p.parse_args()


class SuomiFiFake:
    def __init__(self, binary: str) -> None:
        self.proc = subprocess.Popen([binary, "--port", "0"], stdout=subprocess.PIPE, text=True)
        self.base = "http://127.0.0.1:" + self.proc.stdout.readline().strip()

    def messages(self) -> list[dict]:
        with urllib.request.urlopen(self.base + "/_test/messages", timeout=10) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def write_setup(tmp: Path, repo: Path, sendsms_url: str, kannel: KannelHarness, smtp: SmtpHarness,
                suomifi: SuomiFiFake, port: int, timeout_ms: int = 10000,
                dispatch: str = RATE_LIMITED) -> Path:
    rules = tmp / "rules"
    shutil.copytree(repo / "rules" / "params", rules / "params")
    shutil.copytree(repo / "rules" / "definitions", rules / "definitions")
    (rules / SERVICE).mkdir(parents=True)
    (rules / SERVICE / "rule.yaml").write_text(CAMPAIGN_RULE, encoding="utf-8")
    (rules / SERVICE / "messages.yaml").write_text(CAMPAIGN_MESSAGES, encoding="utf-8")
    (tmp / "store").mkdir()
    config = tmp / "ennakko.yaml"
    config.write_text(f"""\
# Written by crash_campaign_e2e.py
store:
  path: store/ennakko.db
audit:
  path: audit/audit.jsonl
  pseudonym_key: {yaml_str(PSEUDONYM_KEY)}
rules:
  directory: {yaml_str(str(rules))}
population:
  kind: file-drop
  directory: population
  poll_every_seconds: 1
channels:
  suomifi:
    base_url: {yaml_str(suomifi.base)}
    username: ennakko
    password: test-password
    service_id: ennakko-crash-test
    timeout_ms: {timeout_ms}
  sms:
    sendsms_url: {yaml_str(sendsms_url)}
    timeout_ms: {timeout_ms}
    username: {yaml_str(kannel.username)}
    password: {yaml_str(kannel.password)}
    from: Helsinki
  email:
    smtp_url: {yaml_str(smtp.url)}
    require_starttls: false
    from: ennakko@example.invalid
    timeout_ms: {timeout_ms}
dispatch:
  # Runs at any hour: no SMS quiet hours (they have their own unit tests).
  quiet_hours: {{sms: {{start: "00:00", end: "00:00"}}}}
{dispatch}
replies:
  signing_key: "crash-e2e-signing-key-not-secret-0123456789"
  link_base_url: "http://127.0.0.1:{port}/reply"
  # Kannel's delivery reports: an SMS cut off after its hand-over waits this long for one, and is
  # sent again if none comes (Kannel never had it).
  dlr_url: "http://127.0.0.1:{port}/api/v1/sms/dlr"
  receipt_wait_seconds: 20
http:
  address: 127.0.0.1
  port: {port}
log:
  level: info
""", encoding="utf-8")
    return config


def sent_count(c: dict[str, int]) -> int:
    return c.get("sent", 0) + c.get("delivered", 0)


def counts(db: Path) -> dict[str, int]:
    rows = query(db, "SELECT state, count(*) FROM outbox WHERE service = ? GROUP BY state", (SERVICE,))
    return dict(rows)


# The last_error of an offer recorded as sent at a restart because its message had been handed over.
HANDOVER_CUT = "unconfirmed: the process stopped after handing the message to the gateway"


def awaiting_receipt(db: Path) -> int:
    return query(db, "SELECT count(*) FROM outbox WHERE service = ? AND state = 'sent' AND confirm_by IS NOT NULL",
                 (SERVICE,))[0][0]


def check_exactly_once(db: Path, kannel: KannelHarness, smtp: SmtpHarness, suomifi: SuomiFiFake,
                       elapsed: float, when: str, min_offers: int = MIN_OFFERS, max_lost: int = 0) -> None:
    """Every offer of the campaign is sent (exactly one message at the gateways for its recipient)
    or failed because no channel can reach its recipient; nobody else got a message."""
    rows = query(db, """SELECT o.id, o.state, o.channel, o.last_error, r.hetu, r.phone, r.email
                        FROM outbox o JOIN residents r ON r.id = o.recipient_id
                        WHERE o.service = ?""", (SERVICE,))
    by_state = collections.Counter(r[1] for r in rows)
    print(f"outbox {when}: {dict(by_state)} ({elapsed:.1f} s in all)")
    check(len(rows) >= min_offers, f"the campaign has at least {min_offers} offers ({len(rows)})")
    check(by_state.get("in_doubt", 0) == 0, "no offer is left in_doubt",
          str([r[:4] for r in rows if r[1] == "in_doubt"][:5]))
    failed = [r for r in rows if r[1] == "failed"]
    # The Suomi.fi double gives a mailbox to odd individual numbers (suomifi_fake's default).
    def reachable(hetu: str, phone, email) -> bool:
        return int(hetu[7:10]) % 2 == 1 or bool(phone) or bool(email)
    wrongly_failed = [r[:4] for r in failed if reachable(r[4], r[5], r[6])]
    check(not wrongly_failed, f"only offers no channel can reach failed ({len(failed)} failed)",
          str(wrongly_failed[:5]))
    sent = [r for r in rows if r[1] in ("sent", "delivered")]  # delivered: Kannel reported it
    check(len(sent) + len(failed) == len(rows), "every offer is sent (or delivered) or unreachable",
          str(dict(by_state)))

    # Kannel queues what it accepted and passes it on to the fake SMSC a little later: wait until
    # the SMSC has as many messages as the outbox sent by SMS, and then until nothing more arrives.
    sms_sent = sum(1 for r in sent if r[2] == "sms")
    try:
        wait_until(f"the fake SMSC to receive the {sms_sent} SMS sent",
                   lambda: len(kannel.sent_messages()) >= sms_sent, timeout=60, interval=0.5)
    except CheckFailed as e:
        print(f"note: {e}; the count below names the offers")
    settled, last = time.monotonic(), -1
    while time.monotonic() - settled < 3:
        now = len(kannel.sent_messages()) + len(smtp.received()) + len(suomifi.messages())
        if now != last:
            settled, last = time.monotonic(), now
        time.sleep(0.5)
    received: collections.Counter = collections.Counter()
    for m in suomifi.messages():
        received[("suomifi", m["recipientId"])] += 1
    for m in kannel.sent_messages():
        received[("sms", m.receiver)] += 1
    for m in smtp.received():
        for to in m.rcpt_tos:
            received[("email", to)] += 1
    expected = set()
    problems = []
    lost_in_handover = []
    for oid, _, channel, last_error, hetu, phone, email in sent:
        per_channel = {"suomifi": received[("suomifi", hetu)],
                       "sms": received[("sms", phone)] if phone else 0,
                       "email": received[("email", email)] if email else 0}
        total = sum(per_channel.values())
        if total == 0 and channel == "email" and (last_error or "").startswith(HANDOVER_CUT):
            # SMTP has neither idempotency nor receipts: a kill between the durable hand-over
            # record and the last byte leaves a message counted as sent that never left (never
            # one sent twice). docs/architecture.md, "Exactly once". Reported, not hidden.
            lost_in_handover.append(oid)
        elif total != 1:
            problems.append(f"offer {oid} (channel {channel}, {last_error}): {per_channel}")
        expected.update({("suomifi", hetu), ("sms", phone), ("email", email)})
    if lost_in_handover:
        print(f"note: {len(lost_in_handover)} email offer(s) cut off between the hand-over record and the "
              f"last byte, counted as sent, never left (SMTP has no receipts): {lost_in_handover}")
    # At most one message per send worker (4, the default) can be in that window when a kill lands:
    # more would mean the hand-over is recorded too early.
    check(len(lost_in_handover) <= max_lost, f"email offers lost in the hand-over window: {len(lost_in_handover)} "
          f"(at most {max_lost}: 4 workers a kill)")
    strays = [k for k in received if k not in expected]
    check(not problems, f"every sent offer reached its recipient exactly once at the gateways "
          f"({len(problems)} did not)", "\n".join(problems[:20]))
    check(not strays, "no message went to anyone outside the campaign", str(len(strays)))
    by_gateway = collections.Counter(k[0] for k in received.elements())
    print(f"messages at the gateways: {dict(by_gateway)}; {len(sent)} recipients, exactly one each; "
          f"{len(failed)} unreachable")



def body() -> None:
    args = parse_args()
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="ennakko-e2e-crash-"))
    print(f"temporary directory: {tmp}")
    daemons: list[Daemon] = []
    suomifi = SuomiFiFake(args.suomifi_fake)
    try:
        with KannelHarness(supervise=True) as kannel, SmtpHarness() as smtp:
            _run(args, rng, tmp, kannel, smtp, suomifi, daemons)
    finally:
        for d in daemons:
            d.kill()
        suomifi.stop()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _run(args, rng: random.Random, tmp: Path, kannel: KannelHarness, smtp: SmtpHarness,
         suomifi: SuomiFiFake, daemons: list[Daemon]) -> None:
    gen = run([args.ennakko, "demo", "generate", "--out", str(tmp / "population"),
               "--seed", str(SEED), "--residents", str(RESIDENTS)])
    check(gen.returncode == 0, "demo generate", gen.stderr)
    port = free_port()
    config = write_setup(tmp, Path(args.repo), kannel.sendsms_url, kannel, smtp, suomifi, port)
    db = tmp / "store" / "ennakko.db"

    # 2. Kill -9 at random moments, at least args.kills times.
    kills = 0
    kill_log = []
    t_start = time.monotonic()
    while kills < args.kills:
        d = Daemon(args.ennakko, config, port, tmp, f"run{kills:02d}").start()
        daemons.append(d)
        before = sent_count(counts(db)) if db.exists() else 0
        if kills % 4 == 3:
            moment = rng.uniform(0.0, 1.5)  # anywhere in start-up, loading or evaluation
            time.sleep(moment)
            phase = "start-up"
        else:
            def sending():
                c = counts(db)
                return sent_count(c) > before or (c and not c.get("queued") and not c.get("sending"))
            try:
                wait_until("the daemon to send", sending, timeout=60, interval=0.02)
            except CheckFailed:
                raise CheckFailed(f"round {kills}: nothing sent within 60 s\n" + d.output()[-3000:])
            moment = rng.uniform(0.0, 0.25)
            time.sleep(moment)
            phase = "sending"
        d.kill()
        kills += 1
        c = counts(db) if db.exists() else {}
        kill_log.append((phase, round(moment, 3), sent_count(c)))
        print(f"kill {kills:2d} ({phase}, +{moment:.3f} s): outbox {c}")
        check("stopped cleanly" not in d.output(), "the daemon was killed, not stopped")
    c = counts(db)
    check(c.get("queued", 0) + c.get("sending", 0) > 0,
          "the campaign was still under way after the last kill (otherwise the kills did not test "
          "a campaign in flight)", str(c))

    # 3. A last run to the end.
    final = Daemon(args.ennakko, config, port, tmp, "final").start()
    daemons.append(final)
    final.wait_ready(120)
    wait_until("the outbox to settle (nothing queued or sending, no SMS waiting for its delivery report)",
               lambda: (lambda c: c and not c.get("queued") and not c.get("sending"))(counts(db))
               and not awaiting_receipt(db),
               timeout=300, interval=0.5)
    rc = final.terminate(20)
    check(rc == 0, f"the last run stops cleanly (exit {rc})", final.output()[-2000:])
    elapsed = time.monotonic() - t_start

    # 4. Count at the gateways.
    check_exactly_once(db, kannel, smtp, suomifi, elapsed, f"after {kills} kills", max_lost=4 * kills)

    # The kills did cut sends off: some offers were put back, some counted as handed over.
    recovered = [json.loads(line) for line in (tmp / "audit" / "audit.jsonl").read_text().splitlines()
                 if '"offer.recovered"' in line]
    requeued = sum(e.get("requeued", 0) for e in recovered)
    presumed = sum(e.get("presumed_sent", 0) for e in recovered)
    awaited = sum(e.get("awaiting_receipt", 0) for e in recovered)
    resent = sum(json.loads(line).get("count", 0) for line in (tmp / "audit" / "audit.jsonl").read_text().splitlines()
                 if '"offer.resent_unconfirmed"' in line)
    print(f"recoveries after the kills: {requeued} offers sent again (not handed over or idempotent), "
          f"{presumed} handed over and counted as sent, unconfirmed; of these {awaited} SMS waited for a "
          f"delivery report and {resent} got none in time and were sent again")
    check(requeued + presumed > 0, "the kills cut sends off in flight (the recovery had work to do)")
    # Every send the store has committed has its audit event (the log is flushed before the
    # commit); the ones counted as sent at a restart are audited there, by count.
    audited = {json.loads(line)["offer"] for line in (tmp / "audit" / "audit.jsonl").read_text().splitlines()
               if '"type":"offer.sent"' in line}
    confirmed = {r[0] for r in query(db, "SELECT id FROM outbox WHERE service = ? AND state IN ('sent', 'delivered') AND "
                                         "(last_error IS NULL OR last_error NOT LIKE 'unconfirmed:%')", (SERVICE,))}
    missing = confirmed - audited
    check(not missing, f"every confirmed send has its offer.sent audit event ({len(confirmed)})",
          str(sorted(missing)[:10]))

    # Kannel makes a report call again unless it is answered 200 (http-request-retry). A call that
    # a kill cut off after the daemon recorded it comes again (harmless: a report is idempotent);
    # more repeats than kills would mean answered calls were repeated.
    repeated = query(db, "SELECT outbox_id, attempt, count(*) FROM deliveries WHERE status = 'delivered' "
                         "GROUP BY outbox_id, attempt HAVING count(*) > 1")
    extra = sum(r[2] - 1 for r in repeated)
    check(extra <= kills, f"Kannel repeated only report calls cut off by a kill ({extra} repeats, {kills} kills; "
          "the daemon answers them 200)", str(repeated[:5]))

    # 5. The audit log survived the kills.
    verify = run([args.ennakko, "audit", "verify", "--config", str(config)])
    check(verify.returncode == 0, "audit verify after the crashes", verify.stdout + verify.stderr)
    if kannel.smsbox_restarts:
        print(f"note: Kannel's smsbox died {len(kannel.smsbox_restarts)} time(s) during the kills and was restarted "
              f"(as run_kannel_box does): exit codes {kannel.smsbox_restarts}")
    # It died at almost every kill before the daemon answered Kannel's calls 200 with a connection each.
    check(len(kannel.smsbox_restarts) <= 2, f"Kannel's smsbox survived the daemon's kills "
          f"({len(kannel.smsbox_restarts)} restarts)")
    print(f"crash_campaign_e2e: ok ({kills} kills: {collections.Counter(k[0] for k in kill_log)})")


def main() -> None:
    try:
        body()
    except CheckFailed as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
