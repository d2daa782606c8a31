#!/usr/bin/env python3
"""End-to-end test of consent-based permission and revocation, with `ennakko serve` as a process.

The rules are tests/data/rules-consent/fee-estimate (permission: consent for ecec-fee-income from
any guardian; channels sms, then file), copied to a temporary rules directory. The population is a
small file drop written here: family A (two guardians with phone numbers, a child in ECEC) and
family B (one guardian without a phone, a child in ECEC). The SMS channel points to a closed
loopback port, so SMS offers cannot be delivered: they stay queued and are retried (transient
failure) and retried after a backoff of 4-8 s — deterministic "in flight" offers without a pause
feature: the test revokes right after the first failed attempts, while both offers sit queued. Family B's offer goes by file.

Steps:
  1. Serve; ready. No consent: both children's decisions are excluded, the outbox is empty.
  2. The consent API refuses a request without the token (401) and bad input (400).
  3. Grant B's guardian a consent via the API (201): the daemon re-evaluates, the offer is queued
     and sent through the file channel (a file in offers/).
  4. Grant A's mother a consent: two offers (mother, father) are queued, their SMS attempts fail,
     and they are retried (attempts >= 1, still queued).
  5. Revoke the mother's consent: the response says 2 offers cancelled; both are `cancelled` at
     once; no delivery is attempted for them after the revocation, no file is written for them, and
     the re-evaluated decision is excluded. B's sent offer is untouched.
  6. The audit log has consent.granted (2), consent.revoked, offer.cancelled (2) with pseudonyms;
     no identity code or phone number in the audit log or the daemon's output. SIGTERM: exit 0.

Usage: consent_e2e.py [--ennakko BIN] [--repo SRC] [--keep]. Exit status 0 = pass.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_support import (HETU_RE, Daemon, check, free_port, main_wrapper, parse_args,  # noqa: E402
                         query, scan_for_personal_data, wait_until, yaml_str)

TOKEN = "e2e-consent-token-0123456789abcdef"
PSEUDONYM_KEY = "e2e-consent-pseudonym-key-0123456789"
CHECK_CHARS = "0123456789ABCDEFHJKLMNPRSTUVWXY"
PHONES = {"+358500000901", "+358500000902"}


def hetu(birth: dt.date, number: int) -> str:
    """A synthetic identity code (individual number 900-999)."""
    assert 900 <= number <= 999
    digits = f"{birth.day:02d}{birth.month:02d}{birth.year % 100:02d}{number:03d}"
    sign = "-" if birth.year < 2000 else "A"
    return f"{digits[:6]}{sign}{digits[6:]}{CHECK_CHARS[int(digits) % 31]}"


MOTHER_A = hetu(dt.date(1990, 1, 10), 902)
FATHER_A = hetu(dt.date(1989, 2, 11), 903)
CHILD_A = hetu(dt.date(2022, 5, 5), 904)
PARENT_B = hetu(dt.date(1991, 3, 12), 906)
CHILD_B = hetu(dt.date(2021, 6, 6), 908)


def day(d: str) -> dict:
    return {"arvo": d, "tarkkuus": "PAIVA"}


def person(code: str, first: str, phone: str | None = None, guardians: tuple = (), ecec: bool = False) -> dict:
    groups = [{"tietoryhma": "HENKILON_NIMI", "etunimet": first, "sukunimi": "Testinen"},
              {"tietoryhma": "KOTIKUNTA", "kuntakoodi": "091"},
              {"tietoryhma": "AIDINKIELI", "kielikoodi": "fi"}]
    if phone:
        groups.append({"tietoryhma": "YHTEYSTIEDOT", "puhelin": phone})
    for g in guardians:
        groups.append({"tietoryhma": "HUOLTAJA_SUPPEA", "henkilotunnus": g, "huoltosuhteenAlkupv": day("2022-01-01")})
    if ecec:
        groups.append({"tietoryhma": "SIJOITUS", "laji": "varhaiskasvatus", "alkupv": day("2024-08-01")})
    return {"henkilotunnus": code, "tietoryhmat": groups}


def closed_port() -> int:
    """A loopback port nobody listens on (bound and released; nothing else here binds it)."""
    return free_port()


def write_setup(tmp: Path, repo: Path, port: int) -> Path:
    rules = tmp / "rules"
    shutil.copytree(repo / "tests/data/rules-consent/params", rules / "params")
    shutil.copytree(repo / "tests/data/rules-consent/fee-estimate", rules / "fee-estimate",
                    ignore=shutil.ignore_patterns("tests"))
    drop = tmp / "population"
    drop.mkdir()
    people = [person(MOTHER_A, "Aino", "+358500000901"), person(FATHER_A, "Eero", "+358500000902"),
              person(CHILD_A, "Lumi", guardians=(MOTHER_A, FATHER_A), ecec=True),
              person(PARENT_B, "Sari"), person(CHILD_B, "Onni", guardians=(PARENT_B,), ecec=True)]
    (drop / "000000.snapshot.jsonl").write_text("".join(json.dumps(p) + "\n" for p in people), encoding="utf-8")
    (tmp / "store").mkdir()
    config = tmp / "ennakko.yaml"
    config.write_text(f"""\
