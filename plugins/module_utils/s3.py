# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small S3 client (standard library only): AWS Signature Version 4, five operations.

Why not boto3: the backup command runs on air-gapped hosts from a wheelhouse,
and needs only PUT, GET, DELETE, ListObjectsV2 and a bucket check. botocore
alone is a 13 MB wheel (about 80 MB installed) for that. Each upload is
signed with the sha256 of its body (`x-amz-content-sha256`), which the
snapshot's SHA256SUMS already holds, so S3 itself rejects a body that does not
match the checksum (XAmzContentSHA256Mismatch).

Works with AWS S3 (virtual-hosted or path-style addressing) and S3-compatible
endpoints (MinIO, Ceph RGW, Garage, moto: path-style). Credentials are never
put into a message, a log line or an exception.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import os
import socket
import ssl
import time
import urllib.parse
import xml.etree.ElementTree as ET

from ansible_collections.openclaw.memory.plugins.module_utils.common import CHUNK, MemoryToolError

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
ALGORITHM = "AWS4-HMAC-SHA256"
XMLNS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
MAX_PUT = 5 * 1024 ** 3  # S3's limit for one PUT (no multipart here: Lance files are far smaller)
ADDRESSING = ("auto", "path", "virtual")
RETRIES = 3
_HINTS = {
    "NoSuchBucket": "create the bucket or fix the bucket name",
    "AccessDenied": "the credentials lack permission (s3:PutObject, s3:GetObject, s3:DeleteObject, s3:ListBucket)",
    "InvalidAccessKeyId": "check AWS_ACCESS_KEY_ID in the env file",
    "SignatureDoesNotMatch": "check AWS_SECRET_ACCESS_KEY in the env file and the region",
    "AuthorizationHeaderMalformed": "check the region (it must be the bucket's region)",
    "PermanentRedirect": "the bucket is in another region or needs another endpoint; set region/endpoint",
    "XAmzContentSHA256Mismatch": "the file changed or was damaged while it was uploaded; re-run the backup",
}


def _quote(value, safe="-_.~"):
    return urllib.parse.quote(value, safe=safe)


def signing_key(secret_key, date, region, service="s3"):
    """The SigV4 signing key for one day, region and service."""
    k = hmac.new(("AWS4" + secret_key).encode("utf-8"), date.encode("utf-8"), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode("utf-8"), hashlib.sha256).digest()
    return k


