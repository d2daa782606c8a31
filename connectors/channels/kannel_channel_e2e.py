#!/usr/bin/env python3
"""ctest kannel_channel_e2e: KannelSmsChannel against a real Kannel with its fake SMSC.

Starts Kannel through tests/e2e/kannel_harness.py, runs the C++ sender (argv[1]) with the sendsms
URL and credentials in its environment, and checks that the fake SMSC received exactly one
message, to the right number, with the exact text (ä, ö and € included, so GSM-7 via UTF-8).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "e2e"))
import kannel_harness  # noqa: E402

TO = "+358401234567"
TEXT = "Hei! Päivähoitopaikka on vapaana 1.8. alkaen. Vastaa KYLLÄ tai EI. Öljy 5 € ja ääkköset."


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: kannel_channel_e2e.py <kannel_channel_e2e_sender>", file=sys.stderr)
        return 2
    with kannel_harness.KannelHarness() as kannel:
        env = dict(os.environ,
                   ENNAKKO_SENDSMS_URL=kannel.sendsms_url,
                   ENNAKKO_SENDSMS_USER=kannel.username,
                   ENNAKKO_SENDSMS_PASSWORD=kannel.password,
                   ENNAKKO_SMS_TO=TO,
                   ENNAKKO_SMS_TEXT=TEXT)
        run = subprocess.run([sys.argv[1]], env=env, capture_output=True, text=True, timeout=30)
        print(run.stdout, end="")
        print(run.stderr, end="", file=sys.stderr)
        if run.returncode != 0:
            print(f"FAIL: sender exited with {run.returncode}")
            return 1
        msgs = kannel.wait_for_messages(1, timeout=10)
        time.sleep(1.5)  # anything extra (a duplicate) would arrive within fakesmsc's poll period
        msgs = kannel.sent_messages()
        for m in msgs:
            print(f"fakesmsc got: to={m.receiver} from={m.sender} coding={m.coding} "
                  f"parts={m.parts} text={m.text!r}")
        if len(msgs) != 1:
            print(f"FAIL: expected exactly one message, got {len(msgs)}")
            return 1
        m = msgs[0]
        problems = []
        if m.receiver != TO:
            problems.append(f"receiver {m.receiver!r}")
        if m.sender != "Ennakko":
            problems.append(f"sender {m.sender!r}")
        if m.text != TEXT:
            problems.append(f"text {m.text!r}")
        if m.coding != "7bit":
            problems.append(f"coding {m.coding!r}")
        if problems:
            print("FAIL: " + ", ".join(problems))
            return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
