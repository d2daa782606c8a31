#!/usr/bin/env python3
"""ctest email_channel_e2e: EmailChannel against a real SMTP server (aiosmtpd) on loopback.

Starts servers through smtp_harness.py, runs the C++ sender (argv[1]) with its configuration in
the environment, and checks what the server stored and what the sender reported:

  - plain SMTP: exactly one message; envelope; From, To, Subject (RFC 2047, decoded back), Date,
    Message-ID <KEY@ennakko>, Auto-Submitted; multipart/alternative with a text/plain part equal
    to the body (ä ö å € intact, a line starting with '.', a long line) and an escaped HTML
    part;
  - STARTTLS with a throwaway self-signed certificate given as ca_file: sent, and under TLS;
  - a TLS server whose certificate is not trusted, and a plain server while STARTTLS is required:
    Transient, nothing delivered;
  - RCPT answered 451: Transient; 550: Permanent with the codes; nothing delivered;
  - AUTH (PLAIN/LOGIN after STARTTLS): the right password -> sent as that user; a wrong one ->
    Permanent 535; none while the server requires it -> Permanent 530; nothing else delivered;
  - the server down, and a server that never greets (timeout): Transient.
Sender output (details and logs) must never contain the recipient's address or the body.
"""

import email
import email.policy
import email.utils
import os
import socket
import subprocess
import time
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import smtp_harness  # noqa: E402

FROM = "Helsingin kaupunki <ennakko@example.fi>"
TO = "anna.virtanen@example.fi"
KEY = "3f2a9c0d4e5b6a7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7"
SUBJECT = "Esiopetuspaikka syksylle – päätös ja ohjeet (ä ö å €)"
BODY = ("Hei!\n\nLapsellenne on varattu esiopetuspaikka 1.8. alkaen Päiväkoti Äimärautiossa.\n"
        "Vastaa <KYLLÄ> tai <EI> & kerro, jos tarvitsette myös varhaiskasvatusta: åäö €5.\n"
        ".piste rivin alussa\n"
        "From the city\n"
        + "Pitkä rivi " * 20 + "\n\n"
        "Ystävällisin terveisin\nHelsingin kaupunki")


class Failed(Exception):
    pass


def check(cond: bool, what: str, detail: str = "") -> None:
    if not cond:
        raise Failed(what + (f": {detail}" if detail else ""))
    print(f"ok: {what}", flush=True)


def send(sender: str, url: str, to: str = TO, starttls: bool = False, ca_file: str = "",
         timeout_ms: int = 5000, auth: tuple = ()):
    env = dict(os.environ,
               ENNAKKO_SMTP_URL=url, ENNAKKO_SMTP_STARTTLS="1" if starttls else "0",
               ENNAKKO_SMTP_CA_FILE=ca_file, ENNAKKO_SMTP_TIMEOUT_MS=str(timeout_ms),
               ENNAKKO_EMAIL_FROM=FROM, ENNAKKO_EMAIL_TO=to, ENNAKKO_EMAIL_KEY=KEY,
               ENNAKKO_EMAIL_LANGUAGE="fi", ENNAKKO_EMAIL_SUBJECT=SUBJECT, ENNAKKO_EMAIL_BODY=BODY)
    env.pop("ENNAKKO_SMTP_USERNAME", None)
    env.pop("ENNAKKO_SMTP_PASSWORD", None)
    if auth:
        env.update(ENNAKKO_SMTP_USERNAME=auth[0], ENNAKKO_SMTP_PASSWORD=auth[1])
    run = subprocess.run([sender], env=env, capture_output=True, text=True, timeout=60)
    output = run.stdout + run.stderr
    print(output, end="")
    outcome = next((l.split(" ", 2) for l in run.stdout.splitlines() if l.startswith("outcome: ")),
                   None)
    ref = next((l[len("ref: "):] for l in run.stdout.splitlines() if l.startswith("ref: ")), "")
    if outcome is None:
        raise Failed(f"sender printed no outcome (exit {run.returncode})")
    local = to.split("@")[0]
    check(local not in output and "Äimärautio" not in output
          and "esiopetus" not in output.lower(), "sender output has no address, subject or body")
    return outcome[1], (outcome[2] if len(outcome) > 2 else ""), ref


