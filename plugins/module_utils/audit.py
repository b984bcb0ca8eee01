# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Memory hygiene audit: what to clean up before a migration (read-only, it only reports).

For the memory table of a LanceDB database, at its latest version:

  exact_duplicates      rows whose text repeats an earlier row's text. Texts are compared after
                        Unicode NFC, collapsing every whitespace run to one space, trimming, and
                        case folding ("User  likes TEA" repeats "user likes tea"); by a 128-bit
                        BLAKE2b hash, streamed, so only the hashes are held.
  near_duplicates       pairs of rows whose stored vectors have cosine >= the threshold. Rows whose
                        text is an exact duplicate are left out (already reported). Up to
                        `max_rows_near` rows: every pair is compared (blocked matrix products over
                        the normalised vectors). Beyond: sign-random-projection LSH (16 bands of 16
                        bits) proposes candidate pairs, ranked by the bands they share, and the
                        candidates of at most `max_rows_near` rows are compared exactly; the result
                        says `bounded: true`. A pair at cosine 0.97 shares a band with probability
                        above 99%, at 0.99 above 99.99% (the projections are fixed, so runs repeat).
  low_importance        importance < the bound (rows without an importance are not counted).
  secrets               texts holding key-like strings (cloud and API keys, tokens, private key
                        blocks, passwords in assignments, long hex/base64 tokens).
  infrastructure        texts naming IP addresses, host names or ports; with `stale_days`, those
                        older than that are also listed as `stale_infrastructure`.

Every excerpt is at most EXCERPT_CHARS characters with each secret-like span and each IP address
replaced by `[REDACTED:<kind>]` before it is cut. The patterns are in SECRET_PATTERNS /
INFRA_PATTERNS below, the one place they live.

Memory use: the hashes and ids of all rows (about 150 bytes a row), plus in exact mode the
normalised float32 vectors of up to `max_rows_near` rows (20,000 x 1536 dims = 123 MB) and one
1024 x 1024 block of products; in bounded mode the same vector bound plus 64 bytes of LSH keys a
row and at most CANDIDATES_PER_ROW x max_rows_near candidate pairs (16 bytes each).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
import time
import unicodedata

from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError, iso_utc
from ansible_collections.openclaw.memory.plugins.module_utils.config import SECRET_KEY_NAME
from ansible_collections.openclaw.memory.plugins.module_utils.lance import (
    FRAGMENT_READAHEAD,
    GROUP_ROWS,
    check_db_dir,
    coalesced,
    open_table,
    pa,
    require_lance,
)
from ansible_collections.openclaw.memory.plugins.module_utils.plugins import TABLE, created_column

DEFAULT_THRESHOLD = 0.97
DEFAULT_LOW_IMPORTANCE = 0.3
DEFAULT_MAX_ROWS_NEAR = 20000
DEFAULT_LIMIT = 50
EXCERPT_CHARS = 80
DAY_MS = 86_400_000
MAX_STALE_DAYS = 36500  # a century back (further would leave the range of dates)

BLOCK = 1024  # rows per side of one block of the all-pairs products (4 MB of float32 products)
LSH_BANDS = 16
LSH_BITS = 16
LSH_SEED = 20260901
BUCKET_WINDOW = 32  # a bucket larger than this pairs each row only with its next 32 bucket mates
CANDIDATES_PER_ROW = 50  # candidate pairs kept at most: this x max_rows_near (ranked by shared bands)
PAIR_CHUNK = 2048  # candidate pairs measured per step in bounded mode
NEAR_SLACK = 1e-4  # float32 products within this of the threshold are measured again in float64
TOP_KEEP = 100000  # found pairs held before only the `limit` best are kept (the count stays complete)
DB_HINT = "; pass the memory plugin's dbPath (openclaw_memory_facts reports it as db_path)"

# --------------------------------------------------------------------------- patterns (the one place)


def _mixed(token):
    """A long base64-ish run counts only with upper case, lower case and digits (not a path or a word)."""
    return any(c.isupper() for c in token) and any(c.islower() for c in token) and any(c.isdigit() for c in token)


