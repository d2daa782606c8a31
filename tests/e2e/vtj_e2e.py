#!/usr/bin/env python3
"""End-to-end test of the VTJ change-feed connector: `vtj_fake` and `ennakko serve` as processes.

Steps:
  1. vtj_fake starts with a data file of dated changes (two guardians, four children of this year's
     pre-primary cohort, an adult under a protection order); `ennakko serve` (connectors.vtj, file
     channel into a path that cannot be created, so offers stay queued) loads them: the children
     get eligible pre-primary decisions and offers queued to their guardians; the protected adult
     has no address.
  2. Faults: the next muutokset calls answer 503, then drop the connection, then 429
     (Retry-After: 1): the daemon logs each failure and carries on.
  3. Changes through /_test/changes: a birth (LAPSI on the mother's record and the newborn's own
     record: the newborn appears with its guardian and is not in the cohort; a late-registered
     child born in the cohort year becomes eligible), a move out of the city (not eligible, its
     queued offers cancelled), a death after offers were queued (cancelled), a custody change
     (ended on the given day), an identity-code correction (the child keeps its decision and
     offers under the new code; the old code is in identity_code_history), a protection order
     (the mother's address is gone, also when an address arrives later).
  4. Nothing doubled: one offer per (service, subject, recipient); the key in connector_cursors is
     the fake's last key. SIGTERM exits 0; no identity code in the daemon's output or audit log.

Usage: vtj_e2e.py --ennakko BIN --vtj-fake BIN [--repo SRC] [--keep]. Exit status 0 = pass.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_support import (HETU_RE, Daemon, check, free_port, helsinki_today,  # noqa: E402
                         main_wrapper, query, wait_until, yaml_str)

CHECK_CHARS = "0123456789ABCDEFHJKLMNPRSTUVWXY"
USER, PASSWORD = "ennakko", "vtj-e2e-password"


def hetu(born: dt.date, individual: int) -> str:
    sign = "-" if born.year < 2000 else "A"
    digits = f"{born:%d%m%y}{individual:03d}"
    return f"{born:%d%m%y}{sign}{individual:03d}{CHECK_CHARS[int(digits) % 31]}"


def date(d: str) -> dict:
    return {"arvo": d, "tarkkuus": "PAIVA"}


def change(code: str, day: str, *groups: dict) -> dict:
    return {"henkilotunnus": code, "muutospv": f"{day}T06:00:00.000Z", "tietoryhmat": list(groups)}


def name(first: str) -> dict:
    return {"tietoryhma": "HENKILON_NIMI", "muutosattribuutti": "LISATTY", "etunimi": first,
            "sukunimi": "Testinen"}


def home(kunta: str = "091") -> list[dict]:
    return [{"tietoryhma": "KOTIKUNTA", "muutosattribuutti": "MUUTETTU", "kuntakoodi": kunta},
            {"tietoryhma": "VAKINAINEN_KOTIMAINEN_OSOITE", "muutosattribuutti": "LISATTY",
             "katunimi": {"fi": "Testikuja"}, "katunumero": "3", "postinumero": "00100",
             "postitoimipaikka": {"fi": "HELSINKI"}}]


def guardian(code: str, attr: str = "LISATTY", end: str | None = None) -> dict:
    g = {"tietoryhma": "HUOLTAJA_SUPPEA", "muutosattribuutti": attr, "huoltaja": {"henkilotunnus": code},
         "huoltajanRooli": "AITI", "huoltosuhteenAlkupv": date("2020-01-01")}
    if end:
        g["huoltosuhteenLoppupv"] = date(end)
    return g


PROTECT = {"tietoryhma": "TURVAKIELTO", "muutosattribuutti": "LISATTY", "turvakieltoAktiivinen": True}


def post(port: int, path: str, body: dict) -> None:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def body() -> None:
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ennakko", default=str(here.parent.parent / "build/engine/app/ennakko"))
    p.add_argument("--vtj-fake", default=str(here.parent.parent / "build/tests/fakes/vtj_fake"))
    p.add_argument("--repo", default=str(here.parent.parent))
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    for b in (args.ennakko, args.vtj_fake):
        if not os.access(b, os.X_OK):
            p.error(f"not an executable: {b}")
    tmp = Path(tempfile.mkdtemp(prefix="ennakko-e2e-vtj-"))
    procs: list = []
    print(f"temporary directory: {tmp}")
    try:
        _run(args, tmp, procs)
    finally:
        for proc in procs:
            if isinstance(proc, Daemon):
                proc.kill()
            elif proc.poll() is None:
                proc.kill()
                proc.wait()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _run(args, tmp: Path, procs: list) -> None:
    today = helsinki_today()
    day = today.isoformat()
    cohort = today.year - 6
    mum, dad, other = hetu(dt.date(1988, 3, 14), 912), hetu(dt.date(1986, 11, 2), 913), hetu(dt.date(1979, 5, 5), 915)
    kid_a = hetu(dt.date(cohort, 3, 15), 920)   # stays; custody change
    kid_b = hetu(dt.date(cohort, 5, 20), 922)   # dies
    kid_c = hetu(dt.date(cohort, 7, 1), 924)    # moves out
    kid_d = hetu(dt.date(cohort, 2, 2), 926)    # identity code corrected to kid_d2
    kid_d2 = hetu(dt.date(cohort, 2, 3), 928)
    protected = hetu(dt.date(1980, 1, 1), 930)
    newborn = hetu(today - dt.timedelta(days=3), 932)
    late = hetu(dt.date(cohort, 9, 9), 934)      # registered late: appears now, in the cohort
    codes = [mum, dad, other, kid_a, kid_b, kid_c, kid_d, kid_d2, protected, newborn, late]

    data = {"muutokset": [
        change(mum, day, name("Maija"), *home(), {"tietoryhma": "AIDINKIELI", "muutosattribuutti": "LISATTY", "kielikoodi": "fi"}),
        change(dad, day, name("Matti"), *home()),
        change(other, day, name("Olli"), *home()),
        change(kid_a, day, name("Aada"), *home(), guardian(mum), guardian(dad)),
        change(kid_b, day, name("Bertta"), *home(), guardian(mum)),
        change(kid_c, day, name("Cecilia"), *home(), guardian(dad)),
        change(kid_d, day, name("Daniel"), *home(), guardian(mum)),
        change(protected, day, name("Paula"), *home(), PROTECT),
    ]}
    (tmp / "vtj.json").write_text(json.dumps(data), encoding="utf-8")
    fake = subprocess.Popen([args.vtj_fake, "--password", PASSWORD, "--page-size", "3",
                             "--data", str(tmp / "vtj.json")], stdout=subprocess.PIPE, text=True)
    procs.append(fake)
    vtj_port = int(fake.stdout.readline().strip())

    (tmp / "offers").write_text("not a directory: sends fail transiently, offers stay queued\n")
    (tmp / "vtj-password").write_text(PASSWORD + "\n")
    (tmp / "population").mkdir()
    port = free_port()
    config = tmp / "ennakko.yaml"
    config.write_text(f"""\
