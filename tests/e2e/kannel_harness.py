"""Start a real Kannel SMS gateway on free loopback ports for an end-to-end test.

A KannelHarness runs bearerbox, Kannel's fake SMSC (fakesmsc, standing in for the operator) and
smsbox, configured from kannel.conf.in next to this file. It gives the test:

  - sendsms_url, username, password: where and how to submit SMS (Kannel's sendsms interface);
  - sent_messages(): what the fake SMSC received, i.e. what would have reached phones, with
    concatenated parts joined and UCS-2 decoded;
  - send_reply(from_number, text): a citizen's reply (MO SMS) typed into the fake SMSC; Kannel
    then fetches the reply URL (`reply_url`, or the harness's own recorder, see replies());
  - stop(): terminate everything and wait for it.

Usage:
    with KannelHarness() as kannel:
        ... submit to kannel.sendsms_url ...
        msgs = kannel.wait_for_messages(1)
        assert msgs[0].text == "Hei äiti"

Only the standard library is used. Binaries can be overridden with KANNEL_BEARERBOX,
KANNEL_SMSBOX and KANNEL_FAKESMSC. Run `python3 kannel_harness.py` for a smoke test.

Notes on fakesmsc (Kannel 1.4.5), verified here:
  - Its `-m N` caps the MO messages it sends; `-m 0` would leave it stuck in its receive loop,
    never reading stdin, so replies could not be sent. It is therefore started without -m, in
    interactive mode (no message arguments): it reads one MO message per stdin line and must never
    see EOF on stdin (it would crash), so the harness holds the pipe open until stop().
  - In interactive mode it polls stdin with a one-second select, so a sent message may show up
    in its log up to about a second after Kannel accepted it: use wait_for_messages().
  - Received messages are logged as `Got message N: <from to text TEXT>`, `<from to ucs-2 URLENC>`
    (UTF-16BE), `<from to data URLENC>` or, for a part of a concatenated SMS,
    `<from to udh URLENC-UDH data URLENC>` (URLENC: %XX, '+' for space). A text with newlines
    arrives as one "Got message" line per line of text; sent_messages() joins them again.
"""

from __future__ import annotations

import atexit
import dataclasses
import http.server
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Optional

BEARERBOX = os.environ.get("KANNEL_BEARERBOX", "/usr/sbin/bearerbox")
SMSBOX = os.environ.get("KANNEL_SMSBOX", "/usr/sbin/smsbox")
FAKESMSC = os.environ.get("KANNEL_FAKESMSC", "/usr/lib/kannel/test/fakesmsc")
TEMPLATE = Path(__file__).with_name("kannel.conf.in")

_LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[\d+\] \[\d+\] [A-Z]+: ")
_GOT_MESSAGE = re.compile(r"Got message (\d+): <(.*)$")


@dataclasses.dataclass
class SentMessage:
    """One SMS as the fake SMSC received it (concatenated parts joined)."""

    sender: str  # the `from` Kannel used (sendsms `from`, else global-sender)
    receiver: str  # the phone number, e.g. "+358401234567"
    text: str  # decoded text
    coding: str  # "7bit" (GSM alphabet, sent as text), "ucs2", or "8bit" (binary data)
    parts: int  # the number of SMS it took


def _free_ports(count: int) -> list[int]:
    """Distinct free loopback TCP ports (all held open while choosing, so no duplicates)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _unquote(field: str) -> bytes:
    """Kannel's URL encoding: %XX escapes, '+' for a space."""
    return urllib.parse.unquote_to_bytes(field.replace("+", " "))


