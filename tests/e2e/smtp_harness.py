"""Start a real SMTP server (aiosmtpd) on a free loopback port for an end-to-end test.

An SmtpHarness runs `python3 smtp_harness.py serve ...` as a child process: aiosmtpd's Controller
with a handler that stores every accepted message in a directory, as NNNN.eml (the DATA exactly
as received, after SMTP's dot-unstuffing) and NNNN.json (envelope sender, recipients, and whether
the session was under TLS). It gives the test:

  - url: smtp://127.0.0.1:PORT;
  - received(): the stored messages, oldest first, as Received(mail_from, rcpt_tos, tls, raw);
  - wait_for_messages(n): received() once it holds at least n messages, or after a timeout;
  - stop(): terminate the server and wait for it (also on leaving the `with` block).

Options: `tls=True` generates a throwaway self-signed certificate for 127.0.0.1 and localhost
with openssl (valid one day, in the harness's temporary directory; `ca_file` is its path), offers
STARTTLS and refuses MAIL before it (aiosmtpd's require_starttls). `reject={"addr": "451 4.3.0
Try again later"}` answers RCPT TO for an address with the given reply instead of 250.
`auth=("user", "password")` (with tls=True) offers AUTH PLAIN and LOGIN after STARTTLS, accepts
only that pair (535 otherwise) and refuses MAIL without it (530); received() gives the login.

The server needs aiosmtpd (Debian: python3-aiosmtpd); the test itself does not, so the child runs
under the first interpreter that can import it: $SMTP_HARNESS_PYTHON, this one, /usr/bin/python3.
Only the standard library is used here. Run `python3 smtp_harness.py` for a smoke test.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve()


@dataclasses.dataclass
class Received:
    mail_from: str
    rcpt_tos: list
    tls: bool
    raw: bytes
    auth_login: str = ""  # the AUTH user of the session, "" without AUTH


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _python_with_aiosmtpd() -> str:
    candidates = [os.environ.get("SMTP_HARNESS_PYTHON"), sys.executable, "/usr/bin/python3"]
    for py in candidates:
        if not py or not os.path.exists(py):
            continue
        probe = subprocess.run([py, "-c", "import aiosmtpd"], capture_output=True)
        if probe.returncode == 0:
            return py
    raise RuntimeError("no python3 with aiosmtpd found (install python3-aiosmtpd)")


class SmtpHarness:
    def __init__(self, tls: bool = False, reject: Optional[dict] = None, faults: str = "",
                 auth: Optional[tuple] = None):
        self.tmp = Path(tempfile.mkdtemp(prefix="ennakko-smtp-"))
        self.store = self.tmp / "received"
        self.store.mkdir()
        self.port = _free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        self.ca_file = ""
        args = [_python_with_aiosmtpd(), str(HERE), "serve", "--port", str(self.port),
                "--dir", str(self.store)]
        if tls:
            cert, key = self.tmp / "cert.pem", self.tmp / "key.pem"
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-days", "1", "-subj", "/CN=localhost",
                            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                            "-keyout", str(key), "-out", str(cert)],
                           check=True, capture_output=True, timeout=60)
            self.ca_file = str(cert)
            args += ["--tls-cert", str(cert), "--tls-key", str(key)]
        for address, reply in (reject or {}).items():
            args += ["--reject", f"{address}={reply}"]
        if auth:
            args += ["--auth", f"{auth[0]}:{auth[1]}"]
        if faults:
            args += ["--faults", faults]
        self.log = open(self.tmp / "server.log", "wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode().strip()
        if line != "READY":
            self.stop()
            raise RuntimeError(f"smtp server did not start: {line!r}; see {self.tmp}/server.log")

    def received(self) -> list:
        out = []
        for meta in sorted(self.store.glob("*.json")):
            m = json.loads(meta.read_text())
            out.append(Received(m["mail_from"], m["rcpt_tos"], m["tls"],
                                meta.with_suffix(".eml").read_bytes(), m.get("auth_login", "")))
        return out

    def faults_served(self) -> list:
        """The injected faults served so far, in order (see --faults)."""
        log = self.tmp / "faults.log"
        return log.read_text().split() if log.exists() else []

    def wait_for_messages(self, n: int, timeout: float = 10) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msgs = self.received()
            if len(msgs) >= n:
                return msgs
            time.sleep(0.05)
        return self.received()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.log.close()

    def cleanup(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "SmtpHarness":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        if os.environ.get("SMTP_HARNESS_KEEP"):
            print(f"smtp harness: kept {self.tmp}", file=sys.stderr)
        else:
            self.cleanup()


def _serve(argv: list) -> int:
    """The child: runs until SIGTERM. Imports aiosmtpd only here."""
    import argparse
    import signal
    import ssl
    import threading

    from aiosmtpd.controller import Controller

    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--reject", action="append", default=[], help="ADDRESS=REPLY")
    p.add_argument("--auth", help="USER:PASSWORD")
    p.add_argument("--faults", default="", help="what the next DATA commands get, in order: "
                   "KINDxN,... with KIND 451 or 421 (refused, not stored), slowMS (stored after MS "
                   "ms) or lateMS (the same, meant to outlast the client's timeout)")
    a = p.parse_args(argv)
    faults = []
    for item in filter(None, a.faults.split(",")):
        kind, count = item.split("x")
        faults += [kind] * int(count)
    fault_log = Path(a.dir).parent / "faults.log"
    rejects = dict(r.split("=", 1) for r in a.reject)
    store = Path(a.dir)
    lock = threading.Lock()

    class StoringHandler:
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address in rejects:
                return rejects[address]
            envelope.rcpt_tos.append(address)
            return "250 2.1.5 OK"

        async def handle_DATA(self, server, session, envelope):
            fault = faults.pop(0) if faults else ""
            if fault:
                with open(fault_log, "a") as f:
                    f.write(fault + "\n")
            if fault in ("451", "421"):
                return {"451": "451 4.3.0 Try again later (injected)",
                        "421": "421 4.3.2 Service not available, closing (injected)"}[fault]
            if fault.startswith(("slow", "late")):
                import asyncio
                await asyncio.sleep(int(fault[4:]) / 1000)
            with lock:
                n = len(list(store.glob("*.json"))) + 1
                base = store / f"{n:04d}"
                base.with_suffix(".eml").write_bytes(envelope.original_content or envelope.content)
                tmp = base.with_suffix(".tmp")
                login = getattr(session, "ennakko_login", b"") if session.authenticated else b""
                tmp.write_text(json.dumps({"mail_from": envelope.mail_from,
                                           "rcpt_tos": envelope.rcpt_tos,
                                           "tls": session.ssl is not None,
                                           "auth_login": login.decode("utf-8", "replace")}))
                tmp.rename(base.with_suffix(".json"))  # .json last: a reader sees whole messages
            return f"250 2.0.0 OK queued as {n:04d}"

    params = {}
    if a.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        params = {"tls_context": ctx, "require_starttls": True}
    if a.auth:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        user, password = a.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword) and auth_data.login == user.encode()
                  and auth_data.password == password.encode())
            if ok:
                session.ennakko_login = auth_data.login  # stored with the message
            return AuthResult(success=ok, handled=False)

        params.update(authenticator=authenticator, auth_required=True, auth_require_tls=True)
    controller = Controller(StoringHandler(), hostname="127.0.0.1", port=a.port, **params)
    controller.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    print("READY", flush=True)
    stopped.wait()
    controller.stop()
    return 0


def _smoke() -> int:
    with SmtpHarness(reject={"busy@example.fi": "451 4.3.0 Try again later"}) as smtp:
        with smtplib.SMTP("127.0.0.1", smtp.port, timeout=10) as c:
            c.sendmail("a@example.fi", ["b@example.fi"], b"Subject: hi\r\n\r\nhello\r\n")
            try:
                c.sendmail("a@example.fi", ["busy@example.fi"], b"Subject: no\r\n\r\nx\r\n")
                print("FAIL: busy@example.fi was accepted")
                return 1
            except smtplib.SMTPRecipientsRefused as e:
                print(f"refused as configured: {e.recipients}")
        msgs = smtp.wait_for_messages(1)
        print(msgs)
        return 0 if len(msgs) == 1 and b"hello" in msgs[0].raw else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        sys.exit(_serve(sys.argv[2:]))
    sys.exit(_smoke())
