"""Client of the antivirus service every upload is checked with before it is stored."""

import json
import urllib.request

SCANNER_URL = "http://clamav-gateway.internal:8080/scan"


class ScanFailed(Exception):
    pass


def scan_bytes(data, filename):
    request = urllib.request.Request(
        f"{SCANNER_URL}?name={filename}",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        if reply.status != 200:
            raise ScanFailed(filename)
        verdict = json.load(reply)
    return verdict.get("verdict") == "clean"