def _ipv6(token):
    if token.count(":") < 2:
        return False
    try:
        ipaddress.IPv6Address(token)
    except ValueError:
        return False
    return True


# (kind, pattern, group to redact (0: the whole match), extra test of that group or None).
# Checked in this order; a match overlapping an earlier match is not counted again.
SECRET_PATTERNS = (
    ("private_key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY"
                               r"( BLOCK)?-----|\Z)", re.S), 0, None),
    ("url_credentials", re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]+:([^\s/@]+)@"), 1, None),
    ("aws_access_key_id", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b"),
     0, None),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"), 0, None),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), 0, None),
    ("api_key", re.compile(r"\b(?:sk|rk|pk)[-_](?:live|test|proj|ant)?[-_]?[A-Za-z0-9_-]{16,}"), 0, None),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), 0, None),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), 0, None),
    ("telegram_bot_token", re.compile(r"\b\d{8,10}:[A-Za-z0-9_-]{35}\b"), 0, None),
    ("bearer_token", re.compile(r"\b(?:Bearer|Token)\s+([A-Za-z0-9._~+/=-]{16,})"), 1, None),
    ("password", re.compile(r"(?i)\b(?:password|passwd|passphrase|pwd)\s*[:=]\s*[\"']?([^\s\"',;]{4,})"), 1, None),
    # Key names as config.redact knows them (apiKey, token, secret, accessKey, ...), followed by a value.
    ("secret_assignment",
     re.compile(r"(?i)(?:%s)[\w.-]*[\"']?\s*[:=]\s*[\"']?([^\s\"',;]{6,})" % SECRET_KEY_NAME.pattern), 1, None),
    ("long_hex", re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{32,}(?![0-9A-Za-z])"), 0, None),
    ("long_base64", re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{40,}={0,2}(?![A-Za-z0-9+/=_-])"), 0, _mixed),
)

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = r"%s(?:\.%s){3}" % (_OCTET, _OCTET)
_LABEL = r"(?:[A-Za-z0-9-]+\.)"
_START = r"(?<![\w.@-])"
# (kind, pattern, group, extra test, redact in excerpts)
INFRA_PATTERNS = (
    ("ipv4", re.compile(r"(?<![\d.])%s(?!\.?\d)" % _IPV4), 0, None, True),
    ("ipv6", re.compile(r"(?<![\w:.])[0-9A-Fa-f:]{3,39}(?![\w:])"), 0, _ipv6, True),
    # Three labels or more with an alphabetic top level (a.b.example), or a local suffix; "Node.js" is not one.
    ("hostname", re.compile(r"%s%s{2,}[A-Za-z]{2,24}(?![\w-])|%s%s(?:local|lan|internal|localdomain|home\.arpa|corp)"
                            r"(?![\w-])|\blocalhost\b" % (_START, _LABEL, _START, _LABEL)), 0, None, False),
    # "port 8080", "ports: 22", or host:port after an IP address, localhost or a dotted name (not a time, 14:30).
    ("port", re.compile(r"\b(?i:ports?)\s*(?:is\s+|=\s*|:\s*|number\s+|no\.?\s*)?\d{2,5}\b|(?<![\w.-])(?:localhost|"
                        r"%s|%s+[A-Za-z]{2,24}):\d{2,5}\b" % (_IPV4, _LABEL)), 0, None, False),
)


def scan_text(text):
    """(secret kinds, infrastructure kinds, spans to redact as (start, end, kind)) found in one text."""
    secrets, infra, spans, taken = [], [], [], []
    if not text:
        return secrets, infra, spans
    for kind, rx, group, test in SECRET_PATTERNS:
        for m in rx.finditer(text):
            if test is not None and not test(m.group(group)):
                continue
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            taken.append((m.start(), m.end()))
            spans.append((m.start(group), m.end(group), kind))
            if kind not in secrets:
                secrets.append(kind)
    for kind, rx, group, test, hide in INFRA_PATTERNS:
        for m in rx.finditer(text):
            if test is not None and not test(m.group(group)):
                continue
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue  # inside a secret: already redacted, not evidence of infrastructure
            if hide:
                taken.append((m.start(), m.end()))
                spans.append((m.start(group), m.end(group), kind))
            if kind not in infra:
                infra.append(kind)
    return secrets, infra, spans


def redact_text(text, spans=None):
    """`text` with each secret-like span and IP address replaced by [REDACTED:<kind>]."""
    if not text:
        return text or ""
    if spans is None:
        spans = scan_text(text)[2]
    out, pos = [], 0
    for start, end, kind in sorted(spans):
        if start < pos:
            continue
        out.append(text[pos:start])
        out.append("[REDACTED:%s]" % kind)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def excerpt(text, spans=None, width=EXCERPT_CHARS):
    """At most `width` characters of the redacted text, whitespace collapsed; never cuts a marker in two."""
    flat = " ".join(redact_text(text, spans).split())
    if len(flat) <= width:
        return flat
    cut = flat[: width - 3]
    marker = cut.rfind("[REDACTED:")
    if marker != -1 and "]" not in cut[marker:]:
        cut = cut[:marker]
    return cut.rstrip() + "..."


def text_key(text):
    """The hash exact duplicates are found by: NFC, whitespace runs collapsed and trimmed, case folded."""
    norm = " ".join(unicodedata.normalize("NFC", text or "").split()).casefold()
    return hashlib.blake2b(norm.encode("utf-8"), digest_size=16).digest()


# --------------------------------------------------------------------------- input


def _number(value, name, low, high, low_open, fix):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise MemoryToolError("%s %r is not a number; %s" % (name, value, fix))
    if math.isnan(v) or v > high or v < low or (low_open and v == low):
        raise MemoryToolError("%s %r is out of range %s%g, %g]; %s" % (
            name, value, "(" if low_open else "[", low, high, fix))
    return v


def _count(value, name, minimum, fix):
    try:
        v = int(str(value).strip())
    except ValueError:
        raise MemoryToolError("%s %r is not an integer; %s" % (name, value, fix))
    if v < minimum:
        raise MemoryToolError("%s %r must be an integer >= %d; %s" % (name, value, minimum, fix))
    return v


def _pick_table(path, tables, table):
    if table:
        if table not in tables:
            raise MemoryToolError("Database '%s' has no table '%s' (it holds: %s); set table to one of them" % (
                path, table, ", ".join(sorted(tables))))
        return table
    if TABLE in tables:
        return TABLE
    raise MemoryToolError("Database '%s' has no '%s' table (it holds: %s); set table to the one that holds the "
                          "memories" % (path, TABLE, ", ".join(sorted(tables))))


# --------------------------------------------------------------------------- the audit


def audit(path, table=None, near_duplicate_threshold=DEFAULT_THRESHOLD, low_importance=DEFAULT_LOW_IMPORTANCE,
          max_rows_near=DEFAULT_MAX_ROWS_NEAR, stale_days=None, limit=DEFAULT_LIMIT, now=None):
    """Audit the memory table of the LanceDB database at `path`; returns {audit, summary, duration_s}.

    Read-only: the table is opened at its latest version and only scanned. JSON-serialisable.
    `now` (epoch seconds, default the clock) is what `stale_days` counts back from.
    Raises MemoryToolError for bad input (missing database, no such table, options out of range).
    """
    t0 = time.monotonic()
    threshold = _number(near_duplicate_threshold, "near_duplicate_threshold", 0.0, 1.0, True,
                        "use a cosine in (0, 1], e.g. 0.97")
    low = _number(low_importance, "low_importance", 0.0, 1.0, False, "use an importance in [0, 1], e.g. 0.3")
    max_rows_near = _count(max_rows_near, "max_rows_near", 1, "e.g. 20000")
    limit = _count(limit, "limit", 0, "use 0 for counts only")
    if stale_days is not None:
        stale_days = _number(stale_days, "stale_days", 0.0, MAX_STALE_DAYS, False, "use a number of days, e.g. 90")
    require_lance()
    tables = check_db_dir(path, DB_HINT)
    name = _pick_table(path, tables, table)
    ds = open_table(tables[name])
    names = ds.schema.names
    for col in ("id", "text"):
        if col not in names:
            raise MemoryToolError("Table '%s' has no '%s' column (it has: %s): it is not a memory table; set table to "
                                  "the one that holds the memories" % (tables[name], col, ", ".join(names)))
    created = created_column(names)
    if stale_days is not None and created is None:
        raise MemoryToolError("Table '%s' has no creation-time column (createdAt or timestamp), so stale_days cannot "
                              "tell old memories apart; omit stale_days" % tables[name])
    rows = ds.count_rows()
    vec_field = ds.schema.field("vector") if "vector" in names else None
    near = _Near(vec_field, rows, threshold, max_rows_near, limit)
    scan = _Scan(low if "importance" in names else None, limit, created, stale_days,
                 (time.time() if now is None else float(now)) * 1000.0)
    cols = ["id", "text"] + [c for c in ("importance", created) if c and c in names] + (
        ["vector"] if near.enabled else [])
    batches = ds.to_batches(columns=cols, batch_size=GROUP_ROWS, fragment_readahead=FRAGMENT_READAHEAD)
    for chunk in coalesced(batches, GROUP_ROWS):
        first = scan.add(chunk)
        if near.enabled:
            near.add(chunk.column("vector"), first)
    near_result = near.finish(ds, scan.ids)
    result = {
        "path": path,
        "table": name,
        "version": ds.version,
        "rows": scan.total,
        "exact_duplicates": scan.duplicates_result(ds),
        "near_duplicates": near_result,
        "low_importance": scan.low_result(),
        "secrets": {"count": scan.secret_count, "items": scan.secret_items},
        "infrastructure": {"count": scan.infra_count, "items": scan.infra_items},
        "stale_infrastructure": scan.stale_result(),
        "limit": limit,
        "normalisation": "NFC, whitespace collapsed, case folded",
    }
    return {"audit": result, "summary": summary(result), "duration_s": round(time.monotonic() - t0, 3)}


class _Scan:
    """Everything but the vectors, one streamed pass: text hashes, importance, secrets, infrastructure."""

    def __init__(self, low, limit, created, stale_days, now_ms):
        self.low = low
        self.limit = limit
        self.created = created
        self.stale_cut = None if stale_days is None else now_ms - stale_days * DAY_MS
        self.stale_days = stale_days
        self.total = 0
        self.ids = []
        self.first_of = {}  # text hash -> row offset of its first occurrence
        self.groups = {}  # text hash -> {first, ids (<= limit), size, excerpt}
        self.repeats = 0
        self.low_count = 0
        self.low_ids = []
        self.secret_count = 0
        self.secret_items = []
        self.infra_count = 0
        self.infra_items = []
        self.stale_count = 0
        self.stale_items = []

    def add(self, chunk):
        """Feed one table of rows (in table order); returns a bool list: row is the first with its text."""
        ids = chunk.column("id").to_pylist()
        texts = chunk.column("text").to_pylist()
        imps = chunk.column("importance").to_pylist() if self.low is not None else None
        times = chunk.column(self.created).to_pylist() if self.created else None
        self.ids.extend(ids)
        first = []
        for k, (mid, text) in enumerate(zip(ids, texts, strict=True)):
            off = self.total + k
            key = text_key(text)
            seen = self.first_of.setdefault(key, off)
            first.append(seen == off)
            if seen != off:
                self.repeats += 1
                g = self.groups.get(key)
                if g is None:
                    g = self.groups[key] = {"first": seen, "ids": [self.ids[seen]] if self.limit else [], "size": 1,
                                            "excerpt": None}
                g["size"] += 1
                if len(g["ids"]) < self.limit:
                    g["ids"].append(mid)
            if imps is not None and imps[k] is not None and imps[k] < self.low:
                self.low_count += 1
                if len(self.low_ids) < self.limit:
                    self.low_ids.append(mid)
            secrets, infra, spans = scan_text(text)
            if secrets:
                self.secret_count += 1
                if len(self.secret_items) < self.limit:
                    self.secret_items.append({"id": mid, "kinds": secrets, "excerpt": excerpt(text, spans)})
            if infra:
                self.infra_count += 1
                made = times[k] if times else None
                item = {"id": mid, "kinds": infra, "excerpt": excerpt(text, spans), "created": iso_utc(made)}
                if len(self.infra_items) < self.limit:
                    self.infra_items.append(item)
                if self.stale_cut is not None and made is not None and made < self.stale_cut:
                    self.stale_count += 1
                    if len(self.stale_items) < self.limit:
                        self.stale_items.append(item)
        self.total += len(ids)
        return first

    def duplicates_result(self, ds):
        """The groups in table order; each excerpt from the group's first text (read back by row offset)."""
        groups = sorted(self.groups.values(), key=lambda g: g["first"])[: self.limit]
        if groups:
            firsts = ds.take([g["first"] for g in groups], columns=["id", "text"]).to_pylist()
            for g, row in zip(groups, firsts, strict=True):
                g["excerpt"] = excerpt(row["text"]) if row["id"] == self.ids[g["first"]] else None
        return {"count": self.repeats, "group_count": len(self.groups),
                "groups": [{"ids": g["ids"], "size": g["size"], "excerpt": g["excerpt"]} for g in groups]}

    def low_result(self):
        if self.low is None:
            return {"count": 0, "ids": [], "below": None, "skipped": "the table has no importance column"}
        return {"count": self.low_count, "ids": self.low_ids, "below": self.low}

    def stale_result(self):
        if self.stale_cut is None:
            return {"count": 0, "items": [], "older_than": None, "skipped": "stale_days not set"}
        return {"count": self.stale_count, "items": self.stale_items, "older_than": iso_utc(self.stale_cut),
                "stale_days": self.stale_days}


class _Near:
    """Near-duplicate pairs over the stored vectors, exact up to `max_rows` rows, LSH-bounded beyond."""

    def __init__(self, field, rows, threshold, max_rows, limit):
        import numpy as np  # present whenever pylance is

        self.np = np
        self.threshold = threshold
        self.max_rows = max_rows
        self.limit = limit
        self.rows = rows
        self.skipped = None
        if field is None:
            self.skipped = "the table has no vector column"
        elif not pa.types.is_fixed_size_list(field.type):
            self.skipped = "the vector column is %s, not a fixed-size list" % field.type
        self.enabled = self.skipped is None and rows > 1
        self.bounded = rows > max_rows
        self.unusable = 0
        self.used = 0
        if not self.enabled:
            return
        self.dim = field.type.list_size
        if self.bounded:
            rng = np.random.default_rng(LSH_SEED)
            self.planes = rng.standard_normal((self.dim, LSH_BANDS * LSH_BITS)).astype(np.float32)
            self.weights = (1 << np.arange(LSH_BITS, dtype=np.uint32)).astype(np.uint32)
            self.keys = np.zeros((rows, LSH_BANDS), dtype=np.uint32)
            self.valid = np.zeros(rows, dtype=bool)
        else:
            self.mat = np.zeros((rows, self.dim), dtype=np.float32)
            self.offsets = np.zeros(rows, dtype=np.int64)
        self.seen = 0

    def _unit(self, col, want):
        """(positions in `col` of the wanted rows with a usable vector, their normalised float32 vectors,
        how many wanted rows have none: null, not finite or all zeros)."""
        np = self.np
        if hasattr(col, "combine_chunks"):
            col = col.combine_chunks()
        present = col.is_valid().to_numpy(zero_copy_only=False) if col.null_count else np.ones(len(col), dtype=bool)
        pos = np.flatnonzero(want & present)
        nulls = int((want & ~present).sum())
        if not len(pos):
            return pos, np.zeros((0, self.dim), dtype=np.float32), nulls
        sub = col.take(pa.array(pos)) if len(pos) != len(col) else col
        mat = sub.flatten().to_numpy(zero_copy_only=False).reshape(len(pos), self.dim)
        if mat.dtype != np.float32:
            mat = mat.astype(np.float32)
        with np.errstate(invalid="ignore", over="ignore"):
            norms = np.sqrt(np.einsum("ij,ij->i", mat, mat, dtype=np.float64))
        ok = np.isfinite(norms) & (norms > 0)
        if not ok.all():
            pos, mat, norms = pos[ok], mat[ok], norms[ok]
        return pos, mat / norms.astype(np.float32)[:, None], nulls + int((~ok).sum())

    def add(self, col, first):
        """Feed the vectors of one chunk; `first` marks rows whose text is not an exact duplicate."""
        np = self.np
        base = self.seen
        self.seen += len(col)
        pos, unit, bad = self._unit(col, np.asarray(first, dtype=bool))
        self.unusable += bad
        n = len(pos)
        if not n:
            return
        if self.bounded:
            bits = (unit @ self.planes) >= 0
            keys = bits.reshape(n, LSH_BANDS, LSH_BITS).astype(np.uint32) @ self.weights
            self.keys[base + pos] = keys
            self.valid[base + pos] = True
        else:
            self.mat[self.used:self.used + n] = unit
            self.offsets[self.used:self.used + n] = base + pos
        self.used += n

    def finish(self, ds, ids):
        out = {"count": 0, "pairs": [], "threshold": self.threshold, "bounded": self.bounded and self.enabled,
               "method": "lsh" if self.bounded else "exact", "compared": 0, "rows_compared": self.used,
               "unusable_vectors": self.unusable}
        if self.skipped:
            out.update(skipped=self.skipped, bounded=False, rows_compared=0)
            return out
        if not self.enabled:
            return out
        if self.bounded:
            found, stats = self._bounded(ds)
            out.update(stats)
        else:
            found = self._exact()
            out["compared"] = self.used * (self.used - 1) // 2
        out["count"] = found.count
        out["pairs"] = [{"a": ids[a], "b": ids[b], "cosine": round(c, 4)} for a, b, c in found.top()]
        return out

    def _exact(self):
        np = self.np
        found = _Found(np, self.limit)
        mat = self.mat[: self.used]
        offs = self.offsets[: self.used]
        cut = self.threshold - NEAR_SLACK
        for i0 in range(0, self.used, BLOCK):
            a = mat[i0:i0 + BLOCK]
            for j0 in range(i0, self.used, BLOCK):
                ii, jj = np.nonzero(a @ mat[j0:j0 + BLOCK].T >= cut)
                if j0 == i0:
                    keep = ii < jj
                    ii, jj = ii[keep], jj[keep]
                if len(ii):
                    found.add(offs[i0 + ii], offs[j0 + jj], _cosines(np, mat[i0 + ii], mat[j0 + jj]), self.threshold)
        return found

    def _bounded(self, ds):
        np = self.np
        rows = np.flatnonzero(self.valid)
        codes, counts = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        cap = CANDIDATES_PER_ROW * self.max_rows
        capped_buckets = dropped = 0
        n = np.int64(self.rows)
        for band in range(LSH_BANDS):
            keys = self.keys[rows, band]
            order = np.argsort(keys, kind="stable")
            sk, so = keys[order], rows[order]
            parts = []
            for w in range(1, BUCKET_WINDOW + 2):
                same = np.flatnonzero(sk[:-w] == sk[w:]) if len(sk) > w else np.zeros(0, dtype=np.int64)
                if not len(same):
                    break
                if w > BUCKET_WINDOW:
                    capped_buckets += len(same)  # rows whose bucket is larger than the window: pairs left out
                    break
                a, b = so[same], so[same + w]
                parts.append(np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b))
            if not parts:
                continue
            codes = np.concatenate([codes] + parts)
            counts = np.concatenate([counts] + [np.ones(len(p), dtype=np.int64) for p in parts])
            codes, inverse = np.unique(codes, return_inverse=True)
            counts = np.bincount(inverse.reshape(-1), weights=counts, minlength=len(codes)).astype(np.int64)
            if len(codes) > 2 * cap:
                keep = np.sort(np.argsort(-counts, kind="stable")[:cap])
                dropped += len(codes) - len(keep)
                codes, counts = codes[keep], counts[keep]
        candidates = len(codes)
        rank = np.argsort(-counts, kind="stable")
        codes = codes[rank]
        take = self._within_rows(codes, self.max_rows)
        codes = codes[:take]
        pa_, pb_ = codes // n, codes % n
        need = np.zeros(self.rows, dtype=bool)
        need[pa_] = True
        need[pb_] = True
        where, mat = self._load(ds, need)
        found = _Found(np, self.limit)
        for s in range(0, len(codes), PAIR_CHUNK):
            a, b = pa_[s:s + PAIR_CHUNK], pb_[s:s + PAIR_CHUNK]
            found.add(a, b, _cosines(np, mat[where[a]], mat[where[b]]), self.threshold)
        return found, {"compared": int(len(codes)), "candidates": int(candidates + dropped),
                       "rows_compared": int(need.sum()), "capped_buckets": int(capped_buckets)}

    def _within_rows(self, codes, max_rows):
        """How many of the ranked pairs to compare: the longest prefix that involves at most `max_rows` rows."""
        np = self.np
        n = np.int64(self.rows)
        seq = np.empty(2 * len(codes), dtype=np.int64)
        seq[0::2], seq[1::2] = codes // n, codes % n
        firsts = np.sort(np.unique(seq, return_index=True)[1])  # where each row first appears
        if len(firsts) <= max_rows:
            return len(codes)
        return int(firsts[max_rows] // 2)  # the pair that would bring in one row too many, and all after it

    def _load(self, ds, need):
        """The normalised vectors of the rows in `need` (at most max_rows of them), read by row offset."""
        np = self.np
        where = np.full(self.rows, -1, dtype=np.int64)
        offsets = np.flatnonzero(need)
        mat = np.zeros((len(offsets), self.dim), dtype=np.float32)
        filled = 0
        for s in range(0, len(offsets), GROUP_ROWS):
            part = offsets[s:s + GROUP_ROWS]
            col = ds.take(part.tolist(), columns=["vector"]).column("vector")
            pos, unit, _bad = self._unit(col, np.ones(len(part), dtype=bool))
            where[part[pos]] = np.arange(filled, filled + len(pos))
            mat[filled:filled + len(pos)] = unit
            filled += len(pos)
        return where, mat


def _cosines(np, a, b):
    """Cosines of row pairs in float64 (the float32 products only choose the candidates)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    dots = np.einsum("ij,ij->i", a64, b64)
    return dots / np.sqrt(np.einsum("ij,ij->i", a64, a64) * np.einsum("ij,ij->i", b64, b64))


class _Found:
    """Pairs at or above the threshold: the complete count, and the `limit` best (highest cosine first)."""

    def __init__(self, np, limit):
        self.np = np
        self.limit = limit
        self.count = 0
        self.a, self.b, self.c = [], [], []
        self.held = 0

    def add(self, a, b, cos, threshold):
        keep = cos >= threshold - 1e-9
        if not keep.any():
            return
        self.count += int(keep.sum())
        self.a.append(self.np.asarray(a)[keep])
        self.b.append(self.np.asarray(b)[keep])
        self.c.append(cos[keep])
        self.held += int(keep.sum())
        if self.held > TOP_KEEP:
            self._trim()

    def _trim(self):
        np = self.np
        a, b, c = np.concatenate(self.a), np.concatenate(self.b), np.concatenate(self.c)
        order = np.lexsort((b, a, -c))[: self.limit]
        self.a, self.b, self.c = [a[order]], [b[order]], [c[order]]
        self.held = len(order)

    def top(self):
        if not self.a:
            return []
        self._trim()
        return [(int(x), int(y), float(z)) for x, y, z in zip(self.a[0], self.b[0], self.c[0], strict=True)]


# --------------------------------------------------------------------------- reporting


def summary(result):
    """One line: what the audit found."""
    r = result.get("audit", result)
    near = r["near_duplicates"]
    parts = [
        "%d exact duplicates (%d groups)" % (r["exact_duplicates"]["count"], r["exact_duplicates"]["group_count"]),
        "%d near-duplicate pairs (cosine >= %g%s)" % (near["count"], near["threshold"],
                                                      ", bounded search" if near["bounded"] else ""),
    ]
    if r["low_importance"]["below"] is not None:
        parts.append("%d below importance %g" % (r["low_importance"]["count"], r["low_importance"]["below"]))
    parts.append("%d with secret-like strings" % r["secrets"]["count"])
    parts.append("%d naming infrastructure" % r["infrastructure"]["count"])
    stale = r["stale_infrastructure"]
    if stale.get("older_than"):
        parts.append("%d of them older than %g days" % (stale["count"], stale["stale_days"]))
    return "%d memories in table %s: %s" % (r["rows"], r["table"], ", ".join(parts))


def _ids(ids, count, shown=5):
    listed = ", ".join("`%s`" % i for i in ids[:shown])
    more = count - min(len(ids), shown)
    return listed + (" and %d more" % more if more > 0 else "")


def audit_summary_lines(result):
    """Markdown bullet lines for the migration report (ids only, no memory text)."""
    r = result.get("audit", result)
    lines = ["- Memory audit of table `%s` (version %s, %d memories); read-only, nothing was changed" % (
        r["table"], r["version"], r["rows"])]
    dup = r["exact_duplicates"]
    line = "- Exact duplicates: %d memories repeat an earlier text (%d groups)" % (dup["count"], dup["group_count"])
    if dup["groups"]:
        line += "; e.g. " + "; ".join(" = ".join("`%s`" % i for i in g["ids"][:3]) for g in dup["groups"][:3])
    lines.append(line)
    near = r["near_duplicates"]
    line = "- Near duplicates: %d pairs at cosine >= %g" % (near["count"], near["threshold"])
    if near.get("skipped"):
        line += " (not searched: %s)" % near["skipped"]
    elif near["bounded"]:
        line += " (bounded search: %d candidate pairs of %d memories compared; more may exist)" % (
            near["compared"], near["rows_compared"])
    else:
        line += " (every pair of %d memories compared)" % near["rows_compared"]
    if near["pairs"]:
        line += "; e.g. " + "; ".join("`%s` ~ `%s` (%.3f)" % (p["a"], p["b"], p["cosine"]) for p in near["pairs"][:3])
    lines.append(line)
    low = r["low_importance"]
    if low["below"] is None:
        lines.append("- Low importance: not checked (%s)" % low["skipped"])
    else:
        line = "- Low importance (< %g): %d memories" % (low["below"], low["count"])
        lines.append(line + (": " + _ids(low["ids"], low["count"]) if low["count"] else ""))
    sec = r["secrets"]
    line = "- Secret-like strings: %d memories" % sec["count"]
    if sec["count"]:
        kinds = sorted({k for item in sec["items"] for k in item["kinds"]})
        line += " (%s): %s" % (", ".join(kinds), _ids([i["id"] for i in sec["items"]], sec["count"]))
    lines.append(line)
    inf = r["infrastructure"]
    line = "- Infrastructure (IP addresses, host names, ports): %d memories" % inf["count"]
    lines.append(line + (": " + _ids([i["id"] for i in inf["items"]], inf["count"]) if inf["count"] else ""))
    stale = r["stale_infrastructure"]
    if stale.get("older_than"):
        line = "- Stale infrastructure (created before %s): %d memories" % (stale["older_than"], stale["count"])
        lines.append(line + (": " + _ids([i["id"] for i in stale["items"]], stale["count"]) if stale["count"] else ""))
    return lines
