#!/usr/bin/env python3
"""Acceptance test: `ennakko serve` sends this year's pre-primary offers by SMS through a real
Kannel (bearerbox + fakesmsc + smsbox), exactly once, in the right language, and a restart sends
nothing again.

Steps:
  1. Kannel on free loopback ports (kannel_harness.py); a synthetic city of 3,000 residents
     (`ennakko demo generate`, fixed seed, today = the real date in Helsinki).
  2. A config with the SMS channel only, store and audit log in a temporary directory, the
     repository's rules, a literal pseudonym key, a free HTTP port, poll_every_seconds 1.
  3. `ennakko serve`; wait for /readyz and for the outbox to hold nothing queued or sending.
  4. An oracle in Python (e2e_support.City, no C++ involved) computes from the JSONL batches who
     must get an offer; the test compares with what fakesmsc received and with the outbox. A
     change batch written by the test makes sure every run has mother tongues sv, en and ru
     (no ru message: fi text), a guardian without a phone (outbox: failed, "no channel can
     reach"), a custody ended yesterday and a guardian who died yesterday (no SMS to either).
  5. SIGTERM: exit 0 within 10 s. Start again on the same store: no new SMS, outbox unchanged.
  6. `ennakko audit verify --config` exits 0; no identity code, phone number or e-mail address
     in the audit log or in the daemon's output.

Usage: serve_kannel_e2e.py [--ennakko BIN] [--repo SRC] [--keep]. Exit status 0 = pass.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_support import (CheckFailed, City, Daemon, Person, check, expected_greeting, free_port,  # noqa: E402
                         helsinki_today, main_wrapper, parse_args, query, run,
                         scan_for_personal_data, wait_until, yaml_str)
from kannel_harness import KannelHarness  # noqa: E402

SEED = 20261
RESIDENTS = 3000
PSEUDONYM_KEY = "e2e-pseudonym-key-not-secret-0123456789"
OUTBOX_COLUMNS = ("id, idem_key, service, subject_id, recipient_id, period, decision_id, channel, "
                  "language, state, attempts, next_attempt_at, last_error, gateway_ref")


def write_config(tmp: Path, repo: Path, kannel: KannelHarness, port: int) -> Path:
    config = tmp / "ennakko.yaml"
    (tmp / "store").mkdir()  # the store does not create its directory (the audit log does)
    config.write_text(f"""\
# Written by serve_kannel_e2e.py: SMS channel only.
store:
  path: store/ennakko.db
audit:
  path: audit/audit.jsonl
  pseudonym_key: {yaml_str(PSEUDONYM_KEY)}
rules:
  directory: {yaml_str(str(repo / "rules"))}
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
dispatch:
  # The test runs at any hour: no SMS quiet hours (21:00-08:00 Helsinki by default), or a run in
  # the evening would wait for the morning. Quiet hours have their own unit tests.
  quiet_hours: {{sms: {{start: "00:00", end: "00:00"}}}}
http:
  address: 127.0.0.1
  port: {port}
log:
  level: info
