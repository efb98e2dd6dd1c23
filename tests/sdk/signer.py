"""Minimal Alibaba Cloud OpenAPI request signer (V1 HMAC-SHA1 and V3 ACS3-HMAC-SHA256).

Written from shared/spec/kms-api.md section 2 (not from any SDK); checked against captured SDK
requests in test_protocol.py.  Used by the protocol tests to build requests the SDKs cannot
produce (stale timestamps, replayed nonces, wrong versions, tampered signatures, ...).
"""
import base64
import datetime
import hashlib
import hmac
import urllib.parse
import uuid

API_VERSION = "2016-01-20"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def pct(value):
    """Percent-encode for signing: keep A-Z a-z 0-9 - _ . ~, UTF-8, upper-case hex."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    return urllib.parse.quote(value, safe="~")


def form_encode(pairs):
    """application/x-www-form-urlencoded text (spaces as '+', like the Python SDKs)."""
    return urllib.parse.urlencode(list(_items(pairs)))


def _items(params):
    if params is None:
        return []
    if isinstance(params, dict):
        return list(params.items())
    return list(params)


def utc_timestamp(offset_seconds=0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_nonce():
    return uuid.uuid4().hex


# --------------------------------------------------------------------------------------------
# V1


def v1_canonicalized_query(params):
    """params: dict or list of (name, value); 'Signature' is left out."""
    pairs = [(pct(k), pct(v)) for k, v in _items(params) if k != "Signature"]
    pairs.sort()
    return "&".join("%s=%s" % kv for kv in pairs)


def v1_string_to_sign(method, params):
    return "%s&%s&%s" % (method, pct("/"), pct(v1_canonicalized_query(params)))


def v1_signature(secret, string_to_sign):
    mac = hmac.new((secret + "&").encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def v1_common_params(action, access_key_id, *, version=API_VERSION, timestamp=None, nonce=None):
    return {
        "Action": action,
        "Version": version,
        "Format": "JSON",
        "AccessKeyId": access_key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": nonce or new_nonce(),
        "Timestamp": timestamp or utc_timestamp(),
    }


def v1_sign(method, params, secret):
    """Returns (signature, string_to_sign) over all params (query and form together)."""
    sts = v1_string_to_sign(method, params)
    return v1_signature(secret, sts), sts


# --------------------------------------------------------------------------------------------
# V3


def v3_canonical_query(query):
    pairs = [(pct(k), pct(v)) for k, v in _items(query)]
    pairs.sort()
    return "&".join("%s=%s" % kv for kv in pairs)


def v3_canonical_request(method, query, headers, signed_headers, payload_hash):
    """headers: dict with lower-case names. signed_headers: sorted list of lower-case names."""
    canon_headers = "".join("%s:%s\n" % (h, str(headers[h]).strip()) for h in signed_headers)
    return "\n".join([
        method,
        "/",
        v3_canonical_query(query),
        canon_headers,
        ";".join(signed_headers),
        payload_hash,
    ])


def v3_string_to_sign(canonical_request):
    return "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()


def v3_signature(secret, string_to_sign):
    return hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def v3_headers(method, host, action, query, body, access_key_id, secret, *, version=API_VERSION,
               date=None, nonce=None, content_type="application/x-www-form-urlencoded"):
    """All headers (original-case names) for a V3-signed request, Authorization included."""
    payload_hash = hashlib.sha256(body or b"").hexdigest()
    headers = {
        "host": host,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": date or utc_timestamp(),
        "x-acs-signature-nonce": nonce or new_nonce(),
        "x-acs-content-sha256": payload_hash,
    }
    if content_type:
        headers["content-type"] = content_type
    signed = sorted(headers)
    creq = v3_canonical_request(method, query, headers, signed, payload_hash)
    sig = v3_signature(secret, v3_string_to_sign(creq))
    headers["Authorization"] = "ACS3-HMAC-SHA256 Credential=%s,SignedHeaders=%s,Signature=%s" % (
        access_key_id, ";".join(signed), sig)
    return headers


def parse_v3_authorization(value):
    algo, _, rest = value.partition(" ")
    items = dict(part.strip().split("=", 1) for part in rest.split(","))
    return algo, items
