"""Shared helpers for Ennakko's end-to-end tests (serve_kannel_e2e.py, bad_input_e2e.py).

Standard library only. What is here:
  - parse_args(): --ennakko BINARY, --repo SOURCE_ROOT, --keep (keep the temporary directory);
  - Daemon: `ennakko serve` as a child process with its stdout and stderr in files, readiness
    polling, SIGTERM with a deadline, and a kill on cleanup whatever happened;
  - query(): read-only SQLite reads of the daemon's store while it runs;
  - City: an independent oracle for the population file drop. It re-implements, in Python and
    from the format itself, what the batches say: identity codes (with their checksum), the
    snapshot and then the change batches in number order, custody with start and end dates,
    placements, contact details and deaths. It does not run or link any of our C++ code, so it
    can catch the daemon's mistakes instead of repeating them.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent

# A Finnish identity code anywhere in a text: DDMMYY, century sign, NNN, check character.
HETU_RE = re.compile(r"(?<![0-9A-Za-z])[0-3]\d[01]\d\d\d[-+A-FU-Y]\d{3}[0-9A-FHJ-NPR-Y](?![0-9A-Za-z])")
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_CHECK_CHARS = "0123456789ABCDEFHJKLMNPRSTUVWXY"
_CENTURY = {"+": 1800, "-": 1900, "Y": 1900, "X": 1900, "W": 1900, "V": 1900, "U": 1900,
            "A": 2000, "B": 2000, "C": 2000, "D": 2000, "E": 2000, "F": 2000}


class CheckFailed(Exception):
    """An expectation of the test did not hold."""


def check(condition: bool, what: str, detail: str = "") -> None:
    """Prints `ok: what`, or raises CheckFailed with the detail."""
    if not condition:
        raise CheckFailed(what + (f"\n  {detail}" if detail else ""))
    print(f"ok: {what}", flush=True)


def parse_args(description: str) -> argparse.Namespace:
    repo_default = HERE.parent.parent
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--ennakko", default=str(repo_default / "build/engine/app/ennakko"),
                   help="the ennakko binary")
    p.add_argument("--repo", default=str(repo_default), help="the source tree (for rules/)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args()
    args.ennakko = str(Path(args.ennakko).resolve())
    args.repo = Path(args.repo).resolve()
    if not os.access(args.ennakko, os.X_OK):
        p.error(f"not an executable: {args.ennakko}")
    return args


def helsinki_today() -> dt.date:
    """Today in Europe/Helsinki, as the daemon sees it."""
    try:
        from zoneinfo import ZoneInfo
        return dt.datetime.now(ZoneInfo("Europe/Helsinki")).date()
    except Exception:  # no tz database: EET/EEST by the EU rule (last Sunday of March/October)
        now = dt.datetime.now(dt.timezone.utc)

        def last_sunday(month: int) -> dt.datetime:
            d = dt.datetime(now.year, month + 1, 1, 1, tzinfo=dt.timezone.utc) - dt.timedelta(days=1)
            return d - dt.timedelta(days=(d.weekday() + 1) % 7)
        summer = last_sunday(3) <= now < last_sunday(10)
        return (now + dt.timedelta(hours=3 if summer else 2)).date()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs a command to completion; one still running after `timeout` is killed and fails."""
    try:
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        raise CheckFailed(f"{' '.join(argv[1:3])} still running after {timeout} s (killed)\n"
                          f"  output: {out[-2000:]}") from None


