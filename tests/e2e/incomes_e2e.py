#!/usr/bin/env python3
"""End-to-end test of the Incomes Register connector: `incomes_fake` and `ennakko serve` as processes.

Steps:
  1. A population file drop with a family (a child with an open ECEC placement and two guardians)
     and a stranger (an adult with no child in ECEC and no consent). The double holds October-style
     earnings reports (the previous calendar month) for all three adults.
  2. The daemon fetches the guardians' incomes (a pending fee decision is their legal basis) and
     the ecec-fee-reduction rule decides on the child: eligible (their fee is below the maximum),
     offers to both guardians. The double's record of queries names the two guardians and never
     the stranger; the store holds no income of the stranger.
  3. A 503 from the register: the daemon logs the failure and backs off; the mother's replacement
     report (a higher ReportVersion with a much higher amount) then arrives and supersedes the
     first one: the decision becomes not_eligible (the fee reaches the maximum). Re-delivered
     batches ("duplicate" fault) add no duplicate incomes.
  4. No identity code in the daemon's output or the audit log; clean exit on SIGTERM.

Usage: incomes_e2e.py --ennakko BIN --incomes-fake BIN [--repo SRC] [--keep]. Exit status 0 = pass.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_support import (HETU_RE, CheckFailed, Daemon, check, free_port,  # noqa: E402
                         helsinki_today, main_wrapper, query, wait_until, yaml_str)

CHECK_CHARS = "0123456789ABCDEFHJKLMNPRSTUVWXY"


def hetu(born: dt.date, number: int) -> str:
    """A synthetic identity code (individual number 900-999)."""
    assert 900 <= number <= 999
    sign = "-" if born.year < 2000 else "A"
    digits = f"{born.day:02d}{born.month:02d}{born.year % 100:02d}{number:03d}"
    return f"{digits[:6]}{sign}{digits[6:]}{CHECK_CHARS[int(digits) % 31]}"


def day(d: dt.date) -> dict:
    return {"arvo": d.isoformat(), "tarkkuus": "PAIVA"}


def person(code: str, first: str, extra: list) -> str:
    groups = [{"tietoryhma": "HENKILON_NIMI", "etunimet": first, "sukunimi": "Testinen"},
              {"tietoryhma": "KOTIKUNTA", "kuntakoodi": "091"},
              {"tietoryhma": "AIDINKIELI", "kielikoodi": "fi"}] + extra
    return json.dumps({"henkilotunnus": code, "tietoryhmat": groups})


def delivery(code: str, report_id: str, version: int, action: int, received: str, amount: str,
             month_start: dt.date, month_end: dt.date) -> str:
    return (f"<DeliveryData><PaymentPeriod><PaymentDate>{month_end.isoformat()}</PaymentDate>"
            f"<StartDate>{month_start.isoformat()}</StartDate><EndDate>{month_end.isoformat()}</EndDate>"
            f"</PaymentPeriod><Payer><PayerIds><Id>1234567-8</Id></PayerIds></Payer><Reports><Report>"
            f"<ReportData><ActionCode>{action}</ActionCode><IRReportId>{report_id}</IRReportId>"
            f"<ReportVersion>{version}</ReportVersion><ReceivedTimestamp>{received}</ReceivedTimestamp>"
            f"</ReportData><IncomeEarner><IncomeEarnerIds><Id>{code}</Id></IncomeEarnerIds></IncomeEarner>"
            f"<Transactions><Transaction><TransactionBasic><TransactionCode>201</TransactionCode>"
            f"<Amount>{amount}</Amount><OneOff>false</OneOff><Recovery>false</Recovery></TransactionBasic>"
            f"</Transaction></Transactions></Report></Reports></DeliveryData>")


def utc(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Fake:
    def __init__(self, binary: str, data: Path, log: Path) -> None:
        self.log = open(log, "wb")
        self.proc = subprocess.Popen([binary, "--port", "0", "--data", str(data), "--password", "e2e-secret"],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.base = "http://127.0.0.1:" + self.proc.stdout.readline().strip()

    def call(self, method: str, path: str, body: bytes | None = None) -> bytes:
        req = urllib.request.Request(self.base + path, data=body, method=method)
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.read()

    def queried(self) -> list[str]:
        return [q["incomeEarner"] for q in json.loads(self.call("GET", "/_test/queries"))]

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def decision(db: Path, child: str):
    rows = query(db, "SELECT d.verdict FROM decisions d JOIN residents r ON r.id = d.subject_id "
                     "WHERE d.service = 'ecec-fee-reduction' AND r.hetu = ?", (child,))
    return rows[0][0] if rows else None


def body() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    repo_default = Path(__file__).resolve().parent.parent.parent
    p.add_argument("--ennakko", default=str(repo_default / "build/engine/app/ennakko"))
    p.add_argument("--incomes-fake", default=str(repo_default / "build/tests/fakes/incomes_fake"))
    p.add_argument("--repo", default=str(repo_default))
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    for b in (args.ennakko, args.incomes_fake):
        if not os.access(b, os.X_OK):
            p.error(f"not an executable: {b}")

    tmp = Path(tempfile.mkdtemp(prefix="ennakko-e2e-incomes-"))
    print(f"temporary directory: {tmp}")
    today = helsinki_today()
    month_end = today.replace(day=1) - dt.timedelta(days=1)  # the previous calendar month
    month_start = month_end.replace(day=1)
    now = dt.datetime.now(dt.timezone.utc)
    received = utc(now - dt.timedelta(days=2))

    child = hetu(dt.date(2023, 5, 5), 904)
    mum, dad, stranger = hetu(dt.date(1990, 1, 1), 902), hetu(dt.date(1989, 2, 2), 903), hetu(dt.date(1985, 3, 3), 906)
    pop = tmp / "population"
    pop.mkdir()
    custody = lambda g: {"tietoryhma": "HUOLTAJA_SUPPEA", "henkilotunnus": g,  # noqa: E731
                         "huoltosuhteenAlkupv": day(dt.date(2023, 5, 5))}
    (pop / "000000.snapshot.jsonl").write_text("\n".join([
        person(mum, "Maija", []), person(dad, "Matti", []), person(stranger, "Sakari", []),
        person(child, "Aino", [custody(mum), custody(dad),
                               {"tietoryhma": "SIJOITUS", "laji": "varhaiskasvatus", "alkupv": day(dt.date(2024, 8, 1))}]),
    ]) + "\n", encoding="utf-8")
    data = tmp / "incomes.xml"
    # 2500 + 2000 = 4500 a month for a family of three: under the income limit, so the fee is 0.
    data.write_text("<IncomesFakeData>" +
                    delivery(mum, "IR-M1", 1, 1, received, "2500.00", month_start, month_end) +
                    delivery(dad, "IR-D1", 1, 1, received, "2000.00", month_start, month_end) +
                    delivery(stranger, "IR-S1", 1, 1, received, "9000.00", month_start, month_end) +
                    "</IncomesFakeData>", encoding="utf-8")

    fake = Fake(args.incomes_fake, data, tmp / "incomes_fake.stderr")
    port = free_port()
    config = tmp / "ennakko.yaml"
    (tmp / "incomes.password").write_text("e2e-secret\n")
    config.write_text(f"""\