# Written by consent_e2e.py: SMS to a closed port (offers stay queued, retried), file channel.
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
  sms:
    sendsms_url: "http://127.0.0.1:{closed_port()}/cgi-bin/sendsms"
    username: ennakko
    password: not-a-secret
    from: Helsinki
    timeout_ms: 2000
  file: {{directory: offers}}
dispatch:
  # Runs at any hour: no SMS quiet hours (they have their own unit tests).
  quiet_hours: {{sms: {{start: "00:00", end: "00:00"}}}}
  max_attempts: 100000
  initial_backoff_ms: 8000
  max_backoff_ms: 8000
http:
  address: 127.0.0.1
  port: {port}
  token: {yaml_str(TOKEN)}
log:
  level: info
""", encoding="utf-8")
    return config


def post(port: int, path: str, body, token: str | None = TOKEN) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, {"raw": text.decode("utf-8", "replace")}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    tmp = Path(tempfile.mkdtemp(prefix="ennakko-consent-e2e-"))
    daemon = None
    try:
        port = free_port()
        config = write_setup(tmp, args.repo, port)
        db = tmp / "store/ennakko.db"
        daemon = Daemon(args.ennakko, config, port, tmp, "serve").start()
        daemon.wait_ready(60)

        def resident(code: str) -> int:
            return query(db, "SELECT id FROM residents WHERE hetu = ?", (code,))[0][0]

        child_a, child_b = resident(CHILD_A), resident(CHILD_B)

        def verdict(subject: int):
            rows = query(db, "SELECT verdict FROM decisions WHERE service = 'fee-estimate' AND subject_id = ?",
                         (subject,))
            return rows[0][0] if rows else None

        wait_until("both decisions recorded", lambda: verdict(child_a) and verdict(child_b), 30)
        check(verdict(child_a) == "excluded" and verdict(child_b) == "excluded",
              "no consent: both children's decisions are excluded")
        check(query(db, "SELECT count(*) FROM outbox")[0][0] == 0, "no consent: nothing is queued")

        status, _ = post(port, "/api/v1/consents", {"identity_code": PARENT_B}, token=None)
        check(status == 401, "the consent API refuses a request without the bearer token (401)")
        status, body = post(port, "/api/v1/consents", {"identity_code": PARENT_B, "purpose": "ecec-fee-income",
                                                       "granted_at": "tomorrow", "source": "e2e"})
        check(status == 400 and "granted_at" in body.get("error", ""), "a malformed granted_at is refused (400)",
              str(body))

        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        granted_at = (now - dt.timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
        status, body = post(port, "/api/v1/consents", {"identity_code": PARENT_B, "purpose": "ecec-fee-income",
                                                       "granted_at": granted_at, "source": "mydata-operator"})
        check(status == 201 and body.get("active") is True, "grant for family B: 201, active", str(body))
        wait_until("family B's offer sent", lambda: query(
            db, "SELECT state FROM outbox WHERE subject_id = ? AND state = 'sent'", (child_b,)), 30)
        offer_files = sorted(p.name for p in (tmp / "offers").glob("*") if p.is_file())
        check(len(offer_files) >= 1, "after the grant, family B's offer was sent through the file channel",
              str(offer_files))
        check(verdict(child_b) == "eligible", "family B's decision is eligible with the consent")

        status, body = post(port, "/api/v1/consents", {"identity_code": MOTHER_A, "purpose": "ecec-fee-income",
                                                       "granted_at": granted_at, "source": "mydata-operator"})
        check(status == 201, "grant for family A's mother: 201", str(body))
        mother_consent = body["id"]

        def a_offers():
            return query(db, "SELECT id, state, attempts, channel FROM outbox WHERE subject_id = ? ORDER BY id",
                         (child_a,))
        wait_until("two offers to family A, retried after failed SMS attempts",
                   lambda: len(a_offers()) == 2 and all(s == "queued" and a >= 1 for _, s, a, _ in a_offers()), 60)
        check(True, "family A: two offers queued (mother, father), their SMS attempts failed and are retried")
        files_before = set(p.name for p in (tmp / "offers").glob("*"))

        status, body = post(port, "/api/v1/consents/revoke", {"id": mother_consent, "source": "mydata-operator"})
        revoked_at = body.get("revoked_at", "")
        check(status == 200 and body.get("offers_cancelled") == 2 and body.get("already_revoked") is False,
              "revoke: 200, the two queued offers that relied on the consent are cancelled", str(body))
        states = query(db, "SELECT state FROM outbox WHERE subject_id = ?", (child_a,))
        check(sorted(s for (s,) in states) == ["cancelled", "cancelled"],
              "both offers are cancelled at once (same transaction as the revocation)", str(states))
        wait_until("family A's decision excluded again", lambda: verdict(child_a) == "excluded", 30)
        check(True, "the daemon re-evaluated: family A's decision is excluded")
        # The failed attempts were retried after 4-8 s (backoff 8 s with jitter): the revocation came
        # well before, with both offers queued (none in flight). Wait past that retry time: a
        # cancelled offer must not be attempted even when its retry falls due.
        time.sleep(9)
        states = query(db, "SELECT state FROM outbox WHERE subject_id = ?", (child_a,))
        check(sorted(s for (s,) in states) == ["cancelled", "cancelled"], "they stay cancelled", str(states))
        late = query(db, "SELECT count(*) FROM deliveries d JOIN outbox o ON o.id = d.outbox_id "
                         "WHERE o.subject_id = ? AND d.at > ?", (child_a, revoked_at))[0][0]
        check(late == 0, "no delivery attempt for them after the revocation")
        sent_after = query(db, "SELECT count(*) FROM outbox WHERE subject_id = ? AND state = 'sent'", (child_a,))[0][0]
        check(sent_after == 0, "nothing was sent to family A")
        check(set(p.name for p in (tmp / "offers").glob("*")) == files_before, "no new offer file after revocation")
        check(query(db, "SELECT state FROM outbox WHERE subject_id = ?", (child_b,)) == [("sent",)],
              "family B's sent offer is untouched")
        status, body = post(port, "/api/v1/consents/revoke", {"id": mother_consent})
        check(status == 200 and body.get("already_revoked") is True and body.get("offers_cancelled") == 0,
              "revoking again is idempotent")

        code = daemon.terminate(30)
        check(code == 0, "SIGTERM: the daemon exits 0", f"exit {code}")
        audit = (tmp / "audit/audit.jsonl").read_text(encoding="utf-8")
        events = [json.loads(line) for line in audit.splitlines()]
        count = lambda t: sum(1 for e in events if e["type"] == t)  # noqa: E731
        check(count("consent.granted") == 2 and count("consent.revoked") == 1,
              "audit: two consent.granted, one consent.revoked")
        cancelled = [e for e in events if e["type"] == "offer.cancelled" and e.get("reason") == "consent revoked"]
        check(len(cancelled) == 2 and all(e["consent"] == mother_consent for e in cancelled),
              "audit: offer.cancelled for both offers, naming the consent")
        problems = scan_for_personal_data(audit, "audit log", PHONES, set())
        problems += scan_for_personal_data(daemon.output(), "daemon output", PHONES, set())
        check(not problems and not HETU_RE.search(audit), "no identity code or phone number in the audit log or output",
              "\n  ".join(problems))
    finally:
        if daemon is not None:
            daemon.kill()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main_wrapper(main)
