"""Verifying a webhook-agent delivery in Python (standard library only).

Usage from a web framework: pass the raw request body (bytes, before any JSON parsing), your
webhook's Secret and the request headers; each function returns True or False.
"""
import base64
import hashlib
import hmac
import time


def _header(headers, name):
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def verify_superoffice(body: bytes, secret: str, headers) -> bool:
    """X-SuperOffice-Signature (or, during a rotation, X-SuperOffice-Signature-Previous)."""
    expected = base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode()
    sent = [_header(headers, "X-SuperOffice-Signature"), _header(headers, "X-SuperOffice-Signature-Previous")]
    return any(s is not None and hmac.compare_digest(s.strip(), expected) for s in sent)


def verify_standard_webhooks(body: bytes, secret: str, headers, tolerance_seconds=300, now=None) -> bool:
    """webhook-id, webhook-timestamp, webhook-signature (one or more space-separated v1,<base64>)."""
    msg_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    if not (msg_id and timestamp and signatures and timestamp.isdigit()):
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance_seconds:
        return False  # too old or too new: a possible replay
    key = base64.b64decode(secret[len("whsec_"):])
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(s, expected) for s in signatures.split(" "))


if __name__ == "__main__":
    # python3 verify_webhook.py SECRET HEADERS_JSON [NOW] < body: prints both results.
    import json
    import sys

    secret, headers = sys.argv[1], json.loads(sys.argv[2])
    now = float(sys.argv[3]) if len(sys.argv) > 3 else None
    body = sys.stdin.buffer.read()
    print("superoffice", verify_superoffice(body, secret, headers))
    if secret.startswith("whsec_"):
        print("standard-webhooks", verify_standard_webhooks(body, secret, headers, now=now))
