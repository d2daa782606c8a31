#!/usr/bin/env python3
"""End-to-end test of rule hot reload: a broken rule set is rejected and the last good one keeps
running; a fixed one is taken on SIGHUP or POST /api/v1/rules/reload (bearer token only).

Steps:
  1. `ennakko demo generate`; `ennakko serve` on a copy of rules/ (file channel, an API token).
     Ready; /metrics shows ennakko_rules_info{revision=R0}; decisions are stored under R0.
  2. Break the rule (an unknown parameter) and send SIGHUP: the daemon keeps running, logs the
     problem as rule.yaml:LINE:COL (the exact position of the typo), /metrics counts one reload
     failure and still shows R0; the audit log has rules.rejected keeping R0.
  3. POST /api/v1/rules/reload without a token, and with a wrong one: 401, nothing reloaded.
  4. Fix the rule differently from the original (the municipality clause written the other way
     round) and POST the reload with the token: 202; the log names the new revision R1; /metrics
     shows R1 and no further failure; the audit log has rules.loaded R1 (trigger http).
  5. The evaluation pass after the reload re-records exactly the decisions whose reasons quote
     the rewritten clause, with ruleset R1 and the new clause text; every other decision is
     unchanged and keeps R0 (only changes are recorded); no offer was queued twice. Beside the
     running daemon, `ennakko explain --json` for one of them re-evaluates to the stored decision
     under R1, and `ennakko simulate` of the fixed rules against the original finds no verdict
     change and the same counts as the decisions table.
  6. SIGTERM: exit 0. No identity code, phone number or e-mail in the daemon's output or the audit
     log.

Usage: reload_e2e.py [--ennakko BIN] [--repo SRC] [--keep]. Exit status 0 = pass.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_support import (HETU_RE, City, Daemon, check, free_port, main_wrapper,  # noqa: E402
                         parse_args, query, run, scan_for_personal_data, wait_until, yaml_str)

SEED = 4242
RESIDENTS = 6000
TOKEN = "e2e-reload-token-0123456789abcdef"
ORIGINAL = "subject.municipality == params.city_code"
BROKEN = "subject.municipality == params.city_cod"
FIXED = "params.city_code == subject.municipality"
INFO_RE = re.compile(r'^ennakko_rules_info\{revision="([0-9a-f]+)"\} 1$', re.M)
FAILURES_RE = re.compile(r"^ennakko_rules_reload_failures_total (\d+)$", re.M)


def write_config(path: Path, rules: Path, port: int) -> Path:
    path.write_text(f"""\
# Written by reload_e2e.py: file channel only, an API token for the reload endpoint.
store:
  path: ennakko.db
audit:
  path: audit/audit.jsonl
  pseudonym_key: "e2e-reload-pseudonym-key-0123456789"
rules:
  directory: {yaml_str(str(rules))}
population:
  kind: file-drop
  directory: population
  poll_every_seconds: 1
channels:
  file: {{directory: offers}}
http:
  address: 127.0.0.1
  port: {port}
  token: {yaml_str(TOKEN)}