def sign_v4(method, path, query, headers, payload_sha256, access_key, secret_key, region, amz_date,
            service="s3"):
    """The Authorization header value for a request (AWS Signature Version 4).

    path: the URI path, already URI-encoded ('/bucket/key'); query: {name: value} (not encoded);
    headers: {name: value} to sign (must hold host and x-amz-date); payload_sha256: hex digest of
    the body (or 'UNSIGNED-PAYLOAD'); amz_date: 'YYYYMMDDTHHMMSSZ'.
    """
    canon_query = "&".join("%s=%s" % (_quote(k), _quote(str(v))) for k, v in sorted(query.items()))
    lower = {k.lower().strip(): " ".join(str(v).split()) for k, v in headers.items()}
    signed = ";".join(sorted(lower))
    canon_headers = "".join("%s:%s\n" % (k, lower[k]) for k in sorted(lower))
    canonical = "%s\n%s\n%s\n%s\n%s\n%s" % (method, path, canon_query, canon_headers, signed, payload_sha256)
    date = amz_date[:8]
    scope = "%s/%s/%s/aws4_request" % (date, region, service)
    to_sign = "%s\n%s\n%s\n%s" % (ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest())
    sig = hmac.new(signing_key(secret_key, date, region, service), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return "%s Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (ALGORITHM, access_key, scope, signed, sig)


def ssl_context(ca_file=None, setting="s3.ca_file"):
    """The TLS context for an https endpoint: the system's CAs, or `ca_file` (a PEM bundle) for a private CA.

    Raises MemoryToolError naming `setting` when the file is missing, unreadable or holds no certificate.
    """
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
        why = getattr(e, "strerror", None) or getattr(e, "reason", None) or str(e) or e.__class__.__name__
        raise MemoryToolError("%s '%s' cannot be used as a CA bundle (%s); give the path of a readable PEM file "
                              "with the CA certificate(s) of the S3 endpoint" % (setting, ca_file, why)) from None


class S3Client:
    """One bucket on one endpoint. Raises MemoryToolError naming the operation, the object and the fix."""

    def __init__(self, bucket, region="us-east-1", endpoint=None, access_key=None, secret_key=None,
                 session_token=None, addressing="auto", ca_file=None, timeout=60, ca_setting="s3.ca_file"):
        if not bucket or "/" in bucket:
            raise MemoryToolError("s3.bucket %r is not a bucket name; set s3.bucket to the bucket alone (no "
                                  "s3:// and no prefix: the prefix goes to s3.prefix)" % (bucket,))
        if addressing not in ADDRESSING:
            raise MemoryToolError("s3.addressing %r is invalid: use %s" % (addressing, ", ".join(ADDRESSING)))
        if not access_key or not secret_key:
            raise MemoryToolError("S3 credentials are missing: put AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in "
                                  "the env file (never in the config file or on the command line)")
        self.bucket = bucket
        self.region = region or "us-east-1"
        endpoint = endpoint or "https://s3.%s.amazonaws.com" % self.region
        url = urllib.parse.urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise MemoryToolError("s3.endpoint %r is not an http(s) URL; use for example "
                                  "https://s3.eu-central-1.amazonaws.com or http://10.0.0.5:9000" % (endpoint,))
        if addressing == "auto":
            addressing = "virtual" if url.hostname.endswith(".amazonaws.com") and "." not in bucket else "path"
        self.addressing = addressing
        self.scheme = url.scheme
        self.port = url.port
        self.base_path = url.path.rstrip("/")
        self.host = ("%s.%s" % (bucket, url.hostname)) if addressing == "virtual" else url.hostname
        default_port = 443 if self.scheme == "https" else 80
        self.host_header = self.host if self.port in (None, default_port) else "%s:%d" % (self.host, self.port)
        self.endpoint = endpoint
        self._access = access_key
        self._secret = secret_key
        self._token = session_token
        self.timeout = timeout
        self._ctx = ssl_context(ca_file, ca_setting) if self.scheme == "https" else None
        self._conn = None
        self.requests = 0

    def __repr__(self):  # never shows credentials
        return "S3Client(%s, bucket=%s)" % (self.endpoint, self.bucket)

    # ------------------------------------------------------------------ plumbing

    def url(self, key=""):
        return "s3://%s/%s" % (self.bucket, key)

    def _path(self, key):
        prefix = self.base_path + ("" if self.addressing == "virtual" else "/" + self.bucket)
        if not key:
            return _quote(prefix, safe="/-_.~") or "/"
        return _quote(prefix + "/" + key, safe="/-_.~")

    def _connection(self):
        if self._conn is None:
            if self.scheme == "https":
                self._conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                                         context=self._ctx, blocksize=CHUNK)
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout, blocksize=CHUNK)
        return self._conn

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _request(self, method, key, query=None, body=None, payload_sha256=EMPTY_SHA256, headers=None, what=None,
                 sink=None, ok=(200, 204)):
        """Send one signed request (retried on connection errors and 5xx); returns (status, headers, data).

        body: bytes, or a callable returning a fresh binary file object (re-opened on a retry).
        sink: a callable(chunk) that receives the response body instead of `data`.
        """
        query = query or {}
        what = what or "%s %s" % (method, self.url(key))
        path = self._path(key)
        target = path + ("?" + "&".join("%s=%s" % (_quote(k), _quote(str(v))) for k, v in sorted(query.items()))
                         if query else "")
        last = None
        for attempt in range(1, RETRIES + 1):
            amz_date = datetime.datetime.now(tz=datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            hdrs = {"host": self.host_header, "x-amz-date": amz_date, "x-amz-content-sha256": payload_sha256}
            if self._token:
                hdrs["x-amz-security-token"] = self._token
            hdrs.update(headers or {})
            auth = sign_v4(method, path, query, hdrs, payload_sha256, self._access, self._secret, self.region,
                           amz_date)
            send = dict(hdrs, Authorization=auth)
            send.pop("host")
            stream = None
            try:
                conn = self._connection()
                if callable(body):
                    stream = body()
                    conn.request(method, target, body=stream, headers=send)
                else:
                    if body is not None:
                        send["Content-Length"] = str(len(body))
                    conn.request(method, target, body=body, headers=send)
                resp = conn.getresponse()
                self.requests += 1
                if sink is not None and resp.status in ok:
                    while True:
                        block = resp.read(CHUNK)
                        if not block:
                            break
                        sink(block)
                    data = b""
                else:
                    data = resp.read()
                status, rhdrs = resp.status, {k.lower(): v for k, v in resp.getheaders()}
            except (OSError, http.client.HTTPException) as e:
                self.close()
                last = _net_error(e)
                if attempt < RETRIES:
                    time.sleep(0.5 * attempt)
                    continue
                raise MemoryToolError("S3 %s failed: %s (endpoint %s); check s3.endpoint and that this host can "
                                      "reach it" % (what, last, self.endpoint)) from None
            finally:
                if stream is not None:
                    stream.close()
            if rhdrs.get("connection", "").lower() == "close":
                self.close()
            if status in ok:
                return status, rhdrs, data
            if status >= 500 and attempt < RETRIES:
                time.sleep(0.5 * attempt)
                continue
            raise self._error(what, status, data)
        raise MemoryToolError("S3 %s failed: %s" % (what, last))  # not reached

    def _error(self, what, status, data):
        code, message = _error_fields(data)
        hint = _HINTS.get(code, "check the bucket, prefix, region and the credentials in the env file")
        return MemoryToolError("S3 %s failed: HTTP %d %s%s; %s" % (
            what, status, code or "", (" (%s)" % message[:200]) if message else "", hint), s3_code=code)

    # ------------------------------------------------------------------ operations

    def check_bucket(self):
        """List at most one key: proves the bucket exists and the credentials may list it."""
        self._request("GET", "", query={"list-type": "2", "max-keys": "1"}, what="list of bucket %s" % self.bucket)

    def put_file(self, key, path, sha256_hex, size):
        """Upload a file whose sha256 is known; S3 rejects the body when it does not match."""
        if size > MAX_PUT:
            raise MemoryToolError("'%s' is %d bytes, more than one S3 PUT takes (5 GiB); use the rsync off-site "
                                  "copy for it" % (path, size))
        headers = {"content-length": str(size), "content-type": "application/octet-stream"}
        self._request("PUT", key, body=lambda: open(path, "rb"), payload_sha256=sha256_hex,  # noqa: SIM115
                      headers=headers)  # _request closes the file after each attempt

    def put_bytes(self, key, data, content_type="application/octet-stream"):
        self._request("PUT", key, body=data, payload_sha256=hashlib.sha256(data).hexdigest(),
                      headers={"content-type": content_type})

    def get_bytes(self, key):
        return self._request("GET", key)[2]

    def get_to_file(self, key, path, mode=0o600):
        """Download into a new file `path`; returns (sha256 hex, bytes)."""
        h = hashlib.sha256()
        n = [0]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            def sink(block):
                h.update(block)
                f.write(block)
                n[0] += len(block)
            self._request("GET", key, sink=sink)
            f.flush()
            os.fsync(f.fileno())
        return h.hexdigest(), n[0]

    def delete(self, key):
        self._request("DELETE", key, ok=(200, 204))

    def list(self, prefix, page_size=None):
        """Every object under `prefix`: yields dict(key, size, etag), `page_size` keys per request."""
        token = None
        while True:
            query = {"list-type": "2", "prefix": prefix}
            if page_size:
                query["max-keys"] = str(page_size)
            if token:
                query["continuation-token"] = token
            data = self._request("GET", "", query=query, what="list of %s" % self.url(prefix))[2]
            try:
                root = ET.fromstring(data)
            except ET.ParseError as e:
                raise MemoryToolError("S3 list of %s returned something that is not XML (%s); is s3.endpoint an "
                                      "S3 endpoint?" % (self.url(prefix), e))
            for item in root.iter(XMLNS + "Contents"):
                yield {
                    "key": item.findtext(XMLNS + "Key"),
                    "size": int(item.findtext(XMLNS + "Size") or 0),
                    "etag": (item.findtext(XMLNS + "ETag") or "").strip('"'),
                }
            if (root.findtext(XMLNS + "IsTruncated") or "false").lower() != "true":
                return
            token = root.findtext(XMLNS + "NextContinuationToken")
            if not token:
                return


def _error_fields(data):
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return None, (data or b"")[:200].decode("utf-8", "replace").strip()
    return root.findtext("Code"), root.findtext("Message")


def _net_error(exc):
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return "TLS error: %s (set s3.ca_file for a private CA)" % (exc.reason or exc)
    return getattr(exc, "strerror", None) or exc.__class__.__name__
