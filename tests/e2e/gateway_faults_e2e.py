#!/usr/bin/env python3
"""Fault test: every gateway misbehaves for a while — 5xx, 429 (SMTP: 421/451, its "try later"),
slow answers and answers that come only after the client gave up — during a campaign; afterwards
every recipient has exactly one message, counted at the gateways.

Gateways (real processes): the Suomi.fi Messages double (its /_test/faults), Kannel behind a
small fault-injecting HTTP proxy on its sendsms port, and aiosmtpd with a fault schedule
(smtp_harness --faults). The campaign is crash_campaign_e2e's rule over a smaller city, sent in
one run of `ennakko serve` with 1 s gateway timeouts and short retry backoff.

The "late" faults answer after the client's timeout but do the work (Kannel queues the SMS, the
SMTP server stores the mail, Suomi.fi creates the message): a timeout after the hand-over. The
daemon must not send those again on SMS and email (recorded as sent, unconfirmed) and may on
Suomi.fi (its externalId makes the retry a 409).

Usage: gateway_faults_e2e.py --ennakko BIN --suomifi-fake BIN [--repo SRC] [--keep]
"""

from __future__ import annotations

import argparse
import http.server
import json
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from crash_campaign_e2e import SuomiFiFake, check_exactly_once, counts, write_setup  # noqa: E402
from e2e_support import CheckFailed, Daemon, check, free_port, query, run, wait_until  # noqa: E402
from kannel_harness import KannelHarness  # noqa: E402
from smtp_harness import SmtpHarness  # noqa: E402

RESIDENTS = 4000
TIMEOUT_MS = 1000
SMTP_FAULTS = "451x6,421x3,slow300x4,late1600x3"
# Kannel proxy: what the next sendsms requests get, in order, then pass-through.
KANNEL_FAULTS = ["503"] * 8 + ["429"] * 5 + ["slow300"] * 5 + ["late1600"] * 3
SUOMIFI_FAULTS = [{"status": 503, "count": 8}, {"status": 429, "count": 5, "retryAfter": 1},
                  {"status": 0, "count": 5, "delayMs": 300}, {"status": 0, "count": 3, "delayMs": 1600}]
DISPATCH = """\
  initial_backoff_ms: 200
  max_backoff_ms: 1000
  max_attempts: 1000
  circuit_breaker: {failure_threshold: 5, cool_down_ms: 1000}
  mailbox_status: {retry_ms: 1000}"""


class FaultProxy:
    """Forwards GET /cgi-bin/sendsms to Kannel, serving the scheduled faults first."""

    def __init__(self, upstream: str, faults: list[str]) -> None:
        self.faults = list(faults)
        self.served: list[str] = []
        lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                with lock:
                    fault = proxy.faults.pop(0) if proxy.faults else ""
                    if fault:
                        proxy.served.append(fault)
                if fault in ("503", "429"):
                    self.send_response(int(fault))
                    if fault == "429":
                        self.send_header("Retry-After", "1")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if fault.startswith("slow"):
                    time.sleep(int(fault[4:]) / 1000)
                try:
                    with urllib.request.urlopen(upstream + self.path[len("/cgi-bin/sendsms"):], timeout=10) as r:
                        status, body = r.status, r.read()
                except urllib.error.HTTPError as e:
                    status, body = e.code, e.read()
                if fault.startswith("late"):
                    time.sleep(int(fault[4:]) / 1000)  # Kannel has it; the client stopped waiting
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up

            def log_message(self, *args) -> None:  # the query holds phone numbers: no logging
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/sendsms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def post(url: str, body: dict) -> None:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5).read()


def body() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ennakko", required=True)
    p.add_argument("--suomifi-fake", required=True)
    p.add_argument("--repo", default=str(Path(__file__).resolve().parents[2]))
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ennakko-e2e-faults-"))
    print(f"temporary directory: {tmp}")
    suomifi = SuomiFiFake(args.suomifi_fake)
    daemon = None
    try:
        with KannelHarness() as kannel, SmtpHarness(faults=SMTP_FAULTS) as smtp:
            proxy = FaultProxy(kannel.sendsms_url, KANNEL_FAULTS)
            try:
                gen = run([args.ennakko, "demo", "generate", "--out", str(tmp / "population"),
                           "--seed", "77", "--residents", str(RESIDENTS)])
                check(gen.returncode == 0, "demo generate", gen.stderr)
                for fault in SUOMIFI_FAULTS:
                    post(suomifi.base + "/_test/faults", fault)
                port = free_port()
                config = write_setup(tmp, Path(args.repo), proxy.url, kannel, smtp, suomifi, port,
                                     timeout_ms=TIMEOUT_MS, dispatch=DISPATCH)
                db = tmp / "store" / "ennakko.db"
                t0 = time.monotonic()
                daemon = Daemon(args.ennakko, config, port, tmp, "serve").start()
                daemon.wait_ready(120)
                wait_until("the outbox to settle",
                           lambda: (lambda c: c and not c.get("queued") and not c.get("sending"))(counts(db)),
                           timeout=300, interval=0.5)
                rc = daemon.terminate(20)
                check(rc == 0, f"the daemon stops cleanly (exit {rc})", daemon.output()[-2000:])

                check(proxy.served == KANNEL_FAULTS, "Kannel's proxy served every scheduled fault",
                      str(proxy.served))
                check(smtp.faults_served() == [f for item in SMTP_FAULTS.split(",")
                                               for f in [item.split("x")[0]] * int(item.split("x")[1])],
                      "the SMTP server served every scheduled fault", str(smtp.faults_served()))
                out = daemon.output()
                check("dispatch:" in out and "to retry" in out, "the daemon retried after the faults")
                check_exactly_once(db, kannel, smtp, suomifi, time.monotonic() - t0, "after the faults",
                                   min_offers=500)
                unconfirmed = dict(query(db, "SELECT channel, count(*) FROM outbox "
                                         "WHERE last_error LIKE 'unconfirmed:%' GROUP BY channel"))
                print(f"sent but unconfirmed (a timeout after the hand-over): {unconfirmed or 'none'}")
                check(unconfirmed.get("sms") == 3 and unconfirmed.get("email") == 3,
                      "each late answer (3 SMS, 3 email) counts as sent, unconfirmed, and is not resent",
                      unconfirmed)
                print("gateway_faults_e2e: ok")
            finally:
                proxy.stop()
    finally:
        if daemon:
            daemon.kill()
        suomifi.stop()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    try:
        body()
    except CheckFailed as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