store:
  path: ennakko.db
audit:
  path: audit/audit.jsonl
  pseudonym_key: "e2e-vtj-pseudonym-key-0123456789"
rules:
  directory: {yaml_str(str(Path(args.repo) / "rules"))}
population:
  kind: file-drop
  directory: population
  poll_every_seconds: 1
connectors:
  vtj:
    base_url: http://127.0.0.1:{vtj_port}
    username: {USER}
    password: {{file: vtj-password}}
    start_date: "2020-01-01"
    poll_every_seconds: 1
    timeout_ms: 3000
channels:
  file: {{directory: offers}}
dispatch:
  initial_backoff_ms: 600000
  max_backoff_ms: 600000
http:
  address: 127.0.0.1
  port: {port}
""", encoding="utf-8")
    daemon = Daemon(args.ennakko, config, port, tmp, "serve").start()
    procs.append(daemon)
    daemon.wait_ready(timeout=60)
    db = tmp / "ennakko.db"

    def one(sql: str, params: tuple = ()):
        rows = query(db, sql, params)
        return rows[0][0] if rows else None

    def verdict(code: str):
        return one("SELECT d.verdict FROM decisions d JOIN residents r ON r.id = d.subject_id "
                   "WHERE d.service = 'preschool-offer' AND r.hetu = ?", (code,))

    def offers(code: str, state: str) -> int:
        return one("SELECT count(*) FROM outbox o JOIN residents r ON r.id = o.subject_id "
                   "WHERE r.hetu = ? AND o.state = ?", (code, state))

    # 1. The initial changes.
    wait_until("four cohort children eligible",
               lambda: all(verdict(c) == "eligible" for c in (kid_a, kid_b, kid_c, kid_d)), 60)
    wait_until("offers queued for them",
               lambda: offers(kid_a, "queued") == 2 and offers(kid_b, "queued") == 1
               and offers(kid_c, "queued") == 1 and offers(kid_d, "queued") == 1, 60)
    check(True, "step 1: 4 cohort children eligible, 5 offers queued to their guardians")
    check(one("SELECT street_address FROM residents WHERE hetu = ?", (protected,)) is None
          and one("SELECT address_protected FROM residents WHERE hetu = ?", (protected,)) == 1,
          "the adult under turvakielto has no address stored")

    # 2. Faults, then 3. the changes behind them.
    for fault in ({"status": 503, "path": "/api/v1/muutokset"},
                  {"delivery": "drop", "path": "/api/v1/muutokset"},
                  {"status": 429, "retryAfter": 1, "path": "/api/v1/muutokset"}):
        post(vtj_port, "/_test/faults", fault)
    later = (today + dt.timedelta(days=0)).isoformat()
    post(vtj_port, "/_test/changes", {"muutokset": [
        change(mum, later, {"tietoryhma": "LAPSI", "muutosattribuutti": "LISATTY", "lapsi": {"henkilotunnus": newborn}}),
        change(newborn, later, *home(), guardian(mum)),
        change(dad, later, {"tietoryhma": "LAPSI", "muutosattribuutti": "LISATTY", "lapsi": {"henkilotunnus": late}}),
        change(late, later, name("Lauri"), *home(), guardian(dad)),
        change(kid_c, later, home("049")[0]),
        change(kid_b, later, {"tietoryhma": "KUOLINPAIVA", "muutosattribuutti": "LISATTY", "kuollut": True,
                              "kuolinpv": date(later)}),
        change(kid_a, later, guardian(dad, "POISTETTU", end=later), guardian(other)),
        change(kid_d, later, {"tietoryhma": "HENKILOTUNNUS_KORJAUS", "muutosattribuutti": "LISATTY",
                              "voimassaolo": "AKTIIVI", "muutettuHenkilotunnus": kid_d2,
                              "aktiivinenHenkilotunnus": kid_d2, "edellisetHenkilotunnukset": [kid_d]}),
        change(mum, later, PROTECT),
        change(mum, later, *home()),
    ]})
    for pattern in (r"vtj: poll failed .*Unavailable: vtj: POST /api/v1/muutokset: HTTP 503",
                    r"vtj: poll failed .*Unavailable: vtj: POST /api/v1/muutokset: read",
                    r"vtj: poll failed .*ResourceExhausted: .*429"):
        daemon.wait_for_log(pattern, timeout=30)
    check(True, "step 2: 503, a dropped connection and 429 were each logged and retried")
    last_key = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{vtj_port}/_test/stats", timeout=5).read())["lastKey"]
    wait_until("the connector caught up with the fake's last key",
               lambda: one("SELECT cursor FROM connector_cursors WHERE connector = 'vtj'") == str(last_key), 60)

    wait_until("the birth: the newborn is known with its guardian",
               lambda: one("SELECT count(*) FROM custody c JOIN residents w ON w.id = c.ward_id "
                           "JOIN residents g ON g.id = c.guardian_id WHERE w.hetu = ? AND g.hetu = ?",
                           (newborn, mum)) == 1, 30)
    check(verdict(newborn) in (None, "excluded", "not_eligible"), "the newborn is not in this year's cohort",
          str(verdict(newborn)))
    wait_until("the late-registered cohort child is eligible with an offer queued",
               lambda: verdict(late) == "eligible" and offers(late, "queued") == 1, 30)
    wait_until("the move out: not eligible, its offer cancelled",
               lambda: verdict(kid_c) == "not_eligible" and offers(kid_c, "cancelled") == 1
               and offers(kid_c, "queued") == 0, 30)
    wait_until("the death after the offer was queued: offer cancelled",
               lambda: verdict(kid_b) == "not_eligible" and offers(kid_b, "cancelled") == 1, 30)
    check(one("SELECT c.end_date FROM custody c JOIN residents w ON w.id = c.ward_id JOIN residents g "
              "ON g.id = c.guardian_id WHERE w.hetu = ? AND g.hetu = ?", (kid_a, dad)) == later
          and one("SELECT count(*) FROM custody c JOIN residents w ON w.id = c.ward_id JOIN residents g "
                  "ON g.id = c.guardian_id WHERE w.hetu = ? AND g.hetu = ?", (kid_a, other)) == 1,
          "the custody change: the father's custody ends on the day, a new guardian is recorded")
    check(one("SELECT count(*) FROM residents WHERE hetu = ?", (kid_d,)) == 0
          and one("SELECT first_names FROM residents WHERE hetu = ?", (kid_d2,)) == "Daniel"
          and one("SELECT count(*) FROM identity_code_history WHERE former_hetu = ?", (kid_d,)) == 1
          and offers(kid_d2, "queued") == 1,
          "the identity-code correction: one resident under the new code, history kept, offer kept")
    check(one("SELECT street_address IS NULL AND address_protected = 1 FROM residents WHERE hetu = ?", (mum,)) == 1
          and one("SELECT count(*) FROM facts f JOIN residents r ON r.id = f.resident_id WHERE r.hetu = ? "
                  "AND f.name = 'address'", (mum,)) == 0,
          "the protection order: the mother's address is gone, also after a later address change")

    # 4. Nothing doubled, a clean stop, no identity code in logs.
    dup = one("SELECT count(*) FROM (SELECT service, subject_id, recipient_id FROM outbox "
              "GROUP BY 1, 2, 3 HAVING count(*) > 1)")
    check(dup == 0, "one offer per (service, subject, recipient)")
    check(one("SELECT count(*) FROM quarantine") == 0, "nothing quarantined")
    rc = daemon.terminate(timeout=30)
    check(rc == 0, f"SIGTERM: exit {rc}")
    text = daemon.output() + (tmp / "audit/audit.jsonl").read_text(encoding="utf-8")
    leaked = [c for c in codes if c in text]
    check(not leaked and not HETU_RE.search(text), "no identity code in the daemon's output or the audit log")


if __name__ == "__main__":
    main_wrapper(body)
