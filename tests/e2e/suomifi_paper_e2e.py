#!/usr/bin/env python3
"""ctest suomifi_paper_e2e: the Suomi.fi channels against the suomifi_fake process, paper mail.

Starts `suomifi_fake --port 0` (odd individual number = active mailbox), runs the C++ sender
(suomifi_channel_e2e_sender: channels "suomifi" then "paper", falling back on a permanent
failure, retrying transient ones) and checks through the double's /_test/ endpoints:

  - a recipient with an active mailbox gets an electronic message and no letter;
  - a recipient without a mailbox but with an address: "suomifi" fails permanently (no active
    mailbox) and "paper" sends a multichannel message delivered as paper mail, with our address
    and sender, exactly one PDF attachment (a valid PDF: %PDF-, and when poppler-utils is
    installed, pdftotext finds the title, body, sender and reply instructions, and no address
    since Posti prints the address page);
  - a recipient with a protected address (turvakielto) and no mailbox gets nothing: paper is
    skipped with "address protected", and no letter is uploaded for them;
  - a 503 on /v2/messages is retried and the letter is not uploaded again;
  - the sender's output holds no identity code and no address.
Synthetic identity codes only (individual numbers 900-999). Exits non-zero on failure.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request

ACTIVE = "140319A901D"     # 901: active mailbox
NO_BOX = "140319A900C"     # 900: no mailbox, has an address
PROTECTED = "140319A902E"  # 902: no mailbox, address protected
NO_BOX_2 = "140319A904H"   # 904: no mailbox, has an address (the fault run)
TITLE = "Esiopetuspaikka lapsellenne Eelis"
BODY = ("Hei! Helsingin kaupunki tarjoaa lapsellenne Eelis esiopetuspaikkaa vuodelle 2026.\n\n"
        "Saitte viestin, koska lapsi asuu kunnassa ja on esiopetusikäinen. Äö å.")
ADDRESS = {"name": "Aino Äijälä", "street": "Testikatu 9 B 12", "zip": "00990",
           "city": "HELSINKI"}


def check_codes():
    chars = "0123456789ABCDEFHJKLMNPRSTUVWXY"
    for code in (ACTIVE, NO_BOX, PROTECTED, NO_BOX_2):
        assert chars[int(code[:6] + code[7:10]) % 31] == code[10], code


def get(base, path, raw=False):
    with urllib.request.urlopen(base + path, timeout=5) as resp:
        data = resp.read()
        return data if raw else json.loads(data)


def post(base, path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.status


def message(key, hetu, **extra):
    m = {"key": key, "hetu": hetu, "language": "fi", "title": TITLE, "body": BODY}
    m.update(extra)
    return m


def run_sender(sender, base, messages, tmp):
    path = os.path.join(tmp, "messages.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(messages, f)
    run = subprocess.run([sender, base, path], capture_output=True, text=True, timeout=60)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    for secret in (ACTIVE, NO_BOX, PROTECTED, NO_BOX_2, "Testikatu", "Äijälä"):
        assert secret not in output, f"sender output leaks {secret!r}"
    lines = [json.loads(l) for l in run.stdout.splitlines() if l.startswith("{")]
    uploads = int(next(l for l in run.stdout.splitlines() if l.startswith("uploads ")).split()[1])
    return {l["key"]: l for l in lines}, uploads


def pdf_text(pdf_bytes, tmp):
    if not shutil.which("pdftotext"):
        print("note: pdftotext not installed; the letter's text is not checked")
        return None
    path = os.path.join(tmp, "letter.pdf")
    with open(path, "wb") as f:
        f.write(pdf_bytes)
    run = subprocess.run(["pdftotext", "-q", "-enc", "UTF-8", path, "-"], capture_output=True,
                         timeout=30)
    assert run.returncode == 0, "pdftotext cannot parse the letter"
    return " ".join(run.stdout.decode("utf-8").split())


def main():
    check_codes()
    fake_bin, sender = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="ennakko-suomifi-paper-")
    fake = subprocess.Popen([fake_bin, "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        base = "http://127.0.0.1:" + fake.stdout.readline().strip()
        results, uploads = run_sender(sender, base, [
            message("k-active", ACTIVE, address=ADDRESS),
            message("k-paper", NO_BOX, address=ADDRESS),
            message("k-protected", PROTECTED, protected=True),
        ], tmp)

        a = results["k-active"]
        assert [(t["channel"], t["outcome"]) for t in a["tries"]] == [("suomifi", "sent")], a
        p = results["k-paper"]
        assert [(t["channel"], t["outcome"]) for t in p["tries"]] == [
            ("suomifi", "permanent"), ("paper", "sent")], p
        assert p["tries"][0]["detail"] == "no active Suomi.fi mailbox", p
        x = results["k-protected"]
        assert [(t["channel"], t["outcome"]) for t in x["tries"]] == [
            ("suomifi", "permanent"), ("paper", "skipped")], x
        assert x["tries"][1]["detail"] == "address protected", x
        assert x["ref"] == "", x
        assert uploads == 1, uploads

        msgs = {m["externalId"]: m for m in get(base, "/_test/messages")}
        assert set(msgs) == {"k-active", "k-paper"}, msgs.keys()
        assert msgs["k-active"]["endpoint"] == "electronic", msgs["k-active"]
        paper = msgs["k-paper"]
        assert paper["endpoint"] == "multichannel" and paper["deliveredAs"] == "paper", paper
        assert str(paper["messageId"]) == p["ref"], (paper, p)
        addr = paper["paperMail"]["recipientAddress"]
        assert addr == {"name": ADDRESS["name"], "streetAddress": ADDRESS["street"],
                        "zipCode": ADDRESS["zip"], "city": ADDRESS["city"],
                        "countryCode": "FI"}, addr
        assert paper["paperMail"]["senderAddress"]["name"] == "Helsingin kaupunki", paper
        assert paper["paperMail"]["createAddressPage"] is True, paper

        attachments = get(base, "/_test/attachments")
        assert len(attachments) == 1, attachments
        att = attachments[0]
        assert att["attachmentId"] == paper["paperMail"]["attachmentId"], att
        assert att["contentType"] == "application/pdf" and att["used"], att
        assert att["filename"] == "kirje.pdf", att
        pdf = get(base, "/_test/attachment?id=" + att["attachmentId"], raw=True)
        assert pdf.startswith(b"%PDF-") and len(pdf) == att["size"], pdf[:16]
        text = pdf_text(pdf, tmp)
        if text is not None:
            for wanted in (TITLE, "Helsingin kaupunki tarjoaa lapsellenne Eelis",
                           "esiopetusikäinen. Äö å.", "Helsingin kaupunki",
                           "Vastaaminen ja vastustaminen", "09 310 12345"):
                assert wanted in text, f"{wanted!r} not in the letter: {text!r}"
            assert "Testikatu" not in text, "the letter carries the address (Posti prints it)"

        # A transient 503 on the message: retried, the letter not uploaded again.
        assert post(base, "/_test/faults", {"status": 503, "count": 1,
                                            "path": "/v2/messages"}) == 204
        results, uploads = run_sender(sender, base, [
            message("k-paper-2", NO_BOX_2, address=ADDRESS)], tmp)
        r = results["k-paper-2"]
        assert [(t["channel"], t["outcome"]) for t in r["tries"]] == [
            ("suomifi", "permanent"), ("paper", "transient"), ("paper", "sent")], r
        assert uploads == 1, uploads
        assert len(get(base, "/_test/attachments")) == 2
        stats = get(base, "/_test/stats")
        # The injected 503 answers before the handler: two multichannel requests reached it.
        assert stats["attachmentRequests"] == 2 and stats["multichannelRequests"] == 2, stats
        assert len(get(base, "/_test/messages")) == 3

        fake.send_signal(signal.SIGTERM)
        assert fake.wait(timeout=10) == 0
        print("suomifi_paper_e2e: ok (electronic, paper with PDF and address, protected address "
              "skipped, retry without a second upload)")
    finally:
        if fake.poll() is None:
            fake.kill()
            fake.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