def _decode_parts(parts: list[bytes]) -> tuple[str, str]:
    """Decodes the joined payload of concatenated parts, whose log lines do not say the coding.

    Kannel keeps 7-bit text as UTF-8 and UCS-2 as UTF-16BE, and splits UCS-2 into parts of 67
    units (134 bytes) but 7-bit text into parts of up to 153 characters (at least 77 of them,
    even with extension characters). UTF-16BE of Latin, Nordic or Cyrillic text also contains
    bytes below 0x20, which GSM text never does except CR, LF and FF.
    """
    data = b"".join(parts)
    ucs2_split = len(parts) > 1 and all(len(p) == 134 for p in parts[:-1])
    controls = any(b < 0x20 and b not in (0x0A, 0x0C, 0x0D) for b in data)
    if not ucs2_split and not controls:
        try:
            return data.decode("utf-8"), "7bit"
        except UnicodeDecodeError:
            pass
    if len(data) % 2 == 0:
        return data.decode("utf-16-be", errors="replace"), "ucs2"
    return data.decode("utf-8", errors="replace"), "8bit"


def _parse_udh(udh: bytes) -> Optional[tuple[int, int, int]]:
    """(reference, total, sequence) of a concatenation UDH, or None."""
    if not udh:
        return None
    i, end = 1, min(len(udh), 1 + udh[0])
    while i + 1 < end:
        iei, length = udh[i], udh[i + 1]
        value = udh[i + 2 : i + 2 + length]
        if iei == 0x00 and length == 3:
            return value[0], value[1], value[2]
        if iei == 0x08 and length == 4:
            return (value[0] << 8) | value[1], value[2], value[3]
        i += 2 + length
    return None


_KINDS = ("text", "data", "ucs-2", "ucs2", "udh")


def parse_fakesmsc_log(log: str) -> list[SentMessage]:
    """The messages in a fakesmsc log, in arrival order; incomplete concatenations are left out.

    fakesmsc reads what bearerbox sends line by line, so a text holding newlines arrives as
    several "Got message" lines: a line that does not start with `from to kind` continues the
    previous text message.
    """
    records = []
    for line in log.split("\n")[:-1]:  # the last element is "" or a line still being written
        if not _LOG_PREFIX.match(line):
            continue
        m = _GOT_MESSAGE.search(line)
        if m and m.group(2).endswith(">"):
            records.append(m.group(2)[:-1])

    out: list[SentMessage] = []
    pending: dict[tuple, dict[int, bytes]] = {}
    last_was_text = False
    for record in records:
        fields = record.split(" ", 3)
        if len(fields) < 3 or fields[2] not in _KINDS:
            if last_was_text:
                out[-1].text += "\n" + record
            continue
        sender, receiver, kind = fields[0], fields[1], fields[2]
        rest = fields[3] if len(fields) > 3 else ""
        last_was_text = kind == "text"
        if kind == "text":
            out.append(SentMessage(sender, receiver, rest, "7bit", 1))
        elif kind in ("ucs-2", "ucs2"):
            text = _unquote(rest).decode("utf-16-be", errors="replace")
            out.append(SentMessage(sender, receiver, text, "ucs2", 1))
        elif kind == "data":
            text = _unquote(rest).decode("utf-8", errors="replace")
            out.append(SentMessage(sender, receiver, text, "8bit", 1))
        else:  # udh: "UDH data PAYLOAD", both URL-encoded
            udh_enc, _, tail = rest.partition(" ")
            subtype, _, payload = tail.partition(" ")
            if subtype not in ("data", "ucs-2", "ucs2"):
                payload = tail  # older format: "udh UDH PAYLOAD"
            data = _unquote(payload)
            concat = _parse_udh(_unquote(udh_enc))
            if concat is None:
                text, coding = _decode_parts([data])
                out.append(SentMessage(sender, receiver, text, coding, 1))
                continue
            ref, total, seq = concat
            key = (sender, receiver, ref, total)
            parts = pending.setdefault(key, {})
            parts[seq] = data
            if all(i in parts for i in range(1, total + 1)):
                del pending[key]
                ordered = [parts[i] for i in range(1, total + 1)]
                if subtype in ("ucs-2", "ucs2"):
                    text, coding = b"".join(ordered).decode("utf-16-be", errors="replace"), "ucs2"
                else:
                    text, coding = _decode_parts(ordered)
                out.append(SentMessage(sender, receiver, text, coding, total))
    return out


