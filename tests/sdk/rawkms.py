"""A raw HTTP client for the KMS OpenAPI, for protocol tests the SDKs cannot express.

Builds V1 / V3 signed requests with signer.py and sends them with http.client (or a plain socket
when the server may answer before reading the whole body). With an ssl context (RawKms(...,
context=ctx)) the requests go over HTTPS, verified as that context says.
"""
import http.client
import json
import socket
import urllib.parse

import signer

TIMEOUT = 30


class RawResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError as e:
            raise AssertionError("response body is not JSON (status %s): %r" % (self.status, self.body[:500])) from e

    def __repr__(self):
        return "RawResponse(%s, %r)" % (self.status, self.body[:300])


def send(endpoint, method, target, headers=None, body=b"", chunked=False, context=None):
    host, port = endpoint.rsplit(":", 1)
    if context is None:
        conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    else:
        conn = http.client.HTTPSConnection(host, int(port), timeout=TIMEOUT, context=context)
    try:
        headers = dict(headers or {})
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
            data = body
            # several chunks, like a streaming client
            step = max(1, len(data) // 3)
            body_arg = (data[i:i + step] for i in range(0, len(data), step)) if data else iter([])
            conn.request(method, target, body=body_arg, headers=headers, encode_chunked=True)
        else:
            conn.request(method, target, body=body, headers=headers)
        resp = conn.getresponse()
        return RawResponse(resp.status, resp.getheaders(), resp.read())
    finally:
        conn.close()


def send_raw_socket(endpoint, head, body):
    """Write head+body on a socket, tolerating the server closing early; read the reply.

    Returns RawResponse, or None when the server sent nothing (dropped connection)."""
    host, port = endpoint.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    try:
        try:
            sock.sendall(head)
            view = memoryview(body)
            for i in range(0, len(body), 65536):
                sock.sendall(view[i:i + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass
        chunks = []
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
                if _complete(b"".join(chunks)):
                    break
        except (ConnectionResetError, socket.timeout):
            pass
        raw = b"".join(chunks)
        if not raw:
            return None
        return _parse_response(raw)
    finally:
        sock.close()


def _complete(raw):
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return len(rest) >= int(v.strip())
    return False


def _parse_response(raw):
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers.append((k.decode("latin-1").strip(), v.decode("latin-1").strip()))
    return RawResponse(status, headers, rest)


class RawKms:
    """Signed raw requests against one endpoint."""

    def __init__(self, endpoint, access_key_id, access_key_secret, context=None):
        self.endpoint = endpoint
        self.ak = access_key_id
        self.secret = access_key_secret
        self.context = context  # ssl.SSLContext: HTTPS; None: plain HTTP

    # ---- V1 -----------------------------------------------------------------------------

    def v1_params(self, action, params=None, *, method="POST", version=signer.API_VERSION, timestamp=None,
                  nonce=None, ak=None, secret=None, form=None, tamper=False):
        """Full V1 parameter set (query part) incl. Signature; `form` params are signed too."""
        q = signer.v1_common_params(action, ak or self.ak, version=version, timestamp=timestamp, nonce=nonce)
        q.update(params or {})
        all_params = list(q.items()) + list((form or {}).items())
        sig, sts = signer.v1_sign(method, all_params, secret or self.secret)
        if tamper:
            sig = ("A" if sig[0] != "A" else "B") + sig[1:]
        q["Signature"] = sig
        return q, sts

    def v1(self, action, params=None, *, method="POST", form=None, chunked=False, **kw):
        """V1 request: `params` (plus the common ones) in the query, `form` in the body."""
        q, sts = self.v1_params(action, params, method=method, form=form, **kw)
        target = "/?" + urllib.parse.urlencode(list(q.items()))
        headers = {}
        body = b""
        if form is not None:
            body = signer.form_encode(form).encode("utf-8")
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        resp = send(self.endpoint, method, target, headers, body, chunked=chunked, context=self.context)
        resp.string_to_sign = sts
        return resp

    def v1_all_in_body(self, action, params=None, **kw):
        """pop-core POST shape: everything, Signature included, in the form body; URL is bare '/'."""
        q, sts = self.v1_params(action, params, method="POST", **kw)
        body = signer.form_encode(q).encode("utf-8")
        resp = send(self.endpoint, "POST", "/", {"Content-Type": "application/x-www-form-urlencoded"}, body,
                    context=self.context)
        resp.string_to_sign = sts
        return resp

    # ---- V3 -----------------------------------------------------------------------------

    def v3_request(self, action, query=None, form=None, *, method="POST", version=signer.API_VERSION,
                   date=None, nonce=None, ak=None, secret=None, tamper=False, body=None):
        query = dict(query or {})
        if body is None:
            body = signer.form_encode(form).encode("utf-8") if form else b""
        headers = signer.v3_headers(method, self.endpoint, action, query, body, ak or self.ak,
                                    secret or self.secret, version=version, date=date, nonce=nonce)
        if tamper:
            auth = headers["Authorization"]
            last = auth[-1]
            headers["Authorization"] = auth[:-1] + ("0" if last != "0" else "1")
        target = "/"
        if query:
            target += "?" + urllib.parse.urlencode(list(query.items()), quote_via=urllib.parse.quote)
        return method, target, headers, body

    def v3(self, action, query=None, form=None, *, chunked=False, **kw):
        method, target, headers, body = self.v3_request(action, query, form, **kw)
        return send(self.endpoint, method, target, headers, body, chunked=chunked, context=self.context)
