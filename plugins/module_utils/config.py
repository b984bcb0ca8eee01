# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where an OpenClaw install keeps its memory, resolved the way OpenClaw does (stdlib only).

For one account: the state dir (with the legacy product names), the config
(JSON5, parsed here so managed hosts need no third-party package), the plugin
that owns the memory slot, its embedding identity and scopes, its database
path, its installed version, the workspace, and how the gateway is managed.

Secrets stay on the host: nothing returned from here holds an apiKey, a
token, storageOptions, a resolved ``${ENV}`` value or ``.env`` content, and a
base URL loses its userinfo and query string. Error messages never quote
config text (a syntax error names the line and column only).
"""

from __future__ import annotations

import collections
import json
import os
import pwd
import re
import shutil
import subprocess
import unicodedata
import urllib.parse

from ansible_collections.openclaw.memory.plugins.module_utils.common import (
    MemoryToolError,
    blocked_ancestor,
    check_profile,
)
from ansible_collections.openclaw.memory.plugins.module_utils.plugins import (
    CONFIG_NAMES,
    EXTENSIONS_DIR,
    LANCEDB_CLIENT_PACKAGE,
    MEMORY_CORE,
    MEMORY_LANCEDB_PRO,
    PACKAGE_NAMES,
    PLUGINS,
    STATE_DIR_NAMES,
    embedding_dimensions,
    plugin_spec,
)

REDACTED = "[redacted]"
MAX_DEPTH = 200

# --------------------------------------------------------------------------- JSON5


class JSON5Error(MemoryToolError):
    """A JSON5 syntax error at a 1-based line and column."""

    def __init__(self, reason, line, column):
        super().__init__(f"line {line}, column {column}: {reason}", line=line, column=column)
        self.reason = reason
        self.line = line
        self.column = column


_LINE_BREAKS = "\n\r\u2028\u2029"
_WS = frozenset("\t\n\v\f\r \u00a0\u2028\u2029\ufeff")
_NUMBER = re.compile(
    r"""[+-]?(?:
        Infinity | NaN
      | 0[xX][0-9a-fA-F]+
      | (?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)? | \.[0-9]+)(?:[eE][+-]?[0-9]+)?
    )""",
    re.VERBOSE,
)
_TERMINATOR = re.compile("\r\n|[\n\r\u2028\u2029]")
_SIMPLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
                   "\\": "\\", '"': '"', "'": "'"}
_LITERALS = (("true", True), ("false", False), ("null", None))


def _line_col(text, pos):
    line, start = 1, 0
    for m in _TERMINATOR.finditer(text, 0, pos):
        line += 1
        start = m.end()
    return line, pos - start + 1


def _id_start(ch):
    return ch in "$_" or unicodedata.category(ch) in ("Lu", "Ll", "Lt", "Lm", "Lo", "Nl")


def _id_part(ch):
    return _id_start(ch) or ch in "\u200c\u200d" or unicodedata.category(ch) in ("Mn", "Mc", "Nd", "Pc")


def _describe(text, pos):
    if pos >= len(text):
        return "the end of the file"
    ch = text[pos]
    return f"{ch!r}" if ch.isprintable() else f"character U+{ord(ch):04X}"


class _JSON5Parser:
    """Recursive-descent JSON5 (https://spec.json5.org) to Python values; duplicate keys: last wins."""

    def __init__(self, text):
        self.s = text
        self.n = len(text)
        self.i = 0

    def fail(self, reason, pos=None):
        line, col = _line_col(self.s, self.i if pos is None else pos)
        raise JSON5Error(reason, line, col)

    def skip(self):
        s, n = self.s, self.n
        while self.i < n:
            ch = s[self.i]
            if ch in _WS or (ch > "\x7f" and unicodedata.category(ch) == "Zs"):
                self.i += 1
            elif ch == "/" and s.startswith("//", self.i):
                j = self.i + 2
                while j < n and s[j] not in _LINE_BREAKS:
                    j += 1
                self.i = j
            elif ch == "/" and s.startswith("/*", self.i):
                end = s.find("*/", self.i + 2)
                if end < 0:
                    self.fail("a /* comment is never closed with */")
                self.i = end + 2
            else:
                return

    def document(self):
        value = self.value(0)
        self.skip()
        if self.i < self.n:
            self.fail(f"unexpected {_describe(self.s, self.i)} after the end of the value")
        return value

    def value(self, depth):
        self.skip()
        if self.i >= self.n:
            self.fail("expected a value, got the end of the file")
        ch = self.s[self.i]
        if ch == "{":
            return self.obj(depth + 1)
        if ch == "[":
            return self.arr(depth + 1)
        if ch in "\"'":
            return self.string()
        for word, val in _LITERALS:
            if self.s.startswith(word, self.i) and not self._ident_follows(self.i + len(word)):
                self.i += len(word)
                return val
        if ch in "+-.0123456789IN":
            return self.number()
        self.fail(f"expected a value, got {_describe(self.s, self.i)}")

    def _ident_follows(self, pos):
        return pos < self.n and (_id_part(self.s[pos]) or self.s[pos] == "\\")

    def number(self):
        m = _NUMBER.match(self.s, self.i)
        if not m:
            self.fail("invalid number")
        text = m.group(0)
        end = m.end()
        if end < self.n and (self.s[end].isdigit() or _id_part(self.s[end])):
            if self.s[end].isdigit():
                self.fail("numbers cannot have leading zeros", self.i)
            self.fail(f"invalid number: unexpected {_describe(self.s, end)}", end)
        self.i = end
        sign = -1 if text[0] == "-" else 1
        body = text.lstrip("+-")
        if body == "Infinity":
            return sign * float("inf")
        if body == "NaN":
            return float("nan")
        if body[:2] in ("0x", "0X"):
            return sign * int(body, 0)
        if any(c in body for c in ".eE"):
            return sign * float(body)
        return sign * int(body)

    def _hex(self, count):
        digits = self.s[self.i:self.i + count]
        if len(digits) != count or any(c not in "0123456789abcdefABCDEF" for c in digits):
            self.fail(f"expected {count} hex digits in an escape")
        self.i += count
        return int(digits, 16)

    def _unicode_escape(self):
        code = self._hex(4)
        if 0xD800 <= code <= 0xDBFF and self.s.startswith("\\u", self.i):
            save = self.i
            self.i += 2
            low = self._hex(4)
            if 0xDC00 <= low <= 0xDFFF:
                return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
            self.i = save
        return chr(code)

    def string(self):
        quote = self.s[self.i]
        start = self.i
        self.i += 1
        out = []
        s, n = self.s, self.n
        while True:
            j = self.i
            while j < n and s[j] not in (quote, "\\", "\n", "\r"):
                j += 1
            out.append(s[self.i:j])
            self.i = j
            if j >= n:
                self.fail(f"a string is never closed with {quote}", start)
            ch = s[j]
            if ch == quote:
                self.i += 1
                return "".join(out)
            if ch in "\n\r":
                self.fail(f"a string runs into a line break (end it with {quote} or escape the break)", j)
            # backslash
            self.i += 1
            if self.i >= n:
                self.fail(f"a string is never closed with {quote}", start)
            esc = s[self.i]
            self.i += 1
            if esc in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[esc])
            elif esc == "0":
                if self.i < n and s[self.i].isdigit():
                    self.fail("\\0 cannot be followed by a digit", self.i - 2)
                out.append("\0")
            elif esc in "123456789":
                self.fail(f"\\{esc} is not a valid escape", self.i - 2)
            elif esc == "x":
                out.append(chr(self._hex(2)))
            elif esc == "u":
                out.append(self._unicode_escape())
            elif esc == "\r":
                if self.i < n and s[self.i] == "\n":
                    self.i += 1
            elif esc in "\n\u2028\u2029":
                pass  # line continuation
            else:
                out.append(esc)

    def key(self):
        ch = self.s[self.i] if self.i < self.n else ""
        if ch in ("'", '"'):
            return self.string()
        out = []
        first = True
        while self.i < self.n:
            ch = self.s[self.i]
            if ch == "\\":
                if not self.s.startswith("\\u", self.i):
                    self.fail("only \\u escapes are allowed in an unquoted key")
                self.i += 2
                ch = self._unicode_escape()
                self.i -= 1
            if not (_id_start(ch) if first else _id_part(ch)):
                break
            out.append(ch)
            self.i += 1
            first = False
        if first:
            self.fail(f"expected a property name or '}}', got {_describe(self.s, self.i)}")
        return "".join(out)

    def _enter(self, depth):
        if depth > MAX_DEPTH:
            self.fail(f"objects and arrays are nested more than {MAX_DEPTH} deep")
        self.i += 1

    def obj(self, depth):
        self._enter(depth)
        out = {}
        while True:
            self.skip()
            if self.i < self.n and self.s[self.i] == "}":
                self.i += 1
                return out
            name = self.key()
            self.skip()
            if self.i >= self.n or self.s[self.i] != ":":
                self.fail(f"expected ':' after the property name {name!r}, got {_describe(self.s, self.i)}")
            self.i += 1
            out[name] = self.value(depth)
            self.skip()
            if self.i < self.n and self.s[self.i] == ",":
                self.i += 1
                continue
            if self.i < self.n and self.s[self.i] == "}":
                self.i += 1
                return out
            self.fail(f"expected ',' or '}}' after the value of {name!r}, got {_describe(self.s, self.i)}")

    def arr(self, depth):
        self._enter(depth)
        out = []
        while True:
            self.skip()
            if self.i < self.n and self.s[self.i] == "]":
                self.i += 1
                return out
            out.append(self.value(depth))
            self.skip()
            if self.i < self.n and self.s[self.i] == ",":
                self.i += 1
                continue
            if self.i < self.n and self.s[self.i] == "]":
                self.i += 1
                return out
            self.fail(f"expected ',' or ']' after an array element, got {_describe(self.s, self.i)}")


