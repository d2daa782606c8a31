#!/usr/bin/env python3
"""End-to-end test of the reply loop with a real Kannel: delivery reports, SMS answers, signed
reply links, reminders and expiry, the funnel.

Steps:
  1. Kannel on loopback (kannel_harness.py) whose sms-service get-url is the daemon's
     /api/v1/sms/inbound with the shared secret; a synthetic city of 3,000 residents.
  2. The repository's rules copied with reply_within 4d and remind_after [2d], and the daemon's
     test-only `replies.test_day_seconds: 10` (a rule "day" lasts 10 s): a reminder 20 s after
     delivery, expiry at 40 s. Channels: sms (guardians with a phone), file (the others: their
     message carries the signed reply link).
  3. Every SMS offer gets Kannel's delivery report (fakesmsc reports delivery) -> delivered.
  4. A guardian with one open offer replies "kyllä" through fakesmsc -> replied/accepted,
     audited, and an answer SMS in their language arrives; another replies "mitä?" -> a helpful
     answer SMS, the offer stays open.
  5. A file-channel offer's reply link: GET shows the form and changes nothing, POST accept
     records it, a second POST is refused (409), a forged token is refused (403).
  6. An unanswered SMS offer gets exactly one reminder SMS, then expires; answered ones do not.
  7. `ennakko report funnel` and /metrics show the funnel; audit verify passes; no identity
     code, phone number or e-mail in the audit log or the daemon's output.

Usage: replies_e2e.py [--ennakko BIN] [--repo SRC] [--keep]. Exit status 0 = pass.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_support import (CheckFailed, City, Daemon, check, free_port, main_wrapper,  # noqa: E402
                         parse_args, query, run, scan_for_personal_data, wait_until, yaml_str)
from kannel_harness import KannelHarness  # noqa: E402

SEED = 20262
RESIDENTS = 3000
DAY_SECONDS = 10
SECRET = "e2e-sms-secret-0123456789"
ACCEPTED = {"fi": "KYLLÄ on kirjattu", "sv": "JA har registrerats", "en": "YES has been recorded"}
NOT_UNDERSTOOD = {"fi": "Emme ymmärtäneet", "sv": "Vi förstod inte", "en": "We did not understand"}
REMINDER = {"fi": "Muistutus: ", "sv": "Påminnelse: ", "en": "Reminder: "}


def write_config(tmp: Path, rules: Path, kannel: KannelHarness, port: int) -> Path:
    config = tmp / "ennakko.yaml"
    (tmp / "store").mkdir()
    config.write_text(f"""\
store:
  path: store/ennakko.db
audit:
  path: audit/audit.jsonl
  pseudonym_key: "e2e-pseudonym-key-not-secret-0123456789"
rules:
  directory: {yaml_str(str(rules))}
population:
  kind: file-drop
  directory: population
  poll_every_seconds: 1
channels:
  sms:
    sendsms_url: {yaml_str(kannel.sendsms_url)}
    username: {yaml_str(kannel.username)}
    password: {yaml_str(kannel.password)}
    from: Helsinki
  file:
    directory: offers
dispatch:
  # Runs at any hour: no SMS quiet hours (they have their own unit tests).
  quiet_hours: {{sms: {{start: "00:00", end: "00:00"}}}}
replies:
  signing_key: "e2e-signing-key-not-secret-0123456789"
  link_base_url: "http://127.0.0.1:{port}/reply"
  sms_secret: {yaml_str(SECRET)}
  dlr_url: "http://127.0.0.1:{port}/api/v1/sms/dlr"
  lifecycle_every_seconds: 1
  test_day_seconds: {DAY_SECONDS}
http:
  address: 127.0.0.1
  port: {port}
log:
  level: info
