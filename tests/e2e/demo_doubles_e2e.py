#!/usr/bin/env python3
"""End-to-end test of the quick-start demo: `deploy/run-demo.sh` as a user runs it, with the
registries played by vtj_fake and incomes_fake (a smaller city, so that it takes seconds).

Steps:
  1. `deploy/run-demo.sh --no-install --no-build` (no apt; the binaries of this build) with its
     state in a temporary directory: it generates the city, starts the doubles on free loopback
     ports, writes its config and runs `ennakko serve`.
  2. The residents come through the VTJ double: every resident of the snapshot has facts from the
     `vtj` connector (perustiedot: at least one call per 1,000 codes), the change feed is followed
     to the double's last key, and nothing is quarantined.
  3. Incomes are fetched for exactly the residents with a legal basis — the guardians of children
     in ECEC (a pending fee decision), computed here from the generated city — and the double is
     asked about no one else; the stored reports are the double's.
  4. The fee-reduction rule decides on the incomes: none of its decisions is left undetermined and
     both verdicts occur; `ennakko simulate` on a copy of the store without the incomes finds them
     undetermined (the family's income not held) but for those not eligible anyway (moved out). Offers are written
     by the file channel, one file per sent offer, fee-reduction offers among them.
  5. Ctrl-C (SIGINT to the script's process group): the script exits 0, the daemon stopped cleanly
     and both doubles are gone. No identity code in the script's output, the doubles' logs or the
     audit log.

Usage: demo_doubles_e2e.py --build-dir DIR [--repo SRC] [--residents N] [--keep]. Exit 0 = pass.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_support import (HETU_RE, CheckFailed, check, free_port, main_wrapper,  # noqa: E402
                         query, run, wait_until)


def ecec_guardians(city: Path) -> set[str]:
    """The oracle of the legal basis: guardians of the snapshot's children with an ECEC placement
    that has not ended (the demo's change batches end no placement and no custody before today)."""
    out: set[str] = set()
    for line in (city / "000000.snapshot.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        groups = rec["tietoryhmat"]
        if any(g["tietoryhma"] == "SIJOITUS" and g.get("laji") == "varhaiskasvatus" and "loppupv" not in g
               for g in groups):
            out.update(g["henkilotunnus"] for g in groups if g["tietoryhma"] == "HUOLTAJA_SUPPEA")
    return out


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def body() -> None:
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build-dir", default=str(here.parent.parent / "build"))
    p.add_argument("--repo", default=str(here.parent.parent))
    p.add_argument("--residents", type=int, default=5000)
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    build = Path(args.build_dir).resolve()
    for b in ("engine/app/ennakko", "tests/fakes/vtj_fake", "tests/fakes/incomes_fake"):
        if not os.access(build / b, os.X_OK):
            p.error(f"not built: {build / b}")
    tmp = Path(tempfile.mkdtemp(prefix="ennakko-e2e-demo-"))
    print(f"temporary directory: {tmp}")
    script = None
    try:
        script = _run(args, build, tmp)
    finally:
        if script is not None and script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)
            script.wait()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _run(args, build: Path, tmp: Path) -> subprocess.Popen:
    var = tmp / "var"
    demo = var / "demo"
    port = free_port()
    env = dict(os.environ, ENNAKKO_BUILD_DIR=str(build), ENNAKKO_VAR_DIR=str(var),
               ENNAKKO_DEMO_RESIDENTS=str(args.residents), ENNAKKO_DEMO_PORT=str(port))
    out_path = tmp / "run-demo.out"
    t0 = time.monotonic()
    with open(out_path, "wb") as out:
        script = subprocess.Popen(["bash", str(Path(args.repo) / "deploy/run-demo.sh"), "--no-install", "--no-build"],
                                  stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                  start_new_session=True)

    def output() -> str:
        return out_path.read_bytes().decode("utf-8", errors="replace")

    def ready() -> bool:
        if script.poll() is not None:
            raise CheckFailed(f"run-demo.sh exited {script.returncode}:\n{output()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    wait_until("the demo daemon to be ready", ready, 60)
    check(True, f"step 1: run-demo.sh generated the city, started the doubles and the daemon "
                f"({time.monotonic() - t0:.1f} s)")
    vtj = "http://127.0.0.1:" + (demo / "vtj-fake/port").read_text().split()[0]
    incomes = "http://127.0.0.1:" + (demo / "incomes-fake/port").read_text().split()[0]
    db = demo / "ennakko.db"

    def one(sql: str, params: tuple = ()):
        rows = query(db, sql, params)
        return rows[0][0] if rows else None

    # 2. Residents through the VTJ double.
    snapshot = [json.loads(line)["henkilotunnus"]
                for line in (demo / "city/000000.snapshot.jsonl").read_text(encoding="utf-8").splitlines()]
    last_key = get_json(vtj + "/_test/stats")["lastKey"]
    wait_until("the VTJ connector to load the city and follow the feed to the double's last key",
               lambda: one("SELECT cursor FROM connector_cursors WHERE connector = 'vtj'") == str(last_key)
               and one("SELECT count(DISTINCT resident_id) FROM facts WHERE source = 'vtj'") >= len(snapshot), 60)
    from_vtj = {h for (h,) in query(db, "SELECT DISTINCT r.hetu FROM facts f JOIN residents r "
                                        "ON r.id = f.resident_id WHERE f.source = 'vtj' AND f.name = 'name'")}
    missing = [h for h in snapshot if h not in from_vtj]
    check(not missing, f"every one of the {len(snapshot)} residents has its name from the VTJ double",
          f"{len(missing)} without")
    stats = get_json(vtj + "/_test/stats")
    check(stats["perustiedotRequests"] >= (len(snapshot) + 999) // 1000 and stats["muutoksetRequests"] >= 1,
          "the initial load went through perustiedot, then the change feed", json.dumps(stats))
    check(one("SELECT count(*) FROM quarantine") == 0, "nothing quarantined")
    check(one("SELECT count(*) FROM facts WHERE source = 'population-filedrop' AND name = 'name'") == 0,
          "names come from VTJ only (the file drop holds only the city's placements and contacts)")

    # 3. Incomes for the residents with a legal basis, and nobody else.
    basis = ecec_guardians(demo / "city")
    check(len(basis) > 50, f"the city has {len(basis)} guardians of children in ECEC")

    def fetched() -> set[str]:
        return {h for (h,) in query(db, "SELECT r.hetu FROM incomes_fetched f JOIN residents r ON r.id = f.resident_id")}
    wait_until("incomes fetched for every guardian with a pending fee decision", lambda: fetched() == basis, 60)
    asked = {q["incomeEarner"] for q in get_json(incomes + "/_test/queries")}
    check(asked == basis, "the Incomes Register double was asked about exactly those guardians",
          f"{len(asked - basis)} without a basis asked")
    earners = {h for (h,) in query(db, "SELECT DISTINCT r.hetu FROM incomes i JOIN residents r ON r.id = i.earner_id")}
    m = re.search(r"earnings reports for (\d+) of (\d+)", output())
    check(m is not None, "run-demo.sh says how many reports the Incomes Register double holds")
    reported = int(m.group(1))
    check(earners <= basis and len(earners) == reported and one("SELECT count(*) FROM incomes") == reported,
          f"the {reported} reports the double holds are stored, for guardians only")

    # 4. Fee-reduction decisions on those incomes, and offers written.
    def verdicts() -> dict[str, int]:
        return dict(query(db, "SELECT verdict, count(*) FROM decisions WHERE service = 'ecec-fee-reduction' GROUP BY 1"))
    wait_until("no fee-reduction decision left undetermined",
               lambda: (v := verdicts()) and v.get("undetermined", 0) == 0, 60)
    v = verdicts()
    decided = v.get("eligible", 0) + v.get("not_eligible", 0)
    check(v.get("eligible", 0) > 0 and v.get("not_eligible", 0) > 0,
          f"fee-reduction decisions made on incomes: {decided} decided (eligible {v.get('eligible', 0)}, "
          f"not eligible {v.get('not_eligible', 0)}), 0 undetermined")
    unfetched = one("SELECT count(DISTINCT d.subject_id) FROM decisions d JOIN custody c ON c.ward_id = d.subject_id "
                    "WHERE d.service = 'ecec-fee-reduction' AND d.verdict = 'eligible' "
                    "AND (c.end_date IS NULL OR c.end_date >= date('now')) "
                    "AND c.guardian_id NOT IN (SELECT resident_id FROM incomes_fetched)")
    check(unfetched == 0, "every eligible child's guardians had their incomes fetched", str(unfetched))

    def sent() -> int:
        return one("SELECT count(*) FROM outbox WHERE state = 'sent'")
    wait_until("every queued offer written",
               lambda: one("SELECT count(*) FROM outbox WHERE state = 'queued'") == 0
               and len(list((demo / "offers").glob("*.json"))) == sent() > 0, 60)
    files = list((demo / "offers").glob("*.json"))
    services = {json.loads(f.read_text(encoding="utf-8"))["service"] for f in files}
    check("ecec-fee-reduction" in services and "preschool-offer" in services,
          f"{len(files)} offers written to var/demo/offers, fee-reduction offers among them")

    # 5. Ctrl-C stops the daemon and the doubles.
    pids = [int((demo / d / "pid").read_text()) for d in ("vtj-fake", "incomes-fake")]
    os.killpg(script.pid, signal.SIGINT)
    try:
        rc = script.wait(timeout=30)
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"run-demo.sh still running 30 s after Ctrl-C:\n{output()[-2000:]}") from None
    check(rc == 0, f"run-demo.sh exits {rc} on Ctrl-C")
    check("stopped cleanly" in output(), "the daemon stopped cleanly")

    def gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
            return False
        except ProcessLookupError:
            return True
    wait_until("both doubles to be gone", lambda: all(gone(pid) for pid in pids), 10)
    check(True, "the doubles were stopped with the demo")

    # The same store without the Incomes Register's data, simulated read-only: every decision the
    # incomes made is undetermined again.
    copy = demo / "without-incomes.db"
    src, dst = sqlite3.connect(db), sqlite3.connect(copy)
    src.backup(dst)
    dst.executescript("DELETE FROM incomes; DELETE FROM income_reports; DELETE FROM incomes_fetched;")
    dst.close()
    src.close()
    config = demo / "without-incomes.yaml"
    config.write_text(re.sub(r"(?m)^  path: ennakko.db$", f"  path: {json.dumps(str(copy))}",
                             (demo / "ennakko.yaml").read_text(encoding="utf-8")), encoding="utf-8")
    sim = run([str(build / "engine/app/ennakko"), "simulate", "--config", str(config),
               "--rules", str(Path(args.repo) / "rules")], timeout=60)
    m = re.search(r"ecec-fee-reduction\s+undetermined\s+(\d+)", sim.stdout)
    without = int(m.group(1)) if m else -1
    check(sim.returncode == 0 and without >= v["eligible"] and without > decided // 2,
          f"without incomes {without} of the {decided} fee-reduction decisions are undetermined "
          "(simulated; the rest are not eligible whatever the income, e.g. moved out), with them 0",
          sim.stdout[-1500:] + sim.stderr[-500:])

    texts = {"run-demo.sh output": output(), "audit log": (demo / "audit/audit.jsonl").read_text(encoding="utf-8")}
    for d in ("vtj-fake", "incomes-fake"):
        texts[f"{d} log"] = (demo / d / "log").read_text(encoding="utf-8")
    for where, text in texts.items():
        m = HETU_RE.search(text)
        check(m is None, f"no identity code in the {where}", m.group(0) if m else "")
    return script


if __name__ == "__main__":
    main_wrapper(body)