def check_message(m: smtp_harness.Received, tls: bool) -> None:
    check(m.mail_from == "ennakko@example.fi", "envelope sender", m.mail_from)
    check(m.rcpt_tos == [TO], "envelope recipient", str(m.rcpt_tos))
    check(m.tls == tls, f"session {'under' if tls else 'without'} TLS")
    check(all(len(line) <= 998 for line in m.raw.split(b"\r\n")), "no line over 998 octets")
    check(all(b < 0x80 for b in m.raw), "7-bit clean on the wire")
    msg = email.message_from_bytes(m.raw, policy=email.policy.default)
    check(str(msg["From"]) == FROM, "From", str(msg["From"]))
    check(str(msg["To"]) == TO, "To", str(msg["To"]))
    check(str(msg["Subject"]) == SUBJECT, "Subject decoded from RFC 2047", str(msg["Subject"]))
    check(email.utils.parsedate_to_datetime(str(msg["Date"])) is not None, "Date parses")
    check(str(msg["Message-ID"]) == f"<{KEY}@ennakko>", "Message-ID from the key",
          str(msg["Message-ID"]))
    check(str(msg["Auto-Submitted"]) == "auto-generated", "Auto-Submitted")
    check(msg.get_content_type() == "multipart/alternative", "multipart/alternative",
          msg.get_content_type())
    parts = list(msg.iter_parts())
    check([p.get_content_type() for p in parts] == ["text/plain", "text/html"], "two parts",
          str([p.get_content_type() for p in parts]))
    text = parts[0].get_content().replace("\r\n", "\n")
    check(parts[0].get_content_charset() == "utf-8", "text charset UTF-8")
    check(text.rstrip("\n") == BODY, "text/plain equals the body (UTF-8, '.' line, long line)",
          repr(text))
    html = parts[1].get_content()
    check("&lt;KYLLÄ&gt; tai &lt;EI&gt; &amp; kerro" in html, "HTML escapes the body")
    check(html.count("<p>") == 3, "HTML paragraphs from blank lines", str(html.count("<p>")))
    check("http" not in html and "src=" not in html, "HTML has no remote content")


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: email_channel_e2e.py <email_channel_e2e_sender>", file=sys.stderr)
        return 2
    sender = sys.argv[1]
    busy, gone = "busy@example.fi", "gone@example.fi"
    try:
        print("== plain SMTP on loopback, with 451 and 550 recipients")
        with smtp_harness.SmtpHarness(reject={busy: "451 4.3.0 Mailbox busy, try again later",
                                              gone: "550 5.1.1 <gone@example.fi> unknown"}) as s:
            kind, detail, ref = send(sender, s.url)
            check(kind == "sent", "sent", detail)
            check(ref == f"<{KEY}@ennakko>", "gateway_ref is the Message-ID", ref)
            msgs = s.wait_for_messages(1)
            time.sleep(1)
            msgs = s.received()
            check(len(msgs) == 1, "exactly one message arrived", str(len(msgs)))
            check_message(msgs[0], tls=False)

            kind, detail, _ = send(sender, s.url, to=busy)
            check(kind == "transient" and detail.startswith("smtp 451 4.3.0"),
                  "451 recipient -> Transient with the codes", f"{kind} {detail}")
            kind, detail, _ = send(sender, s.url, to=gone)
            check(kind == "permanent" and detail.startswith("smtp 550 5.1.1"),
                  "550 recipient -> Permanent with the codes", f"{kind} {detail}")
            kind, detail, _ = send(sender, s.url, starttls=True)
            check(kind == "transient", "STARTTLS required, server has none -> Transient",
                  f"{kind} {detail}")
            check(len(s.received()) == 1, "nothing more arrived")
            url = s.url
        kind, detail, _ = send(sender, url)
        check(kind == "transient", "server down -> Transient", f"{kind} {detail}")
        with socket.socket() as silent:  # accepts connections (backlog), never greets
            silent.bind(("127.0.0.1", 0))
            silent.listen(4)
            started = time.monotonic()
            kind, detail, _ = send(sender, f"smtp://127.0.0.1:{silent.getsockname()[1]}",
                                   timeout_ms=1000)
            elapsed = time.monotonic() - started
            check(kind == "transient" and "imeout" in detail and elapsed < 10,
                  "silent server -> Transient after the timeout", f"{kind} {detail} {elapsed:.1f}s")

        print("== STARTTLS with a throwaway self-signed certificate")
        with smtp_harness.SmtpHarness(tls=True) as s:
            kind, detail, _ = send(sender, s.url, starttls=True, ca_file=s.ca_file)
            check(kind == "sent", "sent over STARTTLS", detail)
            msgs = s.wait_for_messages(1)
            check(len(msgs) == 1, "exactly one message arrived", str(len(msgs)))
            check_message(msgs[0], tls=True)
            kind, detail, _ = send(sender, s.url, starttls=True, ca_file="")
            check(kind == "transient", "untrusted certificate -> Transient", f"{kind} {detail}")
            check(len(s.received()) == 1, "nothing more arrived")

        print("== AUTH after STARTTLS")
        with smtp_harness.SmtpHarness(tls=True, auth=("ennakko", "s3cret-pass")) as s:
            kind, detail, _ = send(sender, s.url, starttls=True, ca_file=s.ca_file,
                                   auth=("ennakko", "s3cret-pass"))
            check(kind == "sent", "sent with AUTH", detail)
            msgs = s.wait_for_messages(1)
            check(len(msgs) == 1 and msgs[0].auth_login == "ennakko", "delivered as the AUTH user",
                  str([m.auth_login for m in msgs]))
            check_message(msgs[0], tls=True)
            kind, detail, _ = send(sender, s.url, starttls=True, ca_file=s.ca_file,
                                   auth=("ennakko", "wrong"))
            check(kind == "permanent" and detail.startswith("smtp 535"),
                  "wrong password -> Permanent 535", f"{kind} {detail}")
            kind, detail, _ = send(sender, s.url, starttls=True, ca_file=s.ca_file)
            check(kind == "permanent" and detail.startswith("smtp 530"),
                  "no AUTH where required -> Permanent 530", f"{kind} {detail}")
            check(len(s.received()) == 1, "nothing more arrived")
    except Failed as e:
        print(f"FAIL: {e}")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