class _ReplyRecorder:
    """A loopback HTTP server standing in for the application's reply URL."""

    def __init__(self) -> None:
        self.replies: list[dict[str, str]] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                query = urllib.parse.urlsplit(self.path).query
                fields = {k: v[0] for k, v in
                          urllib.parse.parse_qs(query, keep_blank_values=True).items()}
                with recorder._lock:
                    recorder.replies.append(fields)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:  # replies hold phone numbers: no logging
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/reply?from=%p&to=%P&text=%a&time=%t"

    def snapshot(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self.replies)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class KannelHarness:
    """bearerbox + fakesmsc + smsbox on free loopback ports, in a temporary directory."""

    def __init__(self, reply_url: Optional[str] = None, username: str = "ennakko",
                 password: Optional[str] = None, short_code: str = "12345",
                 keep_logs: bool = False, startup_timeout: float = 20.0, supervise: bool = False) -> None:
        """reply_url: Kannel's get-url for replies, with Kannel escapes (%p sender, %P receiver,
        %a all words, %t time). None: the harness records replies itself (see replies()).
        short_code: the global sender, and the number citizens reply to.
        keep_logs: keep the temporary directory (configuration and logs) after stop().
        supervise: restart smsbox when it dies, as Debian runs it (run_kannel_box). Kannel 1.4.5's
        smsbox aborts (conn_unregister assertion) when a callback to a daemon killed mid-request
        fails; a crash test needs the restart a deployment has."""
        self.username = username
        self.password = password or secrets.token_hex(8)
        self.short_code = short_code
        self._reply_url = reply_url
        self._keep_logs = keep_logs
        self._startup_timeout = startup_timeout
        self._recorder: Optional[_ReplyRecorder] = None
        self._procs: dict[str, subprocess.Popen] = {}
        self._files: list = []
        self._stdin_lock = threading.Lock()
        self._supervise = supervise
        self._supervisor: Optional[threading.Thread] = None
        self._stopping = threading.Event()
        self._smsbox_argv: list[str] = []
        # Exit codes of smsbox processes that died and were restarted (supervise=True).
        self.smsbox_restarts: list[int] = []
        self.log_dir: Optional[Path] = None
        self.sendsms_port = 0
        self.admin_port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> "KannelHarness":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"

    def start(self) -> "KannelHarness":
        for binary in (BEARERBOX, SMSBOX, FAKESMSC):
            if not os.access(binary, os.X_OK):
                raise RuntimeError(f"Kannel binary not found: {binary}")
        for value in (self.username, self.password, self.short_code, self._reply_url or ""):
            if '"' in value or "\n" in value:
                raise ValueError("configuration values must not contain quotes or newlines")
        atexit.register(self.stop)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.log_dir = Path(tempfile.mkdtemp(prefix="ennakko-kannel-"))
        if self._reply_url is None:
            self._recorder = _ReplyRecorder()
        reply_url = self._reply_url or self._recorder.url
        self.admin_port, smsbox_port, smsc_port, self.sendsms_port = _free_ports(4)
        values = {
            "ADMIN_PORT": str(self.admin_port),
            "ADMIN_PASSWORD": secrets.token_hex(8),
            "SMSBOX_PORT": str(smsbox_port),
            "SMSC_PORT": str(smsc_port),
            "SENDSMS_PORT": str(self.sendsms_port),
            "LOG_DIR": str(self.log_dir),
            "LOG_LEVEL": "0",
            "GLOBAL_SENDER": self.short_code,
            "USERNAME": self.username,
            "PASSWORD": self.password,
            "REPLY_URL": reply_url,
        }
        conf = TEMPLATE.read_text(encoding="utf-8")
        for key, value in values.items():
            conf = conf.replace(f"@{key}@", value)
        if re.search(r"@[A-Z_]+@", re.sub(r"(?m)^#.*$", "", conf).replace(reply_url, "")):
            raise RuntimeError("kannel.conf.in has a placeholder the harness does not fill")
        conf_path = self.log_dir / "kannel.conf"
        conf_path.write_text(conf, encoding="utf-8")

        deadline = time.monotonic() + self._startup_timeout
        self._spawn("bearerbox", [BEARERBOX, str(conf_path)])
        self._wait(deadline, "bearerbox admin port", lambda: _port_open(self.admin_port))

        # The fake SMSC listener may open a moment after the admin port: retry fakesmsc.
        while True:
            self._spawn("fakesmsc", [FAKESMSC, "-H", "127.0.0.1", "-r", str(smsc_port),
                                     "-i", "0.01", "-v", "0"], stdin=subprocess.PIPE)
            connected = self._wait_quietly(time.monotonic() + 2.0, lambda: self._log_has(
                "bearerbox.log", "Fakesmsc client connected"))
            if connected:
                break
            self._terminate("fakesmsc")
            if time.monotonic() > deadline:
                raise RuntimeError("fakesmsc did not connect to bearerbox\n" + self._log_tails())

        self._smsbox_argv = [SMSBOX, str(conf_path)]
        self._spawn("smsbox", self._smsbox_argv)
        self._wait(deadline, "smsbox sendsms port", self._sendsms_answers)
        if self._supervise:
            self._supervisor = threading.Thread(target=self._supervise_smsbox, daemon=True)
            self._supervisor.start()

    def _supervise_smsbox(self) -> None:
        """Restarts smsbox when it dies, as Debian's init script does (run_kannel_box)."""
        # The only thread that replaces smsbox while the harness runs; stop() joins it first.
        while not self._stopping.wait(0.2):
            proc = self._procs.get("smsbox")
            if proc is None or proc.poll() is None:
                continue
            self.smsbox_restarts.append(proc.returncode)
            self._spawn("smsbox", self._smsbox_argv)

    def stop(self) -> None:
        """Terminates smsbox, fakesmsc and bearerbox and waits for them. Idempotent."""
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join()
            self._supervisor = None
        for name in ("smsbox", "fakesmsc", "bearerbox"):
            self._terminate(name)
        for f in self._files:
            f.close()
        self._files.clear()
        if self._recorder is not None:
            self._recorder.stop()
            self._recorder = None
        if self.log_dir is not None and not self._keep_logs:
            shutil.rmtree(self.log_dir, ignore_errors=True)
        atexit.unregister(self.stop)

    # -- what the test uses ------------------------------------------------------------------

    def sent_messages(self) -> list[SentMessage]:
        """Every SMS the fake SMSC has received so far, in order (see SentMessage)."""
        return parse_fakesmsc_log(self._read_log("fakesmsc.out"))

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[SentMessage]:
        """sent_messages() once it holds at least `count` messages; raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.sent_messages()
            if len(msgs) >= count or time.monotonic() > deadline:
                if len(msgs) < count:
                    raise TimeoutError(f"fake SMSC got {len(msgs)} message(s), wanted {count}")
                return msgs
            time.sleep(0.1)

    def send_reply(self, from_number: str, text: str, to_number: Optional[str] = None) -> None:
        """A citizen's SMS from `from_number` to `to_number` (default: the short code)."""
        to_number = to_number or self.short_code
        if " " in from_number or " " in to_number or "\n" in text or "\r" in text:
            raise ValueError("numbers cannot hold spaces, and a reply is one line")
        if all(0x20 <= ord(c) < 0x7F for c in text):
            line = f"{from_number} {to_number} text {text}\n"
        else:  # UCS-2 is unambiguous for any text
            line = (f"{from_number} {to_number} ucs2 "
                    f"{urllib.parse.quote(text.encode('utf-16-be'))}\n")
        if len(line.encode("utf-8")) > 250:
            raise ValueError("reply too long for fakesmsc's 256-byte line buffer")
        proc = self._procs.get("fakesmsc")
        if proc is None or proc.poll() is not None:
            raise RuntimeError("fakesmsc is not running")
        with self._stdin_lock:
            proc.stdin.write(line.encode("utf-8"))
            proc.stdin.flush()

    def replies(self) -> list[dict[str, str]]:
        """Replies Kannel delivered to the harness's recorder: dicts with from, to, text, time.
        Only when no reply_url was given."""
        if self._recorder is None:
            raise RuntimeError("replies are recorded only when no reply_url is given")
        return self._recorder.snapshot()

    def wait_for_replies(self, count: int, timeout: float = 10.0) -> list[dict[str, str]]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.replies()
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise TimeoutError(f"recorder got {len(got)} repl(ies), wanted {count}")
            time.sleep(0.1)

    # -- internals ---------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], stdin=subprocess.DEVNULL) -> None:
        out = open(self.log_dir / f"{name}.out", "ab")
        self._files.append(out)
        self._procs[name] = subprocess.Popen(argv, stdin=stdin, stdout=out,
                                             stderr=subprocess.STDOUT, cwd=self.log_dir)

    def _terminate(self, name: str) -> None:
        proc = self._procs.pop(name, None)
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdin:
            try:
                proc.stdin.close()
            except OSError:
                pass

    def _read_log(self, name: str) -> str:
        if self.log_dir is None:
            return ""
        try:
            return (self.log_dir / name).read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def _log_has(self, name: str, needle: str) -> bool:
        return needle in self._read_log(name)

    def _sendsms_answers(self) -> bool:
        query = urllib.parse.urlencode({"username": self.username, "password": self.password})
        try:
            urllib.request.urlopen(f"{self.sendsms_url}?{query}", timeout=1).close()
            return True
        except urllib.error.HTTPError as e:
            return e.code == 400  # "Missing receiver number": up and credentials accepted
        except OSError:
            return False

    def _check_alive(self) -> None:
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}\n" + self._log_tails())

    def _wait_quietly(self, deadline: float, ready) -> bool:
        while time.monotonic() < deadline:
            if ready():
                return True
            time.sleep(0.05)
        return ready()

    def _wait(self, deadline: float, what: str, ready) -> None:
        while not ready():
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}\n" + self._log_tails())
            time.sleep(0.05)

    def _log_tails(self) -> str:
        out = []
        for name in ("bearerbox.out", "fakesmsc.out", "smsbox.out"):
            lines = self._read_log(name).splitlines()[-10:]
            out.append(f"--- {name}\n" + "\n".join(lines))
        return "\n".join(out)


def _smoke() -> int:
    text = "Hei! Päivähoitopaikka on vapaana. Vastaa KYLLÄ tai EI. Öljy 5 €"
    with KannelHarness() as kannel:
        print(f"kannel up: sendsms {kannel.sendsms_url}, logs in {kannel.log_dir}")
        query = urllib.parse.urlencode({
            "username": kannel.username, "password": kannel.password, "to": "+358401234567",
            "from": "Ennakko", "text": text, "charset": "UTF-8", "coding": "0"})
        with urllib.request.urlopen(f"{kannel.sendsms_url}?{query}", timeout=5) as reply:
            print(f"sendsms: {reply.status} {reply.read().decode()}")
        msgs = kannel.wait_for_messages(1)
        for m in msgs:
            print(f"fakesmsc got: {m}")
        kannel.send_reply("+358401234567", "KYLLÄ kiitos")
        replies = kannel.wait_for_replies(1)
        print(f"reply delivered to the reply URL: {replies[0]}")
        ok = (len(msgs) == 1 and msgs[0].text == text and msgs[0].receiver == "+358401234567"
              and replies[0]["text"] == "KYLLÄ kiitos")
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(_smoke())