store: {{path: ennakko.db}}
audit: {{path: audit/audit.jsonl, pseudonym_key: "e2e-incomes-pseudonym-key"}}
rules: {{directory: {yaml_str(str(Path(args.repo) / "rules"))}}}
population: {{kind: file-drop, directory: population, poll_every_seconds: 1}}
connectors:
  incomes:
    base_url: {yaml_str(fake.base)}
    username: ennakko
    password: {{file: incomes.password}}
    purpose: ecec-fee-income
    poll_every_seconds: 2
    window_days: 62
    timeout_ms: 3000
channels:
  file: {{directory: offers}}
http: {{address: 127.0.0.1, port: {port}}}
""", encoding="utf-8")
    daemon = Daemon(args.ennakko, config, port, tmp, "serve")
    db = tmp / "ennakko.db"
    try:
        daemon.start()
        daemon.wait_ready(60)
        verdict = wait_until("the fee-reduction decision with incomes", lambda: decision(db, child) == "eligible"
                             and decision(db, child), 60)
        check(verdict == "eligible", "the family's fee from its earnings is below the maximum: eligible")
        offers = query(db, "SELECT r.hetu FROM outbox o JOIN residents r ON r.id = o.recipient_id "
                           "WHERE o.service = 'ecec-fee-reduction' ORDER BY r.hetu")
        check(sorted(h for (h,) in offers) == sorted([mum, dad]), "one offer to each guardian",
              str(offers))
        queried = set(fake.queried())
        check(queried == {mum, dad}, "the register was asked about the two guardians only",
              f"{len(queried)} earners queried")
        check(stranger not in queried and child not in queried, "nobody without a legal basis was queried")
        held = query(db, "SELECT r.hetu, i.amount_cents FROM incomes i JOIN residents r ON r.id = i.earner_id "
                         "ORDER BY r.hetu")
        check(sorted(held) == sorted([(mum, 250000), (dad, 200000)]), "the guardians' incomes are stored",
              str(len(held)))

        # A 503, then a re-delivered batch, then the mother's replacement report.
        fake.call("POST", "/_test/faults", json.dumps({"kind": "status", "status": 503}).encode())
        daemon.wait_for_log(r"incomes: poll failed .*next try in [0-9.]+ s: .*Unavailable", 30)
        check(True, "a 503 is logged and backed off")
        fake.call("POST", "/_test/faults", json.dumps({"kind": "duplicate", "count": 4}).encode())
        later = utc(dt.datetime.now(dt.timezone.utc))
        fake.call("POST", "/_test/reports",
                  ("<IncomesFakeData>" + delivery(mum, "IR-M1", 2, 2, later, "9000.00", month_start, month_end) +
                   "</IncomesFakeData>").encode())
        wait_until("the replacement to supersede the first report",
                   lambda: query(db, "SELECT version FROM incomes WHERE report_id = 'IR-M1'") == [(2,)], 60)
        check(query(db, "SELECT count(*) FROM incomes") == [(2,)], "no duplicate incomes after re-delivery")
        check(query(db, "SELECT amount_cents FROM incomes WHERE report_id = 'IR-M1'") == [(900000,)],
              "the replacement's amount replaced the original")
        wait_until("the decision to follow the new income", lambda: decision(db, child) == "not_eligible", 60)
        check(True, "with 11,000 a month the fee reaches the maximum: not eligible")
        check(stranger not in set(fake.queried()), "the stranger was still never queried")

        code = daemon.terminate(30)
        check(code == 0, "the daemon exits 0 on SIGTERM", str(code))
        audit = (tmp / "audit/audit.jsonl").read_text(encoding="utf-8")
        check(not HETU_RE.search(daemon.output()), "no identity code in the daemon's output")
        check(not HETU_RE.search(audit), "no identity code in the audit log")
        check(any(e.get("type") == "connector.applied" and e.get("connector") == "incomes"
                  for e in map(json.loads, audit.splitlines())), "incomes polls are audited")
    finally:
        daemon.kill()
        fake.stop()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main_wrapper(body)
