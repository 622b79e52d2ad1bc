"""Drive Sealpost's POP3 with Python's stdlib poplib, a real client.

Usage: pop3_poplib.py HOST STLS_PORT POP3S_PORT CAFILE USER PASSWORD

Session 1 (STLS port): CAPA before and after STLS, USER without TLS must be
refused with [AUTH], then USER/PASS, STAT, LIST, UIDL, TOP 1 0, RETR of
every message, QUIT without deleting.
Session 2 (POP3S port): AUTH PLAIN with an initial response (poplib has no
AUTH helper, so it goes through _shortcmd), UIDL, DELE 1, QUIT.
Prints one JSON object; the Go test compares it with what was delivered.
"""
import base64
import json
import poplib
import ssl
import sys

host, stls_port, ssl_port, cafile, user, password = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=cafile)
out = {}

p = poplib.POP3(host, int(stls_port), timeout=20)
out["greeting"] = p.getwelcome().decode()
out["capa_plain"] = sorted(p.capa())
try:
    p.user(user)
    out["user_plain"] = "accepted"
except poplib.error_proto as e:
    out["user_plain"] = e.args[0].decode()
p.stls(context=ctx)
out["capa_tls"] = sorted(p.capa())
p.user(user)
p.pass_(password)
out["stat"] = list(p.stat())
resp, listing, _ = p.list()
out["list"] = [l.decode() for l in listing]
resp, uidl, _ = p.uidl()
out["uidl"] = [l.decode() for l in uidl]
resp, top, _ = p.top(1, 0)
out["top1"] = base64.b64encode(b"".join(l + b"\r\n" for l in top)).decode()
retr = []
for i in range(1, out["stat"][0] + 1):
    resp, lines, octets = p.retr(i)
    # poplib un-stuffs and strips CRLF; octets counts the lines + CRLFs.
    retr.append({"resp": resp.decode(), "octets": octets,
                 "body": base64.b64encode(b"".join(l + b"\r\n" for l in lines)).decode()})
out["retr"] = retr
out["quit1"] = p.quit().decode()

p = poplib.POP3_SSL(host, int(ssl_port), context=ctx, timeout=20)
ir = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
out["auth"] = p._shortcmd("AUTH PLAIN " + ir).decode()
resp, uidl2, _ = p.uidl()
out["uidl2"] = [l.decode() for l in uidl2]
out["dele"] = p.dele(1).decode()
out["quit2"] = p.quit().decode()
print(json.dumps(out))