def parse_json5(text):
    """Parse JSON5 text (comments, trailing commas, unquoted keys, single quotes, hex, ...).

    Raises JSON5Error with .line and .column (1-based) and a reason that never
    quotes the document's text beyond one character or a property name.
    """
    return _JSON5Parser(text).document()


# --------------------------------------------------------------------------- secrets

# A config key name that marks its value as a secret (apiKey, token, accessKey, ...): redact() hides the value,
# audit.py looks for such names followed by a value in memory text.
SECRET_KEY_NAME = re.compile(
    r"api[_-]?key|token|secret|passw|credential|authorization|private[_-]?key|access[_-]?key|cookie|"
    r"storage[_-]?options",
    re.IGNORECASE,
)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_PLACEHOLDER = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


def redact_url(url):
    """A URL without userinfo, query string or fragment (None stays None)."""
    if not isinstance(url, str):
        return url
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url.split("?", 1)[0].split("#", 1)[0]
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def redact(value):
    """A copy of a config value with secret-named keys replaced and URLs stripped of credentials."""
    if isinstance(value, dict):
        return {k: (REDACTED if SECRET_KEY_NAME.search(str(k)) else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str) and _URL.match(value):
        return redact_url(value)
    return value


def has_placeholder(value):
    return isinstance(value, str) and bool(_PLACEHOLDER.search(value))


# --------------------------------------------------------------------------- accounts and paths

Account = collections.namedtuple("Account", "name uid gid home")


def account(user=None, home=None):
    """The account that runs the gateway (default: the one this code runs as).

    `home` replaces its home directory, as OPENCLAW_HOME does for OpenClaw.
    """
    if home is not None and not os.path.isabs(home):
        raise MemoryToolError(f"home '{home}' is relative; give the absolute path OPENCLAW_HOME points to")
    try:
        pw = pwd.getpwnam(user) if user else pwd.getpwuid(os.geteuid())
    except KeyError:
        if user:
            raise MemoryToolError(
                f"User '{user}' does not exist on this host; set user to the account that runs the OpenClaw gateway"
            )
        raise MemoryToolError(f"The account with uid {os.geteuid()} has no passwd entry; set user explicitly")
    return Account(pw.pw_name, pw.pw_uid, pw.pw_gid, os.path.normpath(home) if home else pw.pw_dir)


def expand_path(path, home, base=None):
    """Expand `~` against `home` (not $HOME), `~name` against that user's home; relative → `base`."""
    if path == "~" or path.startswith("~/"):
        path = home + path[1:]
    elif path.startswith("~"):
        name, _sep, rest = path[1:].partition("/")
        try:
            path = os.path.join(pwd.getpwnam(name).pw_dir, rest)
        except KeyError:
            raise MemoryToolError(f"Path '{path}' names the user '{name}', who does not exist on this host")
    if not os.path.isabs(path):
        if base is None:
            return None
        path = os.path.join(base, path)
    return os.path.normpath(path)


def _abs_option(name, value, home):
    path = expand_path(value, home)
    if path is None:
        raise MemoryToolError(
            f"{name} '{value}' is relative; give an absolute path or one starting with '~' (the user's home)"
        )
    return path


def _config_in(state_dir):
    """The first config file name (openclaw.json, then the legacy names) present in `state_dir`, else None."""
    for name in CONFIG_NAMES:
        path = os.path.join(state_dir, name)
        if os.path.exists(path):
            return path
    return None


def resolve_state_dir(home, state_dir=None, profile=None):
    """dict(path, exists, legacy, searched, passed_over): the state dir, found the way OpenClaw finds its config.

    The option; else, of `~/.openclaw[-<profile>]` and the legacy dirs in that order, the first that holds a
    config (OpenClaw looks for its config in the legacy dirs after ~/.openclaw, which memory-lancedb creates for
    its database even on a legacy install); else the first that exists; else `~/.openclaw[-<profile>]`.
    `legacy`: the chosen dir's name when it is a legacy one; `searched`: the dirs looked in for a config;
    `passed_over`: existing dirs before the chosen one that hold no config.
    """
    if state_dir:
        path = _abs_option("state_dir", state_dir, home)
        return {"path": path, "exists": os.path.isdir(path), "legacy": None, "searched": [path], "passed_over": []}
    suffix = "-" + profile if profile else ""
    candidates = [os.path.join(home, name + suffix) for name in STATE_DIR_NAMES]
    existing = [path for path in candidates if os.path.isdir(path)]
    path = next((p for p in existing if _config_in(p)), existing[0] if existing else candidates[0])
    legacy = os.path.basename(path) if path != candidates[0] else None
    return {"path": path, "exists": path in existing, "legacy": legacy, "searched": candidates,
            "passed_over": existing[:existing.index(path)] if path in existing else []}


def resolve_config_path(state_dir, home, config_path=None):
    """(path, found): the option (which must exist), else the first config name found in the state dir."""
    if config_path:
        path = _abs_option("config_path", config_path, home)
        if not os.path.exists(path):
            raise MemoryToolError(
                f"Config file '{path}' (config_path) does not exist; fix config_path, or leave it unset to use "
                f"'{os.path.join(state_dir, CONFIG_NAMES[0])}'"
            )
        return path, True
    path = _config_in(state_dir)
    if path:
        return path, True
    return os.path.join(state_dir, CONFIG_NAMES[0]), False


def load_config(path):
    """The config file as a dict; errors name the file (and line and column for syntax errors)."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except IsADirectoryError:
        raise MemoryToolError(f"Config path '{path}' is a directory; point config_path at the openclaw.json file")
    except PermissionError:
        raise MemoryToolError(
            f"Config file '{path}' is not readable by this account; run the module with become or as the gateway's user"
        )
    except UnicodeDecodeError:
        raise MemoryToolError(f"Config file '{path}' is not UTF-8 text; fix or replace the file")
    except OSError as e:
        raise MemoryToolError(f"Config file '{path}' cannot be read: {e.strerror or e}")
    try:
        cfg = parse_json5(text)
    except JSON5Error as e:
        raise MemoryToolError(
            f"Config file '{path}' is not valid JSON5 at line {e.line}, column {e.column}: {e.reason}; fix the file "
            "(`openclaw doctor` checks it) or point config_path at the right one",
            line=e.line, column=e.column,
        )
    if not isinstance(cfg, dict):
        raise MemoryToolError(
            f"Config file '{path}' must hold a JSON5 object at the top level, got {_type_name(cfg)}"
        )
    return cfg


def _type_name(value):
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _kind_name(kind):
    return {dict: "an object", str: "a string", list: "an array", bool: "a boolean"}.get(kind, str(kind))


def cfg_get(cfg, keys, kind, cfg_path):
    """The value at `keys` in the config, or None; raises when a value on the way has the wrong type.

    The message names the dotted key and the type found, never the value (it may be a secret).
    """
    node = cfg
    for depth, key in enumerate(keys):
        if not isinstance(node, dict):
            where = ".".join(keys[:depth])
            raise MemoryToolError(
                f"'{where}' in config file '{cfg_path}' must be an object, got {_type_name(node)}; fix the config"
            )
        node = node.get(key)
        if node is None:
            return None
    if kind is not None and not isinstance(node, kind):
        where = ".".join(keys)
        raise MemoryToolError(
            f"'{where}' in config file '{cfg_path}' must be {_kind_name(kind)}, got {_type_name(node)}; fix the config"
        )
    return node


# --------------------------------------------------------------------------- plugin, embedding, scopes


def memory_plugin(cfg, cfg_path):
    """dict(plugin, enabled, config, warnings) for the plugin that owns `plugins.slots.memory`."""
    warnings = []
    slot = cfg_get(cfg, ["plugins", "slots", "memory"], str, cfg_path)
    entries = cfg_get(cfg, ["plugins", "entries"], dict, cfg_path) or {}
    if slot is None:
        plugin = MEMORY_CORE
        for name in PLUGINS:
            entry = entries.get(name)
            if name != MEMORY_CORE and isinstance(entry, dict) and entry.get("enabled") is True:
                warnings.append(
                    f"plugins.entries.{name} is enabled but plugins.slots.memory does not select it, so OpenClaw "
                    f"uses {MEMORY_CORE}; set plugins.slots.memory if {name} should own memory"
                )
    elif slot.strip().lower() in ("", "none"):
        warnings.append(f"plugins.slots.memory is '{slot}': no memory plugin is active")
        return {"plugin": None, "enabled": False, "config": {}, "warnings": warnings}
    elif plugin_spec(slot) is None:
        raise MemoryToolError(
            f"plugins.slots.memory in config file '{cfg_path}' names '{slot}', a plugin openclaw.memory does not "
            f"know; known plugins: {', '.join(sorted(PLUGINS))}. Fix the slot in the config or point config_path at "
            "the right file"
        )
    else:
        plugin = slot
    cfg_get(cfg, ["plugins", "entries", plugin], dict, cfg_path)
    pconf = cfg_get(cfg, ["plugins", "entries", plugin, "config"], dict, cfg_path) or {}
    enabled = True
    why = None
    if cfg_get(cfg, ["plugins", "enabled"], bool, cfg_path) is False:
        enabled, why = False, "plugins.enabled is false"
    elif plugin in (cfg_get(cfg, ["plugins", "deny"], list, cfg_path) or []):
        enabled, why = False, "plugins.deny lists it"
    elif cfg_get(cfg, ["plugins", "entries", plugin, "enabled"], bool, cfg_path) is False:
        enabled, why = False, f"plugins.entries.{plugin}.enabled is false"
    if not enabled:
        warnings.append(
            f"Memory plugin {plugin} is disabled ({why}): the gateway does not read or write its memories"
        )
    return {"plugin": plugin, "enabled": enabled, "config": pconf, "warnings": warnings}


def embedding(plugin, pconf, cfg, cfg_path):
    """The embedding identity {provider, model, dimensions, base_url, api_key_set}; never the key itself."""
    warnings = []
    spec = plugin_spec(plugin) if plugin else None
    if plugin == MEMORY_CORE:
        keys = ["agents", "defaults", "memorySearch"]
        emb = cfg_get(cfg, keys, dict, cfg_path) or {}
        remote = emb.get("remote") if isinstance(emb.get("remote"), dict) else {}
        base_url = remote.get("baseUrl")
        api_key = remote.get("apiKey")
        defaults = {"provider": None, "model": None}
    elif spec:
        keys = ["plugins", "entries", plugin, "config", "embedding"]
        emb = cfg_get(cfg, keys, dict, cfg_path) or {}
        base_url = emb.get(spec["base_url_key"], emb.get("baseUrl", emb.get("baseURL")))
        api_key = emb.get("apiKey")
        defaults = spec["embedding_defaults"]
    else:
        return {"provider": None, "model": None, "dimensions": None, "base_url": None, "api_key_set": False}, []
    where = ".".join(keys)
    for name in ("provider", "model"):
        if emb.get(name) is not None and not isinstance(emb.get(name), str):
            raise MemoryToolError(
                f"'{where}.{name}' in config file '{cfg_path}' must be a string, got {_type_name(emb.get(name))}; "
                "fix the config"
            )
    provider = emb.get("provider") or defaults["provider"]
    model = emb.get("model") or defaults["model"]
    explicit = emb.get("dimensions")
    if has_placeholder(explicit):
        warnings.append(
            f"{where}.dimensions is an ${{ENV}} placeholder, which only the gateway's environment resolves; "
            "dimensions are reported as unknown"
        )
        explicit = None
    elif isinstance(explicit, str) and explicit.strip().isdigit():
        explicit = int(explicit)
    elif explicit is not None and (isinstance(explicit, bool) or not isinstance(explicit, (int, float))
                                   or int(explicit) != explicit or explicit <= 0):
        raise MemoryToolError(
            f"'{where}.dimensions' in config file '{cfg_path}' must be a positive whole number, got {explicit!r}; "
            "fix the config"
        )
    dims = embedding_dimensions(model, explicit) if not has_placeholder(model) else explicit
    result = {
        "provider": provider,
        "model": model,
        "dimensions": int(dims) if dims is not None else None,
        "base_url": redact_url(base_url) if isinstance(base_url, str) else None,
        "api_key_set": bool(api_key),
    }
    return result, warnings


def scopes(plugin, pconf):
    """The pro plugin's `scopes` config (redacted), else None."""
    if plugin == MEMORY_LANCEDB_PRO:
        value = pconf.get("scopes")
        return redact(value) if value is not None else None
    return None


# --------------------------------------------------------------------------- database path


def resolve_db_path(plugin, pconf, home, cfg_path, install_dir=None, db_path=None):
    """dict(path, source, remote): the db_path option, else the plugin's dbPath, else its default.

    source is 'option', 'config' or 'default'; path None for plugins without a database.
    """
    if db_path:
        if _URL.match(db_path):
            return {"path": db_path, "source": "option", "remote": True}
        return {"path": _abs_option("db_path", db_path, home), "source": "option", "remote": False}
    spec = plugin_spec(plugin) if plugin else None
    if not spec or not spec["lancedb"]:
        return {"path": None, "source": None, "remote": False}
    key = f"plugins.entries.{plugin}.config.dbPath"
    value = pconf.get("dbPath")
    if value is None:
        return {"path": expand_path(spec["default_db_path"], home), "source": "default", "remote": False}
    if not isinstance(value, str) or not value.strip():
        got = _type_name(value) if not isinstance(value, str) else "an empty string"
        raise MemoryToolError(
            f"{key} in config file '{cfg_path}' must be a non-empty string, got {got}; fix the config"
        )
    if has_placeholder(value):
        raise MemoryToolError(
            f"{key} in config file '{cfg_path}' is '{value}': ${{ENV}} placeholders are resolved from the gateway's "
            "environment, which Ansible cannot see; pass db_path with the resolved path"
        )
    if _URL.match(value):
        return {"path": redact_url(value), "source": "config", "remote": True}
    path = expand_path(value, home, base=install_dir)
    if path is None:
        raise MemoryToolError(
            f"{key} in config file '{cfg_path}' is the relative path '{value}', which OpenClaw resolves against the "
            "plugin's install dir, and that dir was not found; pass plugin_dir or db_path"
        )
    return {"path": path, "source": "config", "remote": False}


# --------------------------------------------------------------------------- installed plugin

NPM_ROOTS = ("/usr/lib/node_modules", "/usr/local/lib/node_modules", "/opt/homebrew/lib/node_modules")
USER_NPM_ROOTS = (".npm-global/lib/node_modules", ".local/lib/node_modules", ".local/share/pnpm/global/5/node_modules")


def _read_package(path):
    """(name, version) from a package.json, or None when absent/unreadable/not JSON."""
    try:
        with open(os.path.join(path, "package.json"), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    name, version = data.get("name"), data.get("version")
    return (name if isinstance(name, str) else None, version if isinstance(version, str) else None)


def _node_resolve(start, package):
    """Version of `package` as Node would resolve it from `start` (node_modules of start and its parents)."""
    path = os.path.abspath(start)
    while True:
        found = _read_package(os.path.join(path, "node_modules", package))
        if found:
            return found[1]
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def plugin_install(plugin, cfg, cfg_path, state_dir, home, plugin_dir=None):
    """dict(path, version, lancedb_version) of the installed plugin package, or all None when not found.

    Looks at plugin_dir, plugins.installs.<id>.installPath, <stateDir>/extensions/<id>,
    plugins.load.paths, and the plugin bundled in a global `openclaw` npm package.
    """
    empty = {"path": None, "version": None, "lancedb_version": None}
    if not plugin:
        return empty
    candidates = []
    explicit = None
    if plugin_dir:
        explicit = _abs_option("plugin_dir", plugin_dir, home)
        if _read_package(explicit) is None:
            raise MemoryToolError(
                f"plugin_dir '{explicit}' holds no readable package.json; point it at the installed {plugin} "
                "package directory"
            )
        candidates.append(explicit)
    install = cfg_get(cfg, ["plugins", "installs", plugin], dict, cfg_path) or {}
    recorded_version = install.get("version") if isinstance(install.get("version"), str) else None
    if isinstance(install.get("installPath"), str):
        candidates.append(expand_path(install["installPath"], home, base=state_dir))
    candidates.append(os.path.join(state_dir, EXTENSIONS_DIR, plugin))
    for p in cfg_get(cfg, ["plugins", "load", "paths"], list, cfg_path) or []:
        if isinstance(p, str):
            full = expand_path(p, home, base=os.path.dirname(cfg_path))
            candidates.extend([full, os.path.join(full, plugin)])
    roots = list(NPM_ROOTS) + [os.path.join(home, r) for r in USER_NPM_ROOTS]
    for root in roots:
        candidates.append(os.path.join(root, "openclaw", EXTENSIONS_DIR, plugin))  # bundled with openclaw
        if plugin in PACKAGE_NAMES:
            candidates.append(os.path.join(root, PACKAGE_NAMES[plugin]))
    for path in candidates:
        if not path:
            continue
        pkg = _read_package(path)
        if pkg is None:
            continue
        name = pkg[0] or ""
        if path != explicit and name and name not in (plugin, PACKAGE_NAMES.get(plugin)) \
                and os.path.basename(path) != plugin:
            continue  # another package in a shared load path
        return {"path": path, "version": pkg[1] or recorded_version,
                "lancedb_version": _node_resolve(path, LANCEDB_CLIENT_PACKAGE)}
    return dict(empty, version=recorded_version)


# --------------------------------------------------------------------------- workspace


def resolve_workspace(cfg, cfg_path, state_dir, home, profile=None, workspace=None):
    """The memory workspace dir: the option, agents.defaults.workspace (legacy agent.workspace), else default."""
    if workspace:
        return _abs_option("workspace", workspace, home)
    for keys in (["agents", "defaults", "workspace"], ["agent", "workspace"]):
        value = cfg_get(cfg, keys, str, cfg_path) if cfg else None
        if value:
            if has_placeholder(value):
                where = ".".join(keys)
                raise MemoryToolError(
                    f"{where} in config file '{cfg_path}' is '{value}': ${{ENV}} placeholders are resolved from the "
                    "gateway's environment, which Ansible cannot see; pass workspace with the resolved path"
                )
            return expand_path(value, home, base=state_dir)
    suffix = "workspace-" + profile if profile and profile != "default" else "workspace"
    return os.path.join(state_dir, suffix)


def check_workspace_option(path, warnings):
    """The workspace option's `path` must be a directory: a file raises, a missing one appends a warning."""
    fix = ("the Markdown memory workspace directory (the one holding MEMORY.md), or leave it unset to use "
           "agents.defaults.workspace from the config")
    if os.path.isdir(path):
        return
    if os.path.exists(path):
        raise MemoryToolError(f"workspace '{path}' is a file, not a directory; set workspace to {fix}")
    blocked = blocked_ancestor(path)
    if blocked:
        warnings.append(f"workspace '{path}' cannot be reached: '{blocked}' is not readable by this account, so no "
                        "workspace files are reported; run the module with become or as the gateway's user")
    else:
        warnings.append(f"workspace '{path}' does not exist, so no workspace files are reported; set workspace to "
                        f"{fix}")


# --------------------------------------------------------------------------- gateway

SYSTEM_UNIT_DIRS = ("/etc/systemd/system", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system",
                    "/lib/systemd/system")
LAUNCHD_LABEL = "ai.openclaw.gateway"
_GATEWAY_BINS = ("openclaw", "openclaw.mjs", "clawdbot", "moltbot", "moldbot")
_GATEWAY_CLI_VERBS = ("start", "stop", "restart", "status", "install", "uninstall", "probe", "call", "health")


def _systemctl_active(args, env=None):
    """True/False from `systemctl is-active`, None when systemd cannot answer."""
    exe = shutil.which("systemctl")
    if not exe or not os.path.isdir("/run/systemd/system"):
        return None
    try:
        proc = subprocess.run([exe] + args, capture_output=True, text=True, timeout=10, env=env, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    state = proc.stdout.strip()
    if state in ("active", "reloading", "activating", "deactivating"):
        return True
    if state in ("inactive", "failed"):
        return False
    return None


def gateway_pids(uid, proc_root="/proc"):
    """PIDs of gateway processes run by `uid` (process title `openclaw-gateway` or `openclaw gateway`)."""
    pids = []
    try:
        entries = os.listdir(proc_root)
    except OSError:
        return None
    me = os.getpid()
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        base = os.path.join(proc_root, entry)
        try:
            if os.stat(base).st_uid != uid:
                continue
            with open(os.path.join(base, "cmdline"), "rb") as f:
                argv = f.read().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        if _is_gateway_argv([a for a in argv if a]):
            pids.append(int(entry))
    return sorted(pids)


def _is_gateway_argv(argv):
    if not argv:
        return False
    if os.path.basename(argv[0].split(" ")[0]) == "openclaw-gateway":
        return True
    for idx, arg in enumerate(argv[:-1]):
        if os.path.basename(arg) in _GATEWAY_BINS and argv[idx + 1] == "gateway":
            rest = argv[idx + 2:idx + 3]
            return not (rest and rest[0] in _GATEWAY_CLI_VERBS)
    return False


def detect_gateway(acct, profile=None, system_unit_dirs=SYSTEM_UNIT_DIRS, proc_root="/proc"):
    """dict(manager, unit, active, pids): how the gateway of `acct` is managed and whether it runs.

    manager: systemd_user (a unit in ~/.config/systemd/user), systemd (a system unit), launchd
    (~/Library/LaunchAgents/ai.openclaw.gateway.plist) or unknown. active: from systemctl when
    systemd runs, else from the process table (None when neither can tell).
    """
    suffix = "-" + profile if profile else ""
    manager = unit = None
    active = None
    user_dir = os.path.join(acct.home, ".config", "systemd", "user")
    for name in (f"openclaw-gateway{suffix}.service", f"clawdbot-gateway{suffix}.service"):
        if os.path.isfile(os.path.join(user_dir, name)):
            manager, unit = "systemd_user", name
            if os.geteuid() == acct.uid:
                env = dict(os.environ, XDG_RUNTIME_DIR=f"/run/user/{acct.uid}")
                active = _systemctl_active(["--user", "is-active", name], env=env)
            elif os.geteuid() == 0:
                active = _systemctl_active(["--user", f"--machine={acct.name}@", "is-active", name])
            break
    if manager is None:
        names = [f"openclaw{suffix}.service", f"openclaw-gateway{suffix}.service"]
        for d in system_unit_dirs:
            hit = next((n for n in names if os.path.isfile(os.path.join(d, n))), None)
            if hit:
                manager, unit = "systemd", hit
                active = _systemctl_active(["is-active", hit])
                break
    if manager is None:
        plist = os.path.join(acct.home, "Library", "LaunchAgents", LAUNCHD_LABEL + ".plist")
        if os.path.isfile(plist):
            manager, unit = "launchd", LAUNCHD_LABEL
    pids = gateway_pids(acct.uid, proc_root)
    if active is None and pids is not None:
        active = bool(pids)
    return {"manager": manager or "unknown", "unit": unit, "active": active, "pids": pids or []}


# --------------------------------------------------------------------------- everything config-side


def discover(acct, profile=None, state_dir=None, config_path=None, db_path=None, workspace=None,
             plugin_dir=None):
    """Resolve the memory setup of the account `acct` (see account()) from its files.

    Returns a dict of config-side facts (see the facts module's RETURN) plus
    `db_path_source` ('option', 'config', 'default' or None), `db_remote` and
    `workspace_path`. Raises MemoryToolError for a missing or invalid config
    (unless db_path is given: then the database is read without one), an
    unknown memory plugin, or bad paths.
    """
    warnings = []
    check_profile(profile, "set profile to the name the gateway runs with, or state_dir to a directory")
    state = resolve_state_dir(acct.home, state_dir, profile)
    if state["legacy"] and state["passed_over"]:
        warnings.append(
            f"OpenClaw config was found only under the legacy name '{state['path']}' "
            f"(no config in {', '.join(state['passed_over'])}; memory-lancedb creates ~/.openclaw/memory for its "
            "database even on a legacy install): OpenClaw still reads it, but new installs and this collection's "
            "defaults expect ~/.openclaw"
        )
    elif state["legacy"]:
        warnings.append(
            f"OpenClaw state was found only under the legacy name '{state['path']}' (no ~/.openclaw"
            f"{'-' + profile if profile else ''}): OpenClaw still reads it, but new installs and this collection's "
            "defaults expect ~/.openclaw"
        )
    blocked = state["path"] if state["exists"] else blocked_ancestor(state["path"])
    if blocked and not os.access(blocked, os.R_OK | os.X_OK):
        raise MemoryToolError(
            f"State dir '{state['path']}' cannot be read: '{blocked}' is not readable by this account; run the "
            "module with become (it only reads) or as the gateway's user"
        )
    cfg_file, found = resolve_config_path(state["path"], acct.home, config_path)
    cfg = {}
    if found:
        cfg = load_config(cfg_file)
    elif not db_path:
        raise MemoryToolError(
            f"No OpenClaw config found for user '{acct.name}' (tried {', '.join(CONFIG_NAMES)} in "
            f"{', '.join(state['searched'])}); set user to the gateway's account, "
            "state_dir or config_path to where the config is (the gateway's OPENCLAW_STATE_DIR / "
            "OPENCLAW_CONFIG_PATH), or db_path to read a database without a config"
        )
    else:
        warnings.append(
            f"No OpenClaw config at '{cfg_file}': reading db_path without one (plugin inferred from the table schema, "
            "embedding unknown)"
        )
    if found:
        owner = memory_plugin(cfg, cfg_file)
        warnings.extend(owner["warnings"])
    else:
        owner = {"plugin": None, "enabled": None, "config": {}}
    plugin, pconf = owner["plugin"], owner["config"]
    install = plugin_install(plugin, cfg, cfg_file, state["path"], acct.home, plugin_dir)
    emb, emb_warnings = embedding(plugin, pconf, cfg, cfg_file)
    warnings.extend(emb_warnings)
    db = resolve_db_path(plugin, pconf, acct.home, cfg_file, install["path"], db_path)
    ws = resolve_workspace(cfg, cfg_file, state["path"], acct.home, profile, workspace)
    if workspace:
        check_workspace_option(ws, warnings)
    return {
        "user": acct.name,
        "uid": acct.uid,
        "home": acct.home,
        "state_dir": state["path"],
        "state_dir_exists": state["exists"],
        "config_path": cfg_file,
        "config_found": found,
        "plugin": plugin,
        "plugin_source": "config" if found else None,
        "plugin_enabled": owner["enabled"],
        "plugin_dir": install["path"],
        "plugin_version": install["version"],
        "plugin_lancedb_version": install["lancedb_version"],
        "embedding": emb,
        "scopes": scopes(plugin, pconf) if plugin else None,
        "db_path": db["path"],
        "db_path_source": db["source"],
        "db_remote": db["remote"],
        "workspace_path": ws,
        "gateway": detect_gateway(acct, profile),
        "warnings": warnings,
    }