""", encoding="utf-8")
    return path


def post(port: int, path: str, token: str | None) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=b"", method="POST")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def metrics(daemon: Daemon) -> tuple[list[str], int]:
    """(revisions in ennakko_rules_info, reload failures)."""
    status, text = daemon.http_get("/metrics")
    if status != 200:
        raise AssertionError(f"/metrics answered {status}")
    failures = FAILURES_RE.search(text)
    return INFO_RE.findall(text), int(failures.group(1)) if failures else 0


def audit_events(log: Path, kind: str) -> list[dict]:
    out = []
    for line in log.read_text(encoding="utf-8").splitlines():
        if line.strip():
            event = json.loads(line)
            if event.get("type") == kind:
                out.append(event)
    return out


def body() -> None:
    args = parse_args(__doc__.splitlines()[0])
    tmp = Path(tempfile.mkdtemp(prefix="ennakko-e2e-reload-"))
    daemons: list[Daemon] = []
    print(f"temporary directory: {tmp}")
    try:
        _reload(args, tmp, daemons)
    finally:
        for d in daemons:  # killed whatever happened, also when a check failed
            d.kill()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _reload(args, tmp: Path, daemons: list[Daemon]) -> None:
    rules = tmp / "rules"
    shutil.copytree(args.repo / "rules", rules)
    rule_file = rules / "preschool-offer/rule.yaml"
    original = rule_file.read_text(encoding="utf-8")
    check(original.count(ORIGINAL) == 1, f"the shipped rule has the clause `{ORIGINAL}` once")

    drop = tmp / "population"
    gen = run([args.ennakko, "demo", "generate", "--out", str(drop), "--seed", str(SEED),
               "--residents", str(RESIDENTS)])
    check(gen.returncode == 0, f"demo generate: {gen.stdout.strip()}", gen.stderr)
    city = City(drop)

    # 1. Serve on the copy.
    port = free_port()
    config = write_config(tmp / "ennakko.yaml", rules, port)
    daemon = Daemon(args.ennakko, config, port, tmp, "serve").start()
    daemons.append(daemon)
    daemon.wait_ready(timeout=60)
    db = tmp / "ennakko.db"
    audit = tmp / "audit/audit.jsonl"
    revisions, failures = metrics(daemon)
    check(len(revisions) == 1 and failures == 0,
          f"ready; /metrics: ennakko_rules_info{{revision={revisions}}}, 0 reload failures")
    r0 = revisions[0]
    # The pre-primary rule's decisions: the reload below rewrites a clause of that rule only (other
    # shipped rules may quote the same clause and are not touched).
    stored = query(db, "SELECT id, reasons, ruleset, decided_at FROM decisions WHERE service = 'preschool-offer'")
    check(stored and {rs for _, _, rs, _ in stored} == {r0},
          f"{len(stored)} decisions stored, all under revision {r0}")
    municipality_reasons = [i for i, reasons, _, _ in stored if ORIGINAL in reasons]
    check(municipality_reasons, f"{len(municipality_reasons)} decision(s) quote `{ORIGINAL}` in their "
                                f"reasons (children living elsewhere): the fix will change them")
    offers_before = query(db, "SELECT count(*) FROM outbox")[0][0]

    # 2. Break the rule; SIGHUP.
    rule_file.write_text(original.replace(ORIGINAL, BROKEN), encoding="utf-8")
    lines = rule_file.read_text(encoding="utf-8").splitlines()
    line_no = next(i for i, text in enumerate(lines, start=1) if BROKEN in text)
    col = lines[line_no - 1].index("city_cod") + 1
    mark = len(daemon.output())
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for_log(r"reload rejected", timeout=15, after=mark)
    logged = daemon.output()[mark:]
    print("  " + "\n  ".join(l for l in logged.splitlines() if "rule" in l))
    want = re.compile(rf"{re.escape(str(rule_file))}:{line_no}:{col}: error: unknown parameter 'city_cod'")
    check(want.search(logged) is not None,
          f"SIGHUP with a broken rule: the log names rule.yaml:{line_no}:{col} and the unknown parameter")
    check(f"still running revision {r0}" in logged, f"... and says revision {r0} keeps running")
    time.sleep(1.5)
    check(daemon.alive(), "the daemon keeps running")
    status, _ = daemon.http_get("/healthz")
    check(status == 200, "/healthz still answers 200")
    revisions, failures = metrics(daemon)
    check(revisions == [r0] and failures == 1,
          f"/metrics: ennakko_rules_reload_failures_total 1 and still revision {r0}",
          f"revisions {revisions}, failures {failures}")
    rejected = audit_events(audit, "rules.rejected")
    check(len(rejected) == 1 and rejected[0].get("kept_revision") == r0 and rejected[0].get("errors", 0) >= 1
          and rejected[0].get("trigger") == "sighup",
          f"audit: one rules.rejected event keeping {r0}, trigger sighup", json.dumps(rejected))

    # 3. The reload endpoint wants the bearer token.
    mark = len(daemon.output())
    check(post(port, "/api/v1/rules/reload", None) == 401, "POST /api/v1/rules/reload without a token: 401")
    check(post(port, "/api/v1/rules/reload", "wrong-token") == 401, "... with a wrong token: 401")
    time.sleep(1.5)
    check(re.search(r"rules: reload", daemon.output()[mark:]) is None, "... and nothing was reloaded")

    # 4. A different fix; POST with the token.
    rule_file.write_text(original.replace(ORIGINAL, FIXED), encoding="utf-8")
    check_run = run([args.ennakko, "rules", "check", str(rules)])
    check(check_run.returncode == 0, "the fixed rules pass `rules check`", check_run.stdout)
    mark = len(daemon.output())
    reload_time = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    check(post(port, "/api/v1/rules/reload", TOKEN) == 202, "POST /api/v1/rules/reload with the token: 202")
    m = daemon.wait_for_log(r"rules: reloaded, revision ([0-9a-f]+)", timeout=15, after=mark)
    r1 = m.group(1)
    check(r1 != r0, f"the log says: reloaded, revision {r1}")
    daemon.wait_for_log(r"engine: .* changed", timeout=30, after=mark)
    def new_revision_shown():
        shown = metrics(daemon)
        return shown if shown[0] == [r1] else None
    revisions, failures = wait_until("ennakko_rules_info to show the new revision", new_revision_shown, 15)
    check(revisions == [r1] and failures == 1,
          f"/metrics: ennakko_rules_info{{revision={r1}}}; failures still 1",
          f"revisions {revisions}, failures {failures}")
    # The store's WAL is checkpointed by the background thread, and /metrics says so.
    text = daemon.http_get("/metrics")[1]
    ckpt = re.search(r"^ennakko_store_wal_checkpoints (\d+)", text, re.M)
    backlog = re.search(r"^ennakko_store_wal_backlog_frames (\d+)", text, re.M)
    check(ckpt is not None and int(ckpt.group(1)) > 0 and backlog is not None,
          f"/metrics: background WAL checkpoints {ckpt and ckpt.group(1)}, backlog {backlog and backlog.group(1)} frames")
    loaded = [e for e in audit_events(audit, "rules.loaded") if e.get("revision") == r1]
    check(len(loaded) == 1 and loaded[0].get("trigger") == "http",
          f"audit: rules.loaded revision {r1}, trigger http", json.dumps(loaded))

    # 5. Decisions recorded after the reload carry the new revision.
    after = {i: (reasons, rs, at) for i, reasons, rs, at in
             query(db, "SELECT id, reasons, ruleset, decided_at FROM decisions WHERE service = 'preschool-offer'")}
    before = {i: (reasons, rs, at) for i, reasons, rs, at in stored}
    changed = sorted(i for i in after if after[i] != before.get(i))
    check(changed == sorted(municipality_reasons),
          f"the pass after the reload re-recorded exactly the {len(municipality_reasons)} decision(s) "
          f"quoting the rewritten clause", f"changed {changed}, expected {sorted(municipality_reasons)}")
    check(all(after[i][1] == r1 and FIXED in after[i][0] and ORIGINAL not in after[i][0]
              and after[i][2] >= reload_time for i in changed),
          f"... each now under revision {r1}, decided after the reload, quoting `{FIXED}`")
    recorded_after = [rs for reasons, rs, at in after.values() if at >= reload_time]
    check(recorded_after and set(recorded_after) == {r1},
          f"every decision recorded after the reload ({len(recorded_after)}) has ruleset {r1}")
    check(all(after[i] == before[i] for i in before if i not in changed),
          f"the {len(before) - len(changed)} unchanged decisions keep revision {r0}")
    offers_after = query(db, "SELECT count(*) FROM outbox")[0][0]
    check(offers_after == offers_before, f"no offer queued twice by the reload ({offers_after} in the outbox)")

    # 5b. The operator tools on the live store, beside the running daemon (read-only).
    subject = next(e["subject"] for e in audit_events(audit, "decision") if e.get("decision") == changed[0]
                   and e.get("ruleset") == r1)
    ex = run([args.ennakko, "explain", "--config", str(config), "--service", "preschool-offer",
              "--subject", subject, "--json"])
    check(ex.returncode == 0, f"explain --subject {subject} --json exits 0", ex.stderr)
    doc = json.loads(ex.stdout)
    stored_row = query(db, "SELECT verdict, ruleset FROM decisions WHERE id = ?", (changed[0],))[0]
    check(doc["revision"] == r1 and doc["verdict"] == stored_row[0] and doc["differences"] == []
          and doc["stored_decision"]["ruleset"] == r1 and any(FIXED in r for r in doc["reasons"]),
          f"... it re-evaluates under {r1} to the stored decision ({stored_row[0]}), no differences",
          json.dumps(doc)[:2000])
    held = [f for f in doc["facts"] if f["value"] not in (None, [], True, False)]
    check(held and all(f.get("provenance", {}).get("source") == "population-filedrop"
                       and f["provenance"].get("change_id") and f["provenance"].get("fetched_at") for f in held),
          f"... each declared fact held ({', '.join(f['fact'] for f in held)}) with its provenance "
          f"(source, change id, fetched at)", json.dumps(doc["facts"]))
    original_rules = tmp / "rules-original"
    shutil.copytree(rules, original_rules)
    (original_rules / "preschool-offer/rule.yaml").write_text(original, encoding="utf-8")
    sim = run([args.ennakko, "simulate", "--config", str(config), "--rules", str(rules),
               "--against", str(original_rules)])
    check(sim.returncode == 0 and "0 subject decision(s) change verdict" in sim.stdout,
          "simulate --rules (fixed) --against (original): no verdict changes", sim.stdout + sim.stderr)
    by_verdict = dict(query(db, "SELECT verdict, count(*) FROM decisions WHERE service = 'preschool-offer' GROUP BY verdict"))
    counted = {v: int(n) for v, n in re.findall(r"^  preschool-offer\s+(\w+)\s+(\d+)\s", sim.stdout, re.M)}
    check(counted == by_verdict, f"... and its counts by verdict equal the daemon's decisions {by_verdict}",
          sim.stdout)
    check(HETU_RE.search(ex.stdout + sim.stdout) is None, "explain and simulate print no identity code")

    # 6. Stop; no personal data anywhere.
    rc = daemon.terminate(timeout=10)
    check(rc == 0, "SIGTERM: exit code 0", f"exit code {rc}")
    problems = scan_for_personal_data(daemon.output(), "daemon output", city.phones, city.emails)
    problems += scan_for_personal_data(audit.read_text(encoding="utf-8"), "audit log", city.phones, city.emails)
    check(not problems, "no identity code, phone number or e-mail in the daemon's output or the audit log",
          "\n  ".join(problems[:10]))


if __name__ == "__main__":
    main_wrapper(body)