""", encoding="utf-8")
    return config


def short_rules(repo: Path, tmp: Path) -> Path:
    rules = tmp / "rules"
    shutil.copytree(repo / "rules", rules)
    rule = rules / "preschool-offer/rule.yaml"
    text = rule.read_text(encoding="utf-8")
    check("reply_within: 14d" in text and "remind_after: [7d]" in text,
          "the shipped rule has reply_within 14d and remind_after [7d] (to shorten)")
    rule.write_text(text.replace("reply_within: 14d", "reply_within: 4d")
                    .replace("remind_after: [7d]", "remind_after: [2d]"), encoding="utf-8")
    return rules


def http(method: str, url: str, data: bytes | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", errors="replace")


def body() -> None:
    args = parse_args(__doc__.splitlines()[0])
    tmp = Path(tempfile.mkdtemp(prefix="ennakko-e2e-replies-"))
    daemons: list[Daemon] = []
    print(f"temporary directory: {tmp}")
    port = free_port()
    reply_url = (f"http://127.0.0.1:{port}/api/v1/sms/inbound?secret={SECRET}"
                 "&from=%p&text=%a")
    try:
        with KannelHarness(reply_url=reply_url, keep_logs=args.keep) as kannel:
            _run(args, tmp, kannel, port, daemons)
    finally:
        for d in daemons:
            d.kill()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _run(args, tmp: Path, kannel: KannelHarness, port: int, daemons: list[Daemon]) -> None:
    gen = run([args.ennakko, "demo", "generate", "--out", str(tmp / "population"),
               "--seed", str(SEED), "--residents", str(RESIDENTS)])
    check(gen.returncode == 0, f"demo generate: {gen.stdout.strip()}", gen.stderr)
    city = City(tmp / "population")
    db = tmp / "store/ennakko.db"
    config = write_config(tmp, short_rules(args.repo, tmp), kannel, port)
    daemon = Daemon(args.ennakko, config, port, tmp, "serve").start()
    daemons.append(daemon)
    daemon.wait_ready(timeout=60)
    wait_until("nothing queued or sending", lambda: query(
        db, "SELECT count(*) FROM outbox WHERE state IN ('queued', 'sending')")[0][0] == 0
        and query(db, "SELECT count(*) FROM outbox")[0][0] > 0, 60)
    n_sms = query(db, "SELECT count(*) FROM outbox WHERE channel = 'sms' AND kind = 'offer'")[0][0]
    n_file = query(db, "SELECT count(*) FROM outbox WHERE channel = 'file' AND kind = 'offer'")[0][0]
    check(n_sms >= 5 and n_file >= 1, f"offers sent: {n_sms} by SMS, {n_file} to the file channel")

    # 3. Delivery reports: fakesmsc reports every SMS delivered; Kannel calls the signed dlr-url.
    wait_until("every SMS offer delivered", lambda: query(
        db, "SELECT count(*) FROM outbox WHERE channel = 'sms' AND kind = 'offer' "
            "AND delivered_at IS NOT NULL")[0][0] == n_sms, 30)
    check(query(db, "SELECT count(*) FROM outbox WHERE channel = 'sms' AND kind = 'offer' AND "
                    "state = 'delivered' AND delivery = 'handset'")[0][0] == n_sms,
          f"Kannel's delivery reports moved all {n_sms} SMS offers to delivered (handset)")
    status, _ = http("GET", f"http://127.0.0.1:{port}/api/v1/sms/dlr?id=1&sig=00&status=2")
    check(status == 403, f"a delivery report with a wrong signature is refused ({status})")

    # 5. A signed reply link from a file-channel message.
    files = sorted((tmp / "offers").glob("*.json"))
    check(files, f"{len(files)} file-channel messages written")
    message = json.loads(files[0].read_text(encoding="utf-8"))
    m = re.search(r"http://127\.0\.0\.1:\d+/reply\?t=[0-9a-z.]+", message["body"])
    check(m is not None, "the file-channel message carries the signed reply link",
          message["body"][-120:])
    link, offer_id = m.group(0), message["outbox_id"]
    for _ in range(2):  # mail scanners prefetch links: GET must not change anything
        status, page = http("GET", link)
        check(status == 200 and "<form method=\"post\">" in page and "value=\"accept\"" in page,
              f"GET on the link shows the offer and a form ({status})")
    check(query(db, "SELECT state IN ('sent', 'reminded') AND outcome IS NULL FROM outbox "
                    "WHERE id = ?", (offer_id,))[0][0] == 1, "GET changed nothing")
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["t"][0]
    form = urllib.parse.urlencode({"t": token, "answer": "accept"}).encode()
    status, page = http("POST", link, form)
    check(status == 200, f"POST accept answered 200", page[:200])
    check(query(db, "SELECT state, outcome, reply_via FROM outbox WHERE id = ?", (offer_id,))[0]
          == ("replied", "accepted", "link"), "the link accept recorded the outcome (via link)")
    status, _ = http("POST", link, urllib.parse.urlencode({"t": token, "answer": "decline"}).encode())
    check(status == 409, f"the used link is refused ({status})")
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    status, page = http("GET", f"http://127.0.0.1:{port}/reply?t={forged}")
    check(status == 403 and "Linkki ei kelpaa" in page, f"a forged link is refused ({status})")

    # 4. SMS answers: phones with exactly one open offer.
    singles = query(db, "SELECT r.phone, o.id, o.language FROM outbox o JOIN residents r "
                        "ON r.id = o.recipient_id WHERE o.channel = 'sms' AND o.kind = 'offer' "
                        "GROUP BY r.phone HAVING count(*) = 1 ORDER BY o.id")
    check(len(singles) >= 3, f"{len(singles)} guardians have exactly one SMS offer")
    (yes_phone, yes_id, yes_lang), (what_phone, what_id, what_lang) = singles[0], singles[1]
    kannel.wait_for_messages(n_sms, timeout=15)  # every offer logged by fakesmsc
    kannel.send_reply(yes_phone, "kyllä")
    wait_until("the kyllä answer recorded", lambda: query(
        db, "SELECT state, outcome, reply_via FROM outbox WHERE id = ?", (yes_id,))[0]
        == ("replied", "accepted", "sms"), 20)
    check(True, "the guardian's 'kyllä' by SMS set the offer replied/accepted (via sms)")
    lang = yes_lang if yes_lang in ACCEPTED else "fi"
    answer = wait_until("the answer SMS", lambda: [m for m in kannel.sent_messages()
                                                   if m.receiver == yes_phone and ACCEPTED[lang] in m.text], 15)
    check(len(answer) == 1, f"an answer SMS in the guardian's language ({lang}) confirms it: "
          f"{answer[0].text[:60]!r}")
    audit_path = tmp / "audit/audit.jsonl"
    def replied_event():
        for line in audit_path.read_text(encoding="utf-8").splitlines():
            e = json.loads(line)
            if e["type"] == "offer.replied" and e.get("offer") == yes_id:
                return e
        return None
    e = wait_until("offer.replied audited", replied_event, 10)
    check(e["via"] == "sms" and e["outcome"] == "accepted" and e["recipient"].startswith("p-"),
          "the answer is in the audit log (offer.replied, sms, accepted, a pseudonym)", str(e))

    kannel.send_reply(what_phone, "mitä tämä on?")
    lang = what_lang if what_lang in NOT_UNDERSTOOD else "fi"
    answer = wait_until("the helpful answer SMS", lambda: [
        m for m in kannel.sent_messages() if m.receiver == what_phone and NOT_UNDERSTOOD[lang] in m.text], 15)
    check(len(answer) == 1, f"an unrecognised reply gets a helpful answer SMS ({lang}): {answer[0].text[:70]!r}")
    check(query(db, "SELECT state FROM outbox WHERE id = ?", (what_id,))[0][0] == "delivered",
          "the offer stays open after an unrecognised reply")

    # 6. Reminders, then expiry, for offers nobody answered.
    open_id, open_phone, open_lang = query(
        db, "SELECT o.id, r.phone, o.language FROM outbox o JOIN residents r ON r.id = o.recipient_id "
            "WHERE o.id = ?", (singles[2][1],))[0]
    wait_until("a reminder SMS", lambda: any(
        m.receiver == open_phone and m.text.startswith(REMINDER.get(open_lang, REMINDER["fi"]))
        for m in kannel.sent_messages()), 4 * DAY_SECONDS + 20)
    check(True, f"the unanswered offer got a reminder SMS ({REMINDER.get(open_lang, 'fi')!r})")
    wait_until("expiry", lambda: query(db, "SELECT state FROM outbox WHERE id = ?",
                                       (open_id,))[0][0] == "expired", 4 * DAY_SECONDS + 30)
    check(True, "then the offer expired (reply_within)")
    time.sleep(2)  # a second reminder, if one were sent, would be logged by now
    reminders = [m for m in kannel.sent_messages() if m.receiver == open_phone]
    check(len(reminders) == 2, f"the guardian got the offer and exactly one reminder ({len(reminders)})",
          str([m.text[:30] for m in reminders]))
    check(query(db, "SELECT state FROM outbox WHERE id = ?", (yes_id,))[0][0] == "replied"
          and query(db, "SELECT count(*) FROM outbox WHERE kind = 'reminder' AND reply_to = ? "
                        "AND state <> 'cancelled'", (yes_id,))[0][0] == 0,
          "the offer answered by SMS stays replied and got no reminder")
    status, _ = http("POST", link, form)
    check(status == 409, "an answered offer neither expires nor accepts again")
    types = {json.loads(line)["type"] for line in audit_path.read_text(encoding="utf-8").splitlines()}
    check({"offer.delivered", "offer.replied", "offer.reminded", "offer.expired",
           "reply.unmatched"} <= types, "delivered, replied, reminded, expired and the "
          "unmatched reply are audited")

    # 7. Funnel, audit chain, personal data.
    report = run([args.ennakko, "report", "funnel", "--config", str(config)])
    row = [line for line in report.stdout.splitlines() if line.startswith("preschool-offer")]
    check(report.returncode == 0 and row, "report funnel prints a preschool-offer row",
          report.stdout + report.stderr)
    print(report.stdout.rstrip())
    cells = row[0].split()
    accepted = int(cells[-2]) if cells[-1].endswith("%)") else int(cells[-1])
    check(accepted >= 2, f"the funnel counts the two acceptances ({accepted})")
    wait_until("funnel metrics", lambda: re.search(
        r'ennakko_funnel\{[^}]*stage="accepted"[^}]*\} [2-9]', daemon.http_get("/metrics")[1]), 15)
    check(True, "/metrics has ennakko_funnel{stage=\"accepted\"} >= 2")
    rc = daemon.terminate(timeout=10)
    check(rc == 0, "SIGTERM: exit 0")
    verify = run([args.ennakko, "audit", "verify", "--config", str(config)])
    check(verify.returncode == 0, f"audit verify: {verify.stdout.strip()}", verify.stderr)
    problems = scan_for_personal_data(audit_path.read_text(encoding="utf-8"), "audit log",
                                      city.phones, city.emails)
    problems += scan_for_personal_data(daemon.stdout(), "stdout", city.phones, city.emails)
    problems += scan_for_personal_data(daemon.stderr(), "stderr", city.phones, city.emails)
    check(not problems, "no identity code, phone number or e-mail in the audit log or the "
          "daemon's output", "\n  ".join(problems[:10]))


if __name__ == "__main__":
    main_wrapper(body)
