#!/usr/bin/env python3
"""End-to-end test of bad input: malformed population lines, broken rules, a broken config and an
edited audit log. Each must be caught and named by position; good input around it still works.

Steps:
  1. `ennakko demo generate --inject-malformed`; `ennakko serve` with the file channel only.
     The malformed lines are in the quarantine table (connector, batch, line, reason, raw record),
     exactly the lines the Python oracle (e2e_support.City) rejects; every other record applied
     (residents == the oracle's well-formed persons); the offers the oracle expects were written
     as files (files == outbox sent rows == oracle offers), each in the guardian's language.
  2. `ennakko rules check tests/data/rules-broken` exits 1 with `file:line:col: error:` lines,
     the unknown key among them; the same rule without that key shows its other errors;
     `ennakko rules check rules` exits 0.
  3. A config with an unknown key: `ennakko serve` exits 2 and names file:line:col.
  4. One edited line in the audit log: `ennakko audit verify --file` exits 1 naming that line
     (or the next); the untouched log verifies.

Usage: bad_input_e2e.py [--ennakko BIN] [--repo SRC] [--keep]. Exit status 0 = pass.
"""

from __future__ import annotations

import collections
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_support import (City, Daemon, check, expected_greeting, free_port,  # noqa: E402
                         helsinki_today, main_wrapper, parse_args, query, run, wait_until,
                         yaml_str)

SEED = 777
RESIDENTS = 2000
DIAG_RE = re.compile(r"^(\S+):(\d+):(\d+): error: (.*)$", re.M)


def write_config(path: Path, repo: Path, port: int, extra_store_line: str = "") -> Path:
    path.write_text(f"""\
# Written by bad_input_e2e.py: file channel only.
store:
  path: ennakko.db
{extra_store_line}audit:
  path: audit/audit.jsonl
  pseudonym_key: "e2e-bad-input-pseudonym-key"
rules:
  directory: {yaml_str(str(repo / "rules"))}
population:
  kind: file-drop
  directory: population
  poll_every_seconds: 1
channels:
  file: {{directory: offers}}
http:
  address: 127.0.0.1
  port: {port}
""", encoding="utf-8")
    return path


def body() -> None:
    args = parse_args(__doc__.splitlines()[0])
    tmp = Path(tempfile.mkdtemp(prefix="ennakko-e2e-bad-"))
    daemons: list[Daemon] = []
    print(f"temporary directory: {tmp}")
    try:
        _population(args, tmp, daemons)
        _rules(args, tmp)
        _config(args, tmp)
        _audit(args, tmp)
    finally:
        for d in daemons:
            d.kill()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _population(args, tmp: Path, daemons: list[Daemon]) -> None:
    today = helsinki_today()
    drop = tmp / "population"
    gen = run([args.ennakko, "demo", "generate", "--out", str(drop), "--seed", str(SEED),
               "--residents", str(RESIDENTS), "--inject-malformed"])
    check(gen.returncode == 0, f"demo generate --inject-malformed: {gen.stdout.strip()}", gen.stderr)
    city = City(drop)
    offers = city.preschool_offers(today)
    print(f"oracle: {len(city.people)} well-formed persons, malformed lines {city.malformed}, "
          f"{len(offers)} offers expected today ({today})")
    check(len(city.malformed) == 2, "the oracle finds the generator's 2 malformed lines")

    port = free_port()
    config = write_config(tmp / "ennakko.yaml", args.repo, port)
    daemon = Daemon(args.ennakko, config, port, tmp, "serve").start()
    daemons.append(daemon)
    ready = daemon.wait_ready(timeout=60)
    db = tmp / "ennakko.db"
    wait_until("outbox rows", lambda: query(db, "SELECT count(*) FROM outbox")[0][0], 10)
    wait_until("nothing queued or sending", lambda: query(
        db, "SELECT count(*) FROM outbox WHERE state IN ('queued', 'sending')")[0][0] == 0, 60)
    check(True, f"serve: ready after {ready:.1f} s, outbox drained")

    # Quarantine: exactly the malformed lines, with positions, reasons and the raw text.
    rows = query(db, "SELECT connector, batch, line, reason, record FROM quarantine ORDER BY batch, line")
    for connector, batch, line, reason, _ in rows:
        print(f"  quarantine: {connector} {batch}:{line}: {reason}")
    check(sorted((b, n) for _, b, n, _, _ in rows) == sorted(city.malformed),
          "the quarantine table holds exactly the malformed lines (batch, line number)",
          f"store: {[(b, n) for _, b, n, _, _ in rows]}; oracle: {city.malformed}")
    check(all(c == "population-filedrop" and r.strip() for c, _, _, r, _ in rows),
          "each quarantined line has its connector and a non-empty reason")
    raw = {}
    for batch, line in city.malformed:
        raw[(batch, line)] = (drop / batch).read_text(encoding="utf-8").split("\n")[line - 1]
    check(all(rec == raw[(b, n)] for _, b, n, _, rec in rows),
          "each quarantined record is the raw line, byte for byte")
    reasons = " | ".join(r for *_, r, _ in rows)
    check(re.search(r"JSON", reasons) and re.search(r"henkilotunnus", reasons),
          "the reasons say what is wrong (invalid JSON; the identity code)", reasons)

    # Everything else applied.
    residents = query(db, "SELECT count(*) FROM residents")[0][0]
    check(residents == len(city.people),
          f"residents in the store ({residents}) == the oracle's well-formed persons "
          f"({len(city.people)})")
    stored = {h for (h,) in query(db, "SELECT hetu FROM residents")}
    check(stored == set(city.people), "the stored identity codes are exactly the oracle's")

    # Offers as files.
    sent = query(db, "SELECT o.id, r.hetu, s.hetu, o.channel FROM outbox o JOIN residents r ON "
                     "r.id = o.recipient_id JOIN residents s ON s.id = o.subject_id "
                     "WHERE o.state = 'sent'")
    states = dict(query(db, "SELECT state, count(*) FROM outbox GROUP BY state"))
    files = sorted((tmp / "offers").glob("*.json"))
    check(len(files) == len(sent) and len(sent) > 0,
          f"offer files ({len(files)}) == outbox sent rows ({len(sent)}); outbox {states}")
    check(collections.Counter((s, r) for _, r, s, _ in sent)
          == collections.Counter((c.hetu, g.hetu) for c, g in offers) and states == {"sent": len(sent)},
          f"the sent offers are exactly the oracle's {len(offers)} (child, guardian) pairs, all sent")
    check(all(ch == "file" for *_, ch in sent), "every offer went through the file channel")
    recipient = {oid: r for oid, r, _, _ in sent}
    wrong = []
    for f in files:
        doc = json.loads(f.read_text(encoding="utf-8"))
        guardian = city.people[recipient[doc["outbox_id"]]]
        if not doc["body"].startswith(expected_greeting(guardian.language)):
            wrong.append(f"{f.name}: {guardian.language} but {doc['body'][:10]!r}")
        if f.stat().st_mode & 0o077:
            wrong.append(f"{f.name}: mode {oct(f.stat().st_mode & 0o777)}")
    check(not wrong, "each offer file is in the guardian's language and has mode 0600",
          "\n  ".join(wrong[:10]))
    rc = daemon.terminate(timeout=10)
    check(rc == 0, "SIGTERM: exit code 0 within 10 s", f"exit code {rc}")


