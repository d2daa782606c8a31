#!/usr/bin/env python3
"""Dispatch throughput to Kannel's fake SMSC (a real bearerbox + smsbox + fakesmsc).

Starts Kannel through tests/e2e/kannel_harness.py, runs `dispatch_bench --channel kannel` (a
durable outbox in SQLite, the shipped pre-primary rule, KannelSmsChannel posting to sendsms), then
waits until the fake SMSC has received every message and prints two figures:
  - accepted: offers/s from the first claim until the outbox is all `sent` (every offer accepted
    by Kannel with 202 and its state committed), as dispatch_bench prints it;
  - delivered: offers/s from the start of the run until the fake SMSC logged the last one
    (concatenated parts joined), and that every recipient got exactly one message.

usage: bench/dispatch_kannel_bench.py BUILD/bench/dispatch_bench [--offers N] [--workers N] [--batch N]
"""
import argparse
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
import kannel_harness  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("bench")
    p.add_argument("--offers", type=int, default=5000)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--batch", type=int, default=256)
    a = p.parse_args()
    with kannel_harness.KannelHarness(startup_timeout=60) as kannel:
        t0 = time.monotonic()
        run = subprocess.run([a.bench, "--channel", "kannel", "--offers", str(a.offers), "--workers", str(a.workers),
                              "--batch", str(a.batch), "--sendsms-url", kannel.sendsms_url,
                              "--username", kannel.username, "--password", kannel.password],
                             capture_output=True, text=True, timeout=1800)
        print(run.stdout, end="")
        print(run.stderr, end="", file=sys.stderr)
        if run.returncode != 0:
            print(f"FAIL: dispatch_bench exited with {run.returncode}")
            return 1
        deadline = time.monotonic() + 600
        last_count, last_change = -1, time.monotonic()
        while True:
            msgs = kannel.sent_messages()
            if len(msgs) != last_count:
                last_count, last_change = len(msgs), time.monotonic()
            if len(msgs) >= a.offers or time.monotonic() > deadline or time.monotonic() - last_change > 30:
                break
            time.sleep(0.5)
        t_all = last_change - t0
        time.sleep(2)  # a duplicate would show up within fakesmsc's poll period
        msgs = kannel.sent_messages()
        per_receiver = Counter(m.receiver for m in msgs)
        twice = sum(1 for n in per_receiver.values() if n > 1)
        print(f"fake SMSC: {len(msgs)} messages to {len(per_receiver)} recipients ({twice} got more than one); "
              f"last arrived {t_all:.2f} s after the start = {len(msgs) / t_all:.0f} offers/s end to end")
        parts = Counter(m.parts for m in msgs)
        print(f"parts per message: {dict(sorted(parts.items()))}")
        return 0 if len(msgs) == a.offers and twice == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
