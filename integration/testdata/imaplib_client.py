#!/usr/bin/env python3
"""Python's stdlib imaplib as an independent IMAP client for the
integration tests (integration/imap_clients_test.go).

Usage: imaplib_client.py MODE HOST PORT CAFILE USER PASSWORD

MODE is "starttls" (IMAP4 + starttls()), "ssl" (IMAP4_SSL) or "plain"
(IMAP4 without starttls(): login must fail). The script prints one JSON
object with what it saw; the Go test makes the assertions.
"""

import base64
import imaplib
import json
import ssl
import sys


def text(b):
    return b.decode() if isinstance(b, bytes) else str(b)


def main():
    mode, host, port, cafile, user, password = sys.argv[1:7]
    port = int(port)
    ctx = ssl.create_default_context(cafile=cafile)
    out = {}

    if mode == "plain":
        m = imaplib.IMAP4(host, port, timeout=10)
        out["capabilities"] = list(m.capabilities)
        try:
            m.login(user, password)
            out["login"] = "OK"
        except imaplib.IMAP4.error as e:
            out["login"] = "refused"
            out["error"] = str(e)
        m.logout()
        print(json.dumps(out))
        return

    if mode == "starttls":
        m = imaplib.IMAP4(host, port, timeout=10)
        out["capabilities_before_tls"] = list(m.capabilities)
        m.starttls(ssl_context=ctx)
    else:
        m = imaplib.IMAP4_SSL(host, port, ssl_context=ctx, timeout=10)
    out["capabilities"] = list(m.capabilities)

    m.login(user, password)
    typ, boxes = m.list()
    out["list"] = [text(b) for b in boxes]

    typ, data = m.select("INBOX")
    out["exists"] = int(data[0])

    typ, data = m.uid("SEARCH", None, "ALL")
    out["uids"] = text(data[0]).split()
    out["messages"] = {}
    for uid in out["uids"]:
        typ, data = m.uid("FETCH", uid, "(RFC822)")
        # [(b'1 (UID 1 RFC822 {n}', b'<message>'), b')']
        out["messages"][uid] = base64.b64encode(data[0][1]).decode()

    typ, data = m.search(None, "SUBJECT", '"second"')
    out["search_subject"] = text(data[0])
    typ, data = m.search(None, "UNSEEN")
    out["search_unseen"] = text(data[0])

    m.store("1", "+FLAGS", r"(\Flagged $Python)")
    typ, data = m.fetch("1", "(FLAGS)")
    out["flags_1"] = text(data[0])

    typ, data = m.copy("1", "Archive")
    out["copy"] = [typ] + [text(d) for d in data]

    m.store("1", "+FLAGS", r"\Deleted")
    typ, data = m.expunge()
    out["expunge"] = [text(d) for d in data if d]
    m.close()

    typ, data = m.status("INBOX", "(MESSAGES)")
    out["status_inbox"] = text(data[0])
    typ, data = m.status("Archive", "(MESSAGES)")
    out["status_archive"] = text(data[0])
    typ, data = m.logout()
    out["logout"] = typ
    print(json.dumps(out))


if __name__ == "__main__":
    main()
