"""Bodies with secrets planted in them, of every kind a capture writes: JSON, XML, HTML, logs."""

from __future__ import annotations

import json

from tests.helpers import info_xml, make_jwt

SERIAL = "122125067699"
INVERTER = "482208001234"
BATTERY = "122249097612"
MAC = "00:1D:C0:12:34:56"
IPV4 = "192.168.1.20"
IPV6 = "fe80::21d:c0ff:fe12:3456"
EMAIL = "jane.doe@gmail.com"
LATITUDE = "30.267200"
CITY = "Springfield"
SESSION = "AbC123xyz789AbC123xyz789AbC123xy"
TOKEN = make_jwt(SERIAL)
OTHER_TOKEN = make_jwt(SERIAL, role="installer")

#: What must never appear in a capture (the token's parts too: one alone is a strong hint).
SECRETS = (
    SERIAL, INVERTER, BATTERY, MAC, MAC.lower(), IPV4, IPV6, EMAIL, LATITUDE, CITY, SESSION,
    *TOKEN.split("."), *OTHER_TOKEN.split("."),
)  # fmt: skip

#: ``/info`` with the serial, and an address and e-mail address in a comment.
INFO = info_xml(SERIAL, software="D8.2.4345").replace(
    b"</envoy_info>", f"<!-- {IPV4} {EMAIL} -->\n</envoy_info>".encode()
)
#: A JSON body with serials, a meter named after the gateway, addresses and the location.
JSON_BODY = json.dumps(
    [
        {
            "eid": 704643328,
            "serialNumber": INVERTER,
            "sn": f"{SERIAL}EIM1",
            "serial_nums": {BATTERY: {"last_rpt_date": 1785593329, "phase": 1}},
            "interfaces": [{"mac": MAC, "ip": IPV4, "ipv6": IPV6, "netmask": "255.255.255.0"}],
            "owner": EMAIL,
            "latitude": 30.267200,
            "city": CITY,
            "server": "openresty/1.17.8.1",
        }
    ],
    indent=2,
).replace('"latitude": 30.2672', f'"latitude": {LATITUDE}')
#: An HTML page echoing credentials, a serial, an address and an e-mail address.
HTML_BODY = (
    f"<html><body><p>Authorization: Bearer {TOKEN}</p><p>Cookie: sessionId={SESSION}</p>"
    f"<p>{INVERTER} at {IPV4}, {MAC.lower()}; ask {EMAIL}; also {OTHER_TOKEN}</p></body></html>"
).encode()
#: A redirect's headers (a log), pointing at the gateway's address with its serial.
REDIRECT_HEADERS = {
    "Server": "openresty/1.17.8.1",
    "Location": f"https://{IPV4}/home?serial={SERIAL}",
    "Set-Cookie": f"sessionId={SESSION}; Path=/",
    "Content-Type": "text/html",
}
