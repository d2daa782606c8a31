#!/usr/bin/env python3
"""Smoke test of the suomifi_fake binary over HTTP (standard library only).

Starts `suomifi_fake --port 0 --token-lifetime 2`, reads the port from its first stdout line, and
checks: bad credentials -> 400; token; active mailboxes (odd individual number); a message -> 200;
the same externalId -> 409 with the original messageId; an inactive mailbox -> 400
MAILBOX_NOT_IN_USE; the events feed; an injected 429 with its Retry-After header; token expiry -> 401; clean exit on SIGTERM.
Synthetic identity codes only (individual numbers 900-999). Exits non-zero on failure.
"""
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

ACTIVE = "140319A901D"    # individual number 901 (odd): active
INACTIVE = "140319A900C"  # 900 (even): no mailbox


def check_codes():
    chars = "0123456789ABCDEFHJKLMNPRSTUVWXY"
    for code in (ACTIVE, INACTIVE):
        assert chars[int(code[:6] + code[7:10]) % 31] == code[10], code


def call(base, method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw) if raw else None


def message(external_id, hetu):
    return {"externalId": external_id, "recipient": {"id": hetu},
            "sender": {"serviceId": "espoo-ennakko"},
            "electronic": {"title": "Esiopetus", "body": "Tarjous", "bodyFormat": "Text",
                           "messageServiceType": "Normal", "replyAllowedBy": "No one",
                           "visibility": "Normal", "attachments": [],
                           "notifications": {
                               "senderDetailsInNotifications": "Organisation and service name",
                               "unreadMessageNotification": {"reminder": "Default reminder"}}}}


def main():
    check_codes()
    fake = subprocess.Popen([sys.argv[1], "--port", "0", "--token-lifetime", "2"],
                            stdout=subprocess.PIPE, text=True)
    try:
        base = "http://127.0.0.1:" + fake.stdout.readline().strip()
        st, _ = call(base, "POST", "/v1/token", {"username": "ennakko", "password": "wrong"})
        assert st == 400, st
        st, tok = call(base, "POST", "/v1/token",
                       {"username": "ennakko", "password": "test-password"})
        assert st == 200 and tok["token_type"] == "Bearer" and tok["expires_in"] == 2, tok
        token = tok["access_token"]
        st, mb = call(base, "POST", "/v1/mailboxes/active",
                      {"endUsers": [{"id": ACTIVE}, {"id": INACTIVE}]}, token)
        assert st == 200 and mb == {"endUsersWithActiveMailbox": [{"id": ACTIVE}]}, mb
        st, sent = call(base, "POST", "/v2/messages/electronic", message("x-1", ACTIVE), token)
        assert st == 200 and isinstance(sent["messageId"], int), sent
        st, again = call(base, "POST", "/v2/messages/electronic", message("x-1", ACTIVE), token)
        assert st == 409 and again["messageId"] == sent["messageId"], again
        st, no = call(base, "POST", "/v2/messages/electronic", message("x-2", INACTIVE), token)
        assert st == 400 and no["validationErrors"][0]["errorCode"] == "MAILBOX_NOT_IN_USE", no
        st, ev = call(base, "GET", "/v2/events", token=token)
        assert st == 200 and len(ev["events"]) == 1 and ev["continuationToken"], ev
        assert ev["events"][0]["metadata"]["externalId"] == "x-1", ev
        st, _ = call(base, "POST", "/_test/faults", {"status": 429, "count": 1, "retryAfter": 3})
        assert st == 204, st
        req = urllib.request.Request(base + "/v2/events")
        req.add_header("Authorization", "Bearer " + token)
        try:
            urllib.request.urlopen(req, timeout=5)
            raise AssertionError("the injected 429 was not answered")
        except urllib.error.HTTPError as e:
            assert e.code == 429 and e.headers["Retry-After"] == "3", (e.code, e.headers)
            assert json.loads(e.read())["retryAfter"] == 3
        st, listed = call(base, "GET", "/_test/messages")
        assert st == 200 and len(listed) == 1, listed
        time.sleep(2.2)
        st, _ = call(base, "GET", "/v2/events", token=token)
        assert st == 401, st
        fake.send_signal(signal.SIGTERM)
        assert fake.wait(timeout=10) == 0
        print("suomifi_e2e: ok (token, mailboxes, 200, 409, MAILBOX_NOT_IN_USE, events, 429, expiry)")
    finally:
        if fake.poll() is None:
            fake.kill()
            fake.wait()


if __name__ == "__main__":
    main()