def yaml_str(s: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(s)


# --- the daemon -------------------------------------------------------------------------------


class Daemon:
    """One `ennakko serve` process; its stdout and stderr go to files in `log_dir`."""

    def __init__(self, binary: str, config: Path, port: int, log_dir: Path, name: str) -> None:
        self.binary, self.config, self.port = binary, config, port
        self.stdout_path = log_dir / f"{name}.stdout"
        self.stderr_path = log_dir / f"{name}.stderr"
        self.proc: Optional[subprocess.Popen] = None
        self.returncode: Optional[int] = None

    def start(self) -> "Daemon":
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([self.binary, "serve", "--config", str(self.config)],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        return self

    def output(self) -> str:
        """stdout then stderr, as text (the daemon logs to stdout via spdlog's default logger)."""
        return self.stdout() + self.stderr()

    def stdout(self) -> str:
        return self.stdout_path.read_bytes().decode("utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_bytes().decode("utf-8", errors="replace")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _tail(self) -> str:
        lines = self.output().splitlines()[-25:]
        return "daemon output (last lines):\n    " + "\n    ".join(lines)

    def http_get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return r.status, r.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", errors="replace")

    def wait_ready(self, timeout: float) -> float:
        """Waits for /readyz to answer 200; returns the seconds it took."""
        t0 = time.monotonic()
        while True:
            if not self.alive():
                raise CheckFailed(f"daemon exited with {self.proc.returncode} before it was "
                                  f"ready\n{self._tail()}")
            try:
                status, _ = self.http_get("/readyz")
                if status == 200:
                    return time.monotonic() - t0
            except OSError:
                pass
            if time.monotonic() - t0 > timeout:
                raise CheckFailed(f"/readyz not 200 within {timeout} s\n{self._tail()}")
            time.sleep(0.1)

    def wait_for_log(self, pattern: str, timeout: float, after: int = 0) -> re.Match:
        """Waits for a regex in the daemon's output past character `after`."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.output(), after)
            if m:
                return m
            if not self.alive():
                raise CheckFailed(f"daemon exited while waiting for /{pattern}/\n{self._tail()}")
            if time.monotonic() > deadline:
                raise CheckFailed(f"no /{pattern}/ in the daemon's output within {timeout} s\n"
                                  f"{self._tail()}")
            time.sleep(0.1)

    def terminate(self, timeout: float) -> Optional[int]:
        """SIGTERM and wait; returns the exit code, or None if it did not exit in time (it is
        then killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        self.returncode = self.proc.returncode
        return self.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def query(db_path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Reads the store without writing to it (the daemon may be running)."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def wait_until(what: str, predicate, timeout: float, interval: float = 0.2):
    """Polls predicate() until it returns a truthy value; returns it or raises CheckFailed."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except sqlite3.OperationalError:  # the store not created yet, or busy
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# --- the oracle: the population file drop, re-read independently ------------------------------


def parse_hetu(code) -> Optional[dt.date]:
    """The birth date of a valid identity code, or None if the code is not valid."""
    if not isinstance(code, str) or len(code) != 11 or code[6] not in _CENTURY:
        return None
    dd, mm, yy, nnn, q = code[0:2], code[2:4], code[4:6], code[7:10], code[10]
    if not (dd + mm + yy + nnn).isdigit() or not 2 <= int(nnn) <= 999:
        return None
    if _CHECK_CHARS[int(dd + mm + yy + nnn) % 31] != q:
        return None
    try:
        return dt.date(_CENTURY[code[6]] + int(yy), int(mm), int(dd))
    except ValueError:
        return None


def _date(v) -> Optional[dt.date]:
    if isinstance(v, dict) and isinstance(v.get("arvo"), str):
        return dt.date.fromisoformat(v["arvo"])
    return None


@dataclasses.dataclass
class Person:
    hetu: str
    birth: dt.date
    first_names: str = ""
    municipality: Optional[str] = None
    language: Optional[str] = None
    death: Optional[dt.date] = None
    phone: Optional[str] = None
    email: Optional[str] = None
    placements: dict = dataclasses.field(default_factory=dict)  # (kind, start) -> end


@dataclasses.dataclass
class Custody:
    start: Optional[dt.date]
    end: Optional[dt.date]


class City:
    """The state the file drop describes after its last batch."""

    def __init__(self, drop_dir: Path) -> None:
        self.people: dict[str, Person] = {}
        self.custody: dict[tuple[str, str], Custody] = {}  # (guardian, ward) -> dates
        self.malformed: list[tuple[str, int]] = []  # (batch, line) the oracle rejects
        self.phones: set[str] = set()
        self.emails: set[str] = set()
        self.hetus: set[str] = set()
        names = sorted(p.name for p in drop_dir.iterdir()
                       if re.fullmatch(r"\d{6,}\.(snapshot|changes)\.jsonl", p.name))
        for n, name in enumerate(names):
            if int(name.split(".")[0]) != n:
                raise CheckFailed(f"drop directory has a gap before {name}")
            self._apply(drop_dir / name, name, changes=name.endswith(".changes.jsonl"))

    def _apply(self, path: Path, name: str, changes: bool) -> None:
        lines = path.read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                rec = json.loads(text)
                code = rec["henkilotunnus"]
                birth = parse_hetu(code)
                groups = rec["tietoryhmat"]
                if birth is None or not isinstance(groups, list):
                    raise ValueError("bad record")
                change_date = dt.date.fromisoformat(rec["muutospv"]) if "muutospv" in rec else None
                if changes and change_date is None:
                    raise ValueError("no muutospv")
            except (ValueError, KeyError, TypeError):
                self.malformed.append((name, number))
                continue
            self.hetus.add(code)
            person = self.people.setdefault(code, Person(code, birth))
            for g in groups:
                self._group(person, g, change_date)

    def _group(self, p: Person, g: dict, change_date: Optional[dt.date]) -> None:
        name = g["tietoryhma"]
        attr = g.get("muutosattribuutti", "LISATTY")
        if attr == "KORJATTAVA":
            return
        remove = attr == "POISTETTU"
        if name == "HENKILON_NIMI":
            p.first_names = "" if remove else g["etunimet"]
        elif name == "KOTIKUNTA":
            p.municipality = None if remove else g["kuntakoodi"]
        elif name == "AIDINKIELI":
            p.language = None if remove else g["kielikoodi"]
        elif name == "KUOLINPAIVA":
            p.death = None if remove else _date(g["kuolinpv"])
        elif name == "YHTEYSTIEDOT":
            p.phone = None if remove else g.get("puhelin")
            p.email = None if remove else g.get("sahkoposti")
            self.phones.update(x for x in (g.get("puhelin"),) if x)
            self.emails.update(x for x in (g.get("sahkoposti"),) if x)
        elif name in ("HUOLTAJA_SUPPEA", "HUOLLETTAVA_SUPPEA"):
            other = g["henkilotunnus"]
            self.hetus.add(other)
            key = (other, p.hetu) if name == "HUOLTAJA_SUPPEA" else (p.hetu, other)
            start, end = _date(g.get("huoltosuhteenAlkupv")), _date(g.get("huoltosuhteenLoppupv"))
            if not remove:
                self.custody[key] = Custody(start, end)
            elif key in self.custody:
                if end is not None:
                    self.custody[key].end = end
                elif change_date is not None:
                    if self.custody[key].end is None:
                        self.custody[key].end = change_date
                else:
                    del self.custody[key]
        elif name == "SIJOITUS":
            kind = {"esiopetus": "preschool", "varhaiskasvatus": "ecec"}[g["laji"]]
            start = _date(g["alkupv"])
            if remove:
                p.placements.pop((kind, start), None)
            else:
                p.placements[(kind, start)] = _date(g.get("loppupv"))

    def guardians_in_force(self, ward: str, today: dt.date) -> list[str]:
        return sorted(g for (g, w), c in self.custody.items() if w == ward
                      and (c.start is None or c.start <= today)
                      and (c.end is None or c.end >= today))

    def preschool_offers(self, today: dt.date, city_code: str = "091",
                         age: int = 6) -> list[tuple[Person, Person]]:
        """(child, guardian) for every offer rules/preschool-offer asks for today: a child born
        in year(today) - 6, alive, living in the city, with no pre-primary placement; each of
        their living guardians whose custody is in force today."""
        out = []
        for child in self.people.values():
            if child.birth.year != today.year - age or child.death is not None:
                continue
            if child.municipality != city_code:
                continue
            if any(kind == "preschool" for kind, _ in child.placements):
                continue
            for g in self.guardians_in_force(child.hetu, today):
                guardian = self.people.get(g)
                if guardian is not None and guardian.death is None:
                    out.append((child, guardian))
        return out


GREETING = {"fi": "Hei!", "sv": "Hej!", "en": "Hello!"}


def expected_greeting(language: Optional[str]) -> str:
    """rules/preschool-offer/messages.yaml has fi, sv and en; any other language falls back to fi."""
    return GREETING.get(language or "fi", GREETING["fi"])


def scan_for_personal_data(text: str, where: str, phones: set[str], emails: set[str]) -> list[str]:
    """Problems: identity codes, phone numbers from the data (with or without +) or e-mails."""
    problems = []
    for m in HETU_RE.finditer(text):
        problems.append(f"{where}: identity code {m.group(0)!r}")
    for phone in phones:
        if phone in text or phone.lstrip("+") in text:
            problems.append(f"{where}: phone number {phone!r}")
    for m in EMAIL_RE.finditer(text):
        problems.append(f"{where}: e-mail address {m.group(0)!r}")
    for e in emails:
        if e in text:
            problems.append(f"{where}: e-mail address {e!r}")
    return sorted(set(problems))


def main_wrapper(body) -> None:
    """Runs body(); prints PASS/FAIL and exits 0/1."""
    t0 = time.monotonic()
    try:
        body()
    except CheckFailed as e:
        print(f"FAIL: {e}", flush=True)
        print(f"FAILED after {time.monotonic() - t0:.1f} s", flush=True)
        sys.exit(1)
    print(f"PASSED in {time.monotonic() - t0:.1f} s", flush=True)