""", encoding="utf-8")
    return config


def add_edge_cases(drop: Path, city: City, today: dt.date) -> dict[str, Person]:
    """Appends a change batch of our own, dated today, so that every run covers what a random
    city may lack: guardians whose mother tongue is sv, en, and ru (no ru message: the fi text),
    a guardian without a phone, a custody that ended yesterday and a guardian who died yesterday
    (no offer to either). Each case is a different guardian with a phone in the generated city."""
    with_phone = [(c, g) for c, g in city.preschool_offers(today) if g.phone]
    # Prefer an sv/en speaker for ru, so that the fi fallback differs from what they had.
    with_phone.sort(key=lambda cg: (cg[1].language not in ("sv", "en"), cg[1].hetu))
    picked: dict[str, tuple[Person, Person]] = {}
    for case in ("ru", "sv", "en", "no_phone", "ended", "dead"):
        picked[case] = next((c, g) for c, g in with_phone
                            if g.hetu not in {p[1].hetu for p in picked.values()})
    yesterday = {"arvo": (today - dt.timedelta(days=1)).isoformat(), "tarkkuus": "PAIVA"}
    day = today.isoformat()

    def record(hetu: str, group: dict) -> dict:
        return {"henkilotunnus": hetu, "muutospv": day, "tietoryhmat": [group]}
    lines = [record(picked[lang][1].hetu, {"tietoryhma": "AIDINKIELI", "muutosattribuutti":
                                           "MUUTETTU", "kielikoodi": lang})
             for lang in ("ru", "sv", "en")]
    lines.append(record(picked["no_phone"][1].hetu, {  # the whole group: phone gone, e-mail kept
        "tietoryhma": "YHTEYSTIEDOT", "muutosattribuutti": "MUUTETTU",
        **({"sahkoposti": picked["no_phone"][1].email} if picked["no_phone"][1].email else {})}))
    lines.append(record(picked["ended"][0].hetu, {
        "tietoryhma": "HUOLTAJA_SUPPEA", "muutosattribuutti": "POISTETTU",
        "henkilotunnus": picked["ended"][1].hetu, "huoltosuhteenLoppupv": yesterday}))
    lines.append(record(picked["dead"][1].hetu, {
        "tietoryhma": "KUOLINPAIVA", "muutosattribuutti": "LISATTY", "kuolinpv": yesterday}))
    number = len(list(drop.glob("*.jsonl")))
    tmp = drop / f"{number:06d}.changes.jsonl.tmp"
    tmp.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    tmp.rename(drop / f"{number:06d}.changes.jsonl")
    print(f"added {number:06d}.changes.jsonl: guardians' mother tongues -> ru, sv, en; a phone "
          "removed; a custody ended yesterday; a guardian died yesterday")
    return {case: g for case, (_, g) in picked.items()}


def outbox_rows(db: Path) -> list[tuple]:
    return query(db, f"SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY id")


def body() -> None:
    args = parse_args(__doc__.splitlines()[0])
    tmp = Path(tempfile.mkdtemp(prefix="ennakko-e2e-kannel-"))
    daemons: list[Daemon] = []
    print(f"temporary directory: {tmp}")
    try:
        with KannelHarness() as kannel:
            print(f"kannel up: {kannel.sendsms_url}")
            _run(args, tmp, kannel, daemons)
    finally:
        for d in daemons:
            d.kill()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _run(args, tmp: Path, kannel: KannelHarness, daemons: list[Daemon]) -> None:
    today = helsinki_today()
    t0 = time.monotonic()
    gen = run([args.ennakko, "demo", "generate", "--out", str(tmp / "population"),
               "--seed", str(SEED), "--residents", str(RESIDENTS)])
    check(gen.returncode == 0, f"demo generate: {gen.stdout.strip()}", gen.stderr)

    # The oracle: who must be offered a place, from the batches alone.
    city = City(tmp / "population")
    check(not city.malformed, "the generated city has no malformed lines", str(city.malformed))
    edge = add_edge_cases(tmp / "population", city, today)
    city = City(tmp / "population")
    offers = city.preschool_offers(today)
    with_phone = [(c, g) for c, g in offers if g.phone]
    without_phone = [(c, g) for c, g in offers if not g.phone]
    languages = collections.Counter(g.language for _, g in with_phone)
    print(f"oracle (today {today}): {len(offers)} offers to guardians of "
          f"{len({c.hetu for c, _ in offers})} children; {len(with_phone)} reachable by SMS "
          f"(languages {dict(languages)}), {len(without_phone)} without a phone")
    check(len(with_phone) >= 10 and without_phone and {"fi", "sv", "en", "ru"} <= set(languages),
          "the city exercises the test: >= 10 SMS recipients, some without a phone, "
          "mother tongues fi, sv, en and ru")

    db = tmp / "store/ennakko.db"
    config = write_config(tmp, args.repo, kannel, free_port())
    daemon = Daemon(args.ennakko, config, _port_of(config), tmp, "serve1").start()
    daemons.append(daemon)
    ready = daemon.wait_ready(timeout=60)
    check(True, f"/readyz answered 200 after {ready:.1f} s")
    n_out = wait_until("outbox rows", lambda: query(db, "SELECT count(*) FROM outbox")[0][0], 10)
    wait_until("nothing queued or sending in the outbox", lambda: query(
        db, "SELECT count(*) FROM outbox WHERE state IN ('queued', 'sending')")[0][0] == 0, 60)
    try:  # Kannel has accepted them all; fakesmsc logs each within about a second
        kannel.wait_for_messages(len(with_phone), timeout=15)
    except TimeoutError:
        pass  # the comparison below says which numbers are missing
    time.sleep(2.5)  # anything extra (a duplicate) would show up in fakesmsc's log by now
    msgs = kannel.sent_messages()
    print(f"daemon: {n_out} outbox rows; fakesmsc logged {len(msgs)} SMS "
          f"{time.monotonic() - t0:.1f} s after generating the city")

    # SMS: one per (child, guardian with a phone), to the right number, in the right language.
    got = collections.Counter(m.receiver for m in msgs)
    want = collections.Counter(g.phone for _, g in with_phone)
    extra = got - want
    missing = want - got
    check(not extra and not missing,
          f"fakesmsc received exactly one SMS per expected phone number ({sum(want.values())})",
          f"unexpected or duplicate: {dict(extra)}; missing: {dict(missing)}")
    by_phone = collections.defaultdict(list)
    for child, guardian in with_phone:
        by_phone[guardian.phone].append((child, guardian))
    wrong = []
    for m in msgs:
        pairs = by_phone[m.receiver]
        greeting = expected_greeting(pairs[0][1].language)
        if not m.text.startswith(greeting):
            wrong.append(f"{m.receiver} (mother tongue {pairs[0][1].language}): starts "
                         f"{m.text[:12]!r}, expected {greeting!r}")
        elif not any(c.first_names.split()[0] in m.text for c, _ in pairs):
            wrong.append(f"{m.receiver}: names none of the children "
                         f"{[c.first_names for c, _ in pairs]}: {m.text[:60]!r}")
        if str(today.year) not in m.text:
            wrong.append(f"{m.receiver}: no period {today.year} in {m.text[:60]!r}")
    check(not wrong, "every SMS is in the guardian's mother tongue (Hei!/Hej!/Hello!, fallback "
          "fi), names the child and the year", "\n  ".join(wrong[:10]))
    check(edge["ru"].phone in got and all(
        m.text.startswith("Hei!") for m in msgs if m.receiver == edge["ru"].phone),
        "the guardian whose mother tongue became ru got the fi text (the fallback)")
    check(edge["ended"].phone not in got and edge["dead"].phone not in got
          and edge["no_phone"].phone not in got,
          "no SMS to the guardian whose custody ended yesterday, the one who died, nor to the "
          "old number of the one whose phone was removed")
    check(all(m.sender == "Helsinki" for m in msgs), "every SMS is from the configured sender",
          str({m.sender for m in msgs}))

    # The outbox agrees: exactly the oracle's (child, guardian) pairs, sent or failed.
    rows = query(db, "SELECT s.hetu, r.hetu, o.state, o.channel, o.last_error FROM outbox o "
                     "JOIN residents s ON s.id = o.subject_id JOIN residents r ON r.id = o.recipient_id")
    pairs_db = collections.Counter((s, r) for s, r, *_ in rows)
    pairs_oracle = collections.Counter((c.hetu, g.hetu) for c, g in offers)
    check(pairs_db == pairs_oracle, f"the outbox holds exactly the oracle's {len(offers)} offers",
          f"only in the outbox: {len(pairs_db - pairs_oracle)}, "
          f"only in the oracle: {len(pairs_oracle - pairs_db)}")
    phone_of = {g.hetu: g.phone for _, g in offers}
    bad = [(s[:2], r[:2], st, ch, err) for s, r, st, ch, err in rows
           if phone_of[r] and (st, ch) != ("sent", "sms")]
    check(not bad, "offers to guardians with a phone are sent on channel sms", str(bad[:5]))
    bad = [(st, err) for s, r, st, ch, err in rows
           if not phone_of[r] and not (st == "failed" and "no channel can reach" in (err or ""))]
    check(not bad, f"the {len(without_phone)} offers to guardians without a phone are failed "
          "with 'no channel can reach ...'", str(bad[:5]))

    before_rows = outbox_rows(db)
    before_deliveries = query(db, "SELECT count(*) FROM deliveries")[0][0]

    # A clean stop.
    t_stop = time.monotonic()
    rc = daemon.terminate(timeout=10)
    check(rc == 0, f"SIGTERM: exit code 0 within 10 s ({time.monotonic() - t_stop:.1f} s)",
          f"exit code {rc} (None = still running after 10 s, killed)")

    # Restart on the same store: nothing is sent twice.
    daemon2 = Daemon(args.ennakko, config, _port_of(config), tmp, "serve2").start()
    daemons.append(daemon2)
    ready = daemon2.wait_ready(timeout=60)
    daemon2.wait_for_log(r"dispatch: nothing due", timeout=20)
    time.sleep(4)  # four population polls and dispatcher wake-ups
    check(daemon2.alive(), "the restarted daemon is running")
    after = kannel.sent_messages()
    check(len(after) == len(msgs), f"after a restart ({ready:.1f} s to ready) and 4 s of polling "
          "no new SMS went out", f"{len(after) - len(msgs)} new message(s)")
    check(outbox_rows(db) == before_rows, "the outbox is unchanged after the restart")
    check(query(db, "SELECT count(*) FROM deliveries")[0][0] == before_deliveries,
          "no delivery attempt was recorded after the restart")
    rc = daemon2.terminate(timeout=10)
    check(rc == 0, "second SIGTERM: exit code 0 within 10 s", f"exit code {rc}")

    # The audit chain and personal data.
    verify = run([args.ennakko, "audit", "verify", "--config", str(config)])
    check(verify.returncode == 0, f"audit verify --config exits 0: {verify.stdout.strip()}",
          verify.stdout + verify.stderr)
    audit_text = (tmp / "audit/audit.jsonl").read_text(encoding="utf-8")
    problems = scan_for_personal_data(audit_text, "audit log", city.phones, city.emails)
    for d in daemons:
        problems += scan_for_personal_data(d.stdout(), d.stdout_path.name, city.phones, city.emails)
        problems += scan_for_personal_data(d.stderr(), d.stderr_path.name, city.phones, city.emails)
    sample = f"x {min(city.hetus)} {min(city.phones)[1:]} <{min(city.emails)}>"
    found = scan_for_personal_data(sample, "self-test", city.phones, city.emails)
    check(len(city.phones) > 100 and len(found) >= 3, "the PII scan knows the data's "
          f"{len(city.phones)} phone numbers and flags a sample identity code, phone and e-mail")
    check(not problems, f"no identity code, phone number or e-mail in the audit log "
          f"({len(audit_text.splitlines())} events) or the daemon's stdout/stderr",
          "\n  ".join(problems[:10]))
    if helsinki_today() != today:
        raise CheckFailed("the date in Helsinki changed during the test; run it again")


def _port_of(config: Path) -> int:
    for line in config.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("port:"):
            return int(line.split(":", 1)[1])
    raise CheckFailed("no http port in the config")


if __name__ == "__main__":
    main_wrapper(body)