def _rules(args, tmp: Path) -> None:
    broken = args.repo / "tests/data/rules-broken"
    r = run([args.ennakko, "rules", "check", str(broken)])
    diags = DIAG_RE.findall(r.stdout + r.stderr)
    print("  " + (r.stdout + r.stderr).strip().replace("\n", "\n  "))
    check(r.returncode == 1, "rules check tests/data/rules-broken exits 1", f"exit {r.returncode}")
    check(any(f.endswith("broken-offer/rule.yaml") and (line, col) == ("7", "1")
              and "unknown key 'colour'" in msg for f, line, col, msg in diags),
          "... and prints `rule.yaml:7:1: error: unknown key 'colour'`")
    # One run reports every problem, not only the schema error: each at file:line:col.
    messages = " | ".join(msg for *_, msg in diags)
    check(len(diags) == 9 and all(int(line) > 0 and int(col) > 0 for _, line, col, _ in diags)
          and "city_cod" in messages and "placments" in messages and "child_name" in messages
          and "how to object" in messages,
          f"one run prints all 9 `file:line:col: error:` lines (unknown key, unknown parameter "
          f"city_cod, unknown field placments, placeholder child_name, no objection section, ...); "
          f"got {len(diags)}", messages)
    r = run([args.ennakko, "rules", "check", str(args.repo / "rules")])
    check(r.returncode == 0, "rules check rules exits 0", r.stdout + r.stderr)


def _config(args, tmp: Path) -> None:
    bad_dir = tmp / "bad-config"
    bad_dir.mkdir()
    config = write_config(bad_dir / "bad-config.yaml", args.repo, free_port(),
                          extra_store_line="  compresion: true\n")
    line = config.read_text(encoding="utf-8").splitlines().index("  compresion: true") + 1
    r = run([args.ennakko, "serve", "--config", str(config)], timeout=10)
    out = r.stdout + r.stderr
    want = re.compile(rf"bad-config\.yaml:{line}:3: error: unknown key 'compresion'")
    where = ("stderr" if want.search(r.stderr) else "stdout" if want.search(r.stdout) else "neither")
    check(r.returncode == 2, "serve with an unknown config key exits 2", f"exit {r.returncode}: {out}")
    check(where != "neither", f"... naming bad-config.yaml:{line}:3 and the key (on {where})", out)
    check(not (bad_dir / "ennakko.db").exists(), "... before creating a store")


def _audit(args, tmp: Path) -> None:
    log = tmp / "audit/audit.jsonl"
    r = run([args.ennakko, "audit", "verify", "--file", str(log)])
    check(r.returncode == 0, f"audit verify --file on the untouched log: {r.stdout.strip()}",
          r.stdout + r.stderr)
    lines = log.read_text(encoding="utf-8").split("\n")
    k = next(i for i in range(len(lines) // 2, len(lines)) if '"verdict":"eligible"' in lines[i])
    edited = tmp / "audit-edited.jsonl"
    lines[k] = lines[k].replace('"verdict":"eligible"', '"verdict":"not_eligible"', 1)
    edited.write_text("\n".join(lines), encoding="utf-8")
    line_no = k + 1
    r = run([args.ennakko, "audit", "verify", "--file", str(edited)])
    print("  " + (r.stdout + r.stderr).strip().replace("\n", "\n  "))
    named = [int(n) for n in re.findall(rf"^{re.escape(str(edited))}:(\d+): ", r.stdout, re.M)]
    check(r.returncode == 1, f"audit verify --file exits 1 after line {line_no} was edited",
          f"exit {r.returncode}")
    check(named and min(named) in (line_no, line_no + 1),
          f"... and names line {line_no} (or {line_no + 1}) first: {named}")


if __name__ == "__main__":
    main_wrapper(body)
