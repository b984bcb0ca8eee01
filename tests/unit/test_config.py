"""OpenClaw config discovery: JSON5, state/config resolution, plugin/embedding/scopes, redaction, gateway."""

from __future__ import annotations

import json
import math
import os
import subprocess
import time

import pytest
from ansible_collections.openclaw.memory.plugins.module_utils import config as C
from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError

# --------------------------------------------------------------------------- JSON5


def test_json5_openclaw_style_document():
    text = """// openclaw.json
{
  /* block
     comment */
  agents: { defaults: { workspace: '~/.openclaw/workspace', }, },
  plugins: {
    slots: { memory: "memory-lancedb" },   // trailing comment
    entries: {
      "memory-lancedb": { enabled: true, config: { embedding: { dimensions: 1024, }, }, },
    },
  },
  $odd_key: [1, 2, 3,],
  'quoted key': null,
}
"""
    cfg = C.parse_json5(text)
    assert cfg["agents"]["defaults"]["workspace"] == "~/.openclaw/workspace"
    assert cfg["plugins"]["slots"]["memory"] == "memory-lancedb"
    assert cfg["plugins"]["entries"]["memory-lancedb"]["config"]["embedding"]["dimensions"] == 1024
    assert cfg["$odd_key"] == [1, 2, 3]
    assert cfg["quoted key"] is None


@pytest.mark.parametrize("text,value", [
    ("0x1F", 31), ("-0x10", -16), ("+7", 7), (".5", 0.5), ("5.", 5.0), ("1e3", 1000.0), ("-2.5E-1", -0.25),
    ("Infinity", math.inf), ("-Infinity", -math.inf), ("0", 0), ("-0.0", -0.0),
    (r"'\x41\u00e9\n\t\'\"\\'", "A\u00e9\n\t'\"\\"), (r'"\ud83d\ude00"', "\U0001F600"),
    ("'line \\\ncontinued'", "line continued"), (r"'\a\0'", "a\0"), ("'\u2028'", "\u2028"),
    ("true", True), ("false", False), ("null", None), ("[]", []), ("{}", {}),
    ("{a:1, a:2}", {"a": 2}), ("{\\u0061b: 1}", {"ab": 1}), ("{ümlaut_1: 1}", {"ümlaut_1": 1}),
    ("\ufeff{x: 1}", {"x": 1}),
])
def test_json5_values(text, value):
    assert C.parse_json5(text) == value


def test_json5_nan():
    assert math.isnan(C.parse_json5("NaN"))


def test_json5_reads_plain_json_like_json_module():
    doc = {"a": [1, 2.5, -3e-2, True, None, {"b": "c\u00e9\n\"q\""}], "e": {}, "f": []}
    text = json.dumps(doc, indent=2)
    assert C.parse_json5(text) == json.loads(text)


@pytest.mark.parametrize("text,line,column,reason", [
    ("{\n  a: 1\n  b: 2\n}", 3, 3, "expected ',' or '}' after the value of 'a', got 'b'"),
    ("{a: 'open", 1, 5, "a string is never closed with '"),
    ("{a: 1 /* never closed", 1, 7, "a /* comment is never closed with */"),
    ("{a: 01}", 1, 5, "numbers cannot have leading zeros"),
    ("{a: 1} x", 1, 8, "unexpected 'x' after the end of the value"),
    ("{a: '\\1'}", 1, 6, "\\1 is not a valid escape"),
    ("{a: 'two\nlines'}", 1, 9, "a string runs into a line break"),
    ("", 1, 1, "expected a value, got the end of the file"),
    ("{a 1}", 1, 4, "expected ':' after the property name 'a', got '1'"),
    ("[1 2]", 1, 4, "expected ',' or ']' after an array element, got '2'"),
    ("{1: 2}", 1, 2, "expected a property name or '}', got '1'"),
    ("{a: tru}", 1, 5, "expected a value, got 't'"),
    ("{a: '\\x4'}", 1, 8, "expected 2 hex digits in an escape"),
    ("\r\n\r\n  ]", 3, 3, "expected a value, got ']'"),
])
def test_json5_errors_name_line_and_column(text, line, column, reason):
    with pytest.raises(C.JSON5Error) as e:
        C.parse_json5(text)
    assert (e.value.line, e.value.column) == (line, column)
    assert reason in e.value.reason
    assert e.value.msg.startswith(f"line {line}, column {column}: ")


def test_json5_deep_nesting_is_an_error_not_a_crash():
    with pytest.raises(C.JSON5Error, match="nested more than 200 deep"):
        C.parse_json5("[" * 5000)


def test_json5_error_never_quotes_a_secret():
    secret = "sk-live-DO-NOT-LEAK-1234567890"
    with pytest.raises(C.JSON5Error) as e:
        C.parse_json5(f'{{embedding: {{apiKey: "{secret}" model: "x"}}}}')
    assert secret not in str(e.value)
    with pytest.raises(C.JSON5Error) as e:
        C.parse_json5(f'{{embedding: {{apiKey: "{secret}')
    assert secret not in str(e.value)


# --------------------------------------------------------------------------- state dir and config


def _home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    return str(home)


STATE_DIRS = [".openclaw", ".clawdbot", ".moldbot", ".moltbot"]


def _state_dir(home, name, exists=True, legacy=None, passed_over=()):
    return {"path": os.path.join(home, name), "exists": exists, "legacy": legacy,
            "searched": [os.path.join(home, n) for n in STATE_DIRS], "passed_over": list(passed_over)}


def test_state_dir_default_and_legacy_fallbacks(tmp_path):
    home = _home(tmp_path)
    assert C.resolve_state_dir(home) == _state_dir(home, ".openclaw", exists=False)
    for name in (".moltbot", ".moldbot", ".clawdbot"):  # later (newer) names win
        os.mkdir(os.path.join(home, name))
        assert C.resolve_state_dir(home) == _state_dir(home, name, legacy=name)
    os.mkdir(os.path.join(home, ".openclaw"))
    assert C.resolve_state_dir(home) == _state_dir(home, ".openclaw")


def test_state_dir_is_the_first_that_holds_a_config_as_openclaw_looks_for_it(tmp_path):
    """memory-lancedb makes ~/.openclaw/memory/lancedb even on a legacy install: OpenClaw then still finds its
    config in the legacy dir (resolveDefaultConfigCandidates looks there after ~/.openclaw)."""
    home = _home(tmp_path)
    os.makedirs(home + "/.openclaw/memory/lancedb")
    os.mkdir(home + "/.moltbot")
    with open(home + "/.moltbot/moltbot.json", "w") as f:
        f.write("{}")
    assert C.resolve_state_dir(home) == _state_dir(home, ".moltbot", legacy=".moltbot", passed_over=[
        home + "/.openclaw"])
    assert C.resolve_config_path(home + "/.moltbot", home) == (home + "/.moltbot/moltbot.json", True)
    os.mkdir(home + "/.clawdbot")  # earlier in the order but no config: passed over too
    assert C.resolve_state_dir(home)["passed_over"] == [home + "/.openclaw", home + "/.clawdbot"]
    with open(home + "/.clawdbot/clawdbot.json", "w") as f:
        f.write("{}")
    assert C.resolve_state_dir(home) == _state_dir(home, ".clawdbot", legacy=".clawdbot", passed_over=[
        home + "/.openclaw"])
    with open(home + "/.openclaw/openclaw.json", "w") as f:
        f.write("{}")
    assert C.resolve_state_dir(home) == _state_dir(home, ".openclaw")
    # The option is taken as it is, config or not.
    assert C.resolve_state_dir(home, state_dir="~/.moltbot") == {
        "path": home + "/.moltbot", "exists": True, "legacy": None, "searched": [home + "/.moltbot"],
        "passed_over": []}


def test_state_dir_profile_and_option(tmp_path):
    home = _home(tmp_path)
    os.mkdir(os.path.join(home, ".openclaw-work"))
    assert C.resolve_state_dir(home, profile="work")["path"] == home + "/.openclaw-work"
    assert C.resolve_state_dir(home, state_dir="~/srv/oc")["path"] == home + "/srv/oc"
    with pytest.raises(MemoryToolError, match="state_dir 'srv/oc' is relative; give an absolute path"):
        C.resolve_state_dir(home, state_dir="srv/oc")


def test_config_path_names_and_option(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    assert C.resolve_config_path(str(state), "/h") == (str(state / "openclaw.json"), False)
    (state / "moltbot.json").write_text("{}")
    assert C.resolve_config_path(str(state), "/h") == (str(state / "moltbot.json"), True)
    (state / "clawdbot.json").write_text("{}")
    assert C.resolve_config_path(str(state), "/h") == (str(state / "clawdbot.json"), True)
    (state / "openclaw.json").write_text("{}")
    assert C.resolve_config_path(str(state), "/h") == (str(state / "openclaw.json"), True)
    with pytest.raises(MemoryToolError) as e:
        C.resolve_config_path(str(state), "/h", config_path=str(tmp_path / "nope.json"))
    assert e.value.msg == (
        f"Config file '{tmp_path / 'nope.json'}' (config_path) does not exist; fix config_path, or leave it unset "
        f"to use '{state / 'openclaw.json'}'")


def test_load_config_errors(tmp_path):
    bad = tmp_path / "openclaw.json"
    bad.write_text('{\n  plugins: {\n    slots: { memory: "memory-lancedb" }\n    entries: {},\n  },\n}\n')
    with pytest.raises(MemoryToolError) as e:
        C.load_config(str(bad))
    assert e.value.msg == (
        f"Config file '{bad}' is not valid JSON5 at line 4, column 5: expected ',' or '}}' after the value of 'slots', "
        "got 'e'; fix the file (`openclaw doctor` checks it) or point config_path at the right one")
    assert e.value.details == {"line": 4, "column": 5}
    bad.write_text("[1, 2]")
    with pytest.raises(MemoryToolError, match="must hold a JSON5 object at the top level, got an array"):
        C.load_config(str(bad))
    bad.write_bytes(b"{a: '\xff\xfe'}")
    with pytest.raises(MemoryToolError, match="is not UTF-8 text"):
        C.load_config(str(bad))
    with pytest.raises(MemoryToolError, match="is a directory; point config_path at the openclaw.json file"):
        C.load_config(str(tmp_path))


def test_expand_path(tmp_path):
    assert C.expand_path("~", "/home/node") == "/home/node"
    assert C.expand_path("~/.openclaw/memory/lancedb", "/home/node") == "/home/node/.openclaw/memory/lancedb"
    assert C.expand_path("~root/x", "/home/node") == os.path.expanduser("~root") + "/x"
    assert C.expand_path("data/db", "/home/node", base="/opt/plugin") == "/opt/plugin/data/db"
    assert C.expand_path("data/db", "/home/node") is None
    with pytest.raises(MemoryToolError, match="names the user 'no-such-user-x', who does not exist"):
        C.expand_path("~no-such-user-x/db", "/home/node")


def test_account_unknown_user_and_home_override():
    with pytest.raises(MemoryToolError) as e:
        C.account("no-such-user-x")
    assert e.value.msg == (
        "User 'no-such-user-x' does not exist on this host; set user to the account that runs the OpenClaw gateway")
    acct = C.account(None, home="/srv/h")
    assert acct.uid == os.geteuid() and acct.home == "/srv/h"
    with pytest.raises(MemoryToolError, match="home 'rel' is relative"):
        C.account(None, home="rel")


# --------------------------------------------------------------------------- plugin, embedding, scopes


def _plugins(slot=None, entries=None, **extra):
    plugins = dict(extra)
    if slot is not None:
        plugins["slots"] = {"memory": slot}
    if entries is not None:
        plugins["entries"] = entries
    return {"plugins": plugins}


def test_memory_plugin_from_slot():
    cfg = _plugins("memory-lancedb-pro", {"memory-lancedb-pro": {"enabled": True, "config": {"dbPath": "/db"}}})
    owner = C.memory_plugin(cfg, "/c.json")
    assert owner == {"plugin": "memory-lancedb-pro", "enabled": True, "config": {"dbPath": "/db"}, "warnings": []}


def test_memory_plugin_default_is_memory_core_with_warning_for_unselected_lancedb():
    owner = C.memory_plugin(_plugins(None, {"memory-lancedb": {"enabled": True}}), "/c.json")
    assert owner["plugin"] == "memory-core" and owner["enabled"] is True
    assert owner["warnings"] == [(
        "plugins.entries.memory-lancedb is enabled but plugins.slots.memory does not select it, so OpenClaw uses "
        "memory-core; set plugins.slots.memory if memory-lancedb should own memory")]


def test_memory_plugin_none_slot():
    owner = C.memory_plugin(_plugins("none"), "/c.json")
    assert owner["plugin"] is None and owner["enabled"] is False
    assert owner["warnings"] == ["plugins.slots.memory is 'none': no memory plugin is active"]


@pytest.mark.parametrize("cfg,why", [
    (_plugins("memory-lancedb", {"memory-lancedb": {"enabled": False}}),
     "plugins.entries.memory-lancedb.enabled is false"),
    (_plugins("memory-lancedb", enabled=False), "plugins.enabled is false"),
    (_plugins("memory-lancedb", deny=["memory-lancedb"]), "plugins.deny lists it"),
])
def test_memory_plugin_disabled(cfg, why):
    owner = C.memory_plugin(cfg, "/c.json")
    assert owner["enabled"] is False
    assert owner["warnings"] == [
        f"Memory plugin memory-lancedb is disabled ({why}): the gateway does not read or write its memories"]


def test_memory_plugin_unknown_slot_fails():
    with pytest.raises(MemoryToolError) as e:
        C.memory_plugin(_plugins("memory-hybrid"), "/c.json")
    assert e.value.msg == (
        "plugins.slots.memory in config file '/c.json' names 'memory-hybrid', a plugin openclaw.memory does not "
        "know; known plugins: memory-core, memory-lancedb, memory-lancedb-pro. Fix the slot in the config or point "
        "config_path at the right file")


def test_config_wrong_types_name_the_key_not_the_value():
    with pytest.raises(MemoryToolError) as e:
        C.memory_plugin({"plugins": {"slots": "memory-lancedb"}}, "/c.json")
    assert e.value.msg == "'plugins.slots' in config file '/c.json' must be an object, got a string; fix the config"
    with pytest.raises(MemoryToolError) as e:
        C.memory_plugin(_plugins("memory-lancedb", {"memory-lancedb": {"config": "sk-SECRET"}}), "/c.json")
    assert e.value.msg == (
        "'plugins.entries.memory-lancedb.config' in config file '/c.json' must be an object, got a string; "
        "fix the config")
    assert "sk-SECRET" not in e.value.msg


def _emb(plugin, emb, cfg=None):
    cfg = cfg or _plugins(plugin, {plugin: {"config": {"embedding": emb}}})
    return C.embedding(plugin, cfg["plugins"]["entries"][plugin]["config"], cfg, "/c.json")


def test_embedding_defaults_and_builtin_dimensions():
    emb, warnings = _emb("memory-lancedb", {"apiKey": "sk-SECRET"})
    assert emb == {"provider": "openai", "model": "text-embedding-3-small", "dimensions": 1536, "base_url": None,
                   "api_key_set": True}
    assert warnings == []
    emb, _warnings = _emb("memory-lancedb", {"model": "text-embedding-3-large"})
    assert emb["dimensions"] == 3072 and emb["api_key_set"] is False
    emb, _warnings = _emb("memory-lancedb", {"model": "nomic-embed-text"})
    assert emb["dimensions"] is None
    emb, _warnings = _emb("memory-lancedb", {"model": "nomic-embed-text", "dimensions": "768"})
    assert emb["dimensions"] == 768


def test_embedding_pro_base_url_is_stripped_of_credentials():
    emb, _warnings = _emb("memory-lancedb-pro", {"provider": "openai-compatible", "model": "jina-embeddings-v3",
                                                 "dimensions": 1024, "apiKey": "${JINA_API_KEY}",
                                                 "baseURL": "https://user:pa55@api.jina.ai:8443/v1?api_key=sk-x#frag"})
    assert emb == {"provider": "openai-compatible", "model": "jina-embeddings-v3", "dimensions": 1024,
                   "base_url": "https://api.jina.ai:8443/v1", "api_key_set": True}


def test_embedding_bad_and_placeholder_dimensions():
    with pytest.raises(MemoryToolError) as e:
        _emb("memory-lancedb", {"model": "m", "dimensions": "big"})
    assert e.value.msg == (
        "'plugins.entries.memory-lancedb.config.embedding.dimensions' in config file '/c.json' must be a positive "
        "whole number, got 'big'; fix the config")
    emb, warnings = _emb("memory-lancedb", {"model": "m", "dimensions": "${DIMS}"})
    assert emb["dimensions"] is None
    assert warnings == [("plugins.entries.memory-lancedb.config.embedding.dimensions is an ${ENV} placeholder, which "
                         "only the gateway's environment resolves; dimensions are reported as unknown")]


def test_embedding_memory_core_from_memory_search():
    cfg = {"agents": {"defaults": {"memorySearch": {"provider": "gemini", "model": "gemini-embedding-001",
                                                    "remote": {"baseUrl": "https://k:v@g.example/v1beta?key=1",
                                                               "apiKey": "AIza-SECRET"}}}}}
    emb, _warnings = C.embedding("memory-core", {}, cfg, "/c.json")
    assert emb == {"provider": "gemini", "model": "gemini-embedding-001", "dimensions": None,
                   "base_url": "https://g.example/v1beta", "api_key_set": True}


def test_redaction():
    assert C.redact_url("http://a:b@h:1/p?q=1#f") == "http://h:1/p"
    assert C.redact_url("no-scheme/path?token=1") == "no-scheme/path"
    assert C.redact({"default": "global", "apiKey": "x", "nested": [{"accessToken": "t", "url": "s3://k@b/p?x=1"}],
                     "storageOptions": {"aws_secret_access_key": "s"}, "Password": "p"}) == {
        "default": "global", "apiKey": "[redacted]", "nested": [{"accessToken": "[redacted]", "url": "s3://b/p"}],
        "storageOptions": "[redacted]", "Password": "[redacted]"}


def test_scopes_only_for_pro():
    scopes = {"default": "global", "definitions": {"global": {}}, "agentAccess": {"main": ["global"]}}
    assert C.scopes("memory-lancedb-pro", {"scopes": scopes}) == scopes
    assert C.scopes("memory-lancedb", {"scopes": scopes}) is None
    assert C.scopes("memory-lancedb-pro", {}) is None


# --------------------------------------------------------------------------- db path, plugin install, workspace


def test_db_path_resolution():
    home = "/home/node"
    assert C.resolve_db_path("memory-lancedb", {}, home, "/c") == {
        "path": "/home/node/.openclaw/memory/lancedb", "source": "default", "remote": False}
    assert C.resolve_db_path("memory-lancedb-pro", {}, home, "/c")["path"] == "/home/node/.openclaw/memory/lancedb-pro"
    assert C.resolve_db_path("memory-lancedb", {"dbPath": "~/mem"}, home, "/c") == {
        "path": "/home/node/mem", "source": "config", "remote": False}
    assert C.resolve_db_path("memory-lancedb", {"dbPath": "data/db"}, home, "/c", install_dir="/x/ext")["path"] == (
        "/x/ext/data/db")
    assert C.resolve_db_path("memory-lancedb", {"dbPath": "/a"}, home, "/c", db_path="~/b") == {
        "path": "/home/node/b", "source": "option", "remote": False}
    assert C.resolve_db_path("memory-lancedb", {"dbPath": "s3://KEY:SECRET@bucket/mem?region=x"}, home, "/c") == {
        "path": "s3://bucket/mem", "source": "config", "remote": True}
    assert C.resolve_db_path("memory-core", {}, home, "/c") == {"path": None, "source": None, "remote": False}


@pytest.mark.parametrize("value,message", [
    ("data/db", ("plugins.entries.memory-lancedb.config.dbPath in config file '/c' is the relative path 'data/db', "
                 "which OpenClaw resolves against the plugin's install dir, and that dir was not found; pass "
                 "plugin_dir or db_path")),
    ("${MEM_DB}/x", ("plugins.entries.memory-lancedb.config.dbPath in config file '/c' is '${MEM_DB}/x': ${ENV} "
                     "placeholders are resolved from the gateway's environment, which Ansible cannot see; pass "
                     "db_path with the resolved path")),
    (42, ("plugins.entries.memory-lancedb.config.dbPath in config file '/c' must be a non-empty string, got a "
          "number; fix the config")),
])
def test_db_path_bad_config_values(value, message):
    with pytest.raises(MemoryToolError) as e:
        C.resolve_db_path("memory-lancedb", {"dbPath": value}, "/home/node", "/c")
    assert e.value.msg == message


def test_db_path_option_must_be_absolute():
    with pytest.raises(MemoryToolError) as e:
        C.resolve_db_path("memory-lancedb", {}, "/home/node", "/c", db_path="memory/lancedb")
    assert e.value.msg == (
        "db_path 'memory/lancedb' is relative; give an absolute path or one starting with '~' (the user's home)")


def _package(path, name, version, client=None):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "package.json"), "w") as f:
        json.dump({"name": name, "version": version}, f)
    if client:
        _package(os.path.join(path, "node_modules", "@lancedb", "lancedb"), "@lancedb/lancedb", client)


def test_plugin_install_in_extensions_dir(tmp_path):
    state = str(tmp_path / "state")
    _package(state + "/extensions/memory-lancedb", "@openclaw/memory-lancedb", "2026.9.6", client="0.27.2")
    assert C.plugin_install("memory-lancedb", {}, "/c", state, "/h") == {
        "path": state + "/extensions/memory-lancedb", "version": "2026.9.6", "lancedb_version": "0.27.2"}
    assert C.plugin_install("memory-lancedb-pro", {}, "/c", state, "/h") == {
        "path": None, "version": None, "lancedb_version": None}
    assert C.plugin_install("memory-core", {}, "/c", state, "/h")["path"] is None


def test_plugin_install_from_installs_record_and_load_paths(tmp_path):
    state = str(tmp_path / "state")
    home = str(tmp_path)
    _package(home + "/npm/lib/node_modules/memory-lancedb-pro", "memory-lancedb-pro", "1.1.0")
    _package(home + "/npm/lib/node_modules/@lancedb/lancedb", "@lancedb/lancedb", "0.30.0")  # hoisted
    cfg = {"plugins": {"installs": {"memory-lancedb-pro": {"installPath": "~/npm/lib/node_modules/memory-lancedb-pro",
                                                           "version": "1.0.9"}}}}
    assert C.plugin_install("memory-lancedb-pro", cfg, "/c", state, home) == {
        "path": home + "/npm/lib/node_modules/memory-lancedb-pro", "version": "1.1.0", "lancedb_version": "0.30.0"}
    _package(home + "/dev/plugins/other", "other-plugin", "9.9.9")
    _package(home + "/dev/plugins/mine", "memory-lancedb-pro", "1.2.0-dev")
    cfg = {"plugins": {"load": {"paths": ["~/dev/plugins/other", "~/dev/plugins/mine"]}}}
    assert C.plugin_install("memory-lancedb-pro", cfg, "/c", state, home)["version"] == "1.2.0-dev"
    cfg = {"plugins": {"installs": {"memory-lancedb-pro": {"version": "1.0.9"}}}}
    assert C.plugin_install("memory-lancedb-pro", cfg, "/c", state, home)["version"] == "1.0.9"


def test_plugin_dir_option(tmp_path):
    _package(str(tmp_path / "p"), "whatever-name", "3.0.0")
    found = C.plugin_install("memory-lancedb", {}, "/c", "/s", "/h", plugin_dir=str(tmp_path / "p"))
    assert found["version"] == "3.0.0"
    with pytest.raises(MemoryToolError) as e:
        C.plugin_install("memory-lancedb", {}, "/c", "/s", "/h", plugin_dir=str(tmp_path / "none"))
    assert e.value.msg == (
        "plugin_dir '%s' holds no readable package.json; point it at the installed memory-lancedb package directory"
        % (tmp_path / "none"))


def test_workspace_resolution():
    assert C.resolve_workspace({}, "/c", "/h/.openclaw", "/h") == "/h/.openclaw/workspace"
    assert C.resolve_workspace({}, "/c", "/h/.openclaw-w", "/h", profile="w") == "/h/.openclaw-w/workspace-w"
    assert C.resolve_workspace({"agents": {"defaults": {"workspace": "~/ws"}}}, "/c", "/s", "/h") == "/h/ws"
    assert C.resolve_workspace({"agent": {"workspace": "/abs/ws"}}, "/c", "/s", "/h") == "/abs/ws"
    assert C.resolve_workspace({"agent": {"workspace": "/abs/ws"}}, "/c", "/s", "/h", workspace="~/o") == "/h/o"
    with pytest.raises(MemoryToolError, match="agents.defaults.workspace in config file '/c' is '\\$\\{WS\\}'"):
        C.resolve_workspace({"agents": {"defaults": {"workspace": "${WS}"}}}, "/c", "/s", "/h")


# --------------------------------------------------------------------------- gateway


def _acct(home):
    a = C.account()
    return C.Account(a.name, a.uid, a.gid, home)


def test_gateway_systemd_user_unit(tmp_path):
    units = tmp_path / ".config/systemd/user"
    units.mkdir(parents=True)
    (units / "openclaw-gateway.service").write_text("[Service]\nExecStart=openclaw gateway\n")
    g = C.detect_gateway(_acct(str(tmp_path)), system_unit_dirs=(), proc_root=str(tmp_path / "noproc"))
    assert g["manager"] == "systemd_user" and g["unit"] == "openclaw-gateway.service"
    (units / "openclaw-gateway-work.service").write_text("")
    g = C.detect_gateway(_acct(str(tmp_path)), profile="work", system_unit_dirs=())
    assert g["unit"] == "openclaw-gateway-work.service"


def test_gateway_system_unit_launchd_and_unknown(tmp_path):
    sysdir = tmp_path / "etc-systemd"
    sysdir.mkdir()
    (sysdir / "openclaw.service").write_text("")
    g = C.detect_gateway(_acct(str(tmp_path)), system_unit_dirs=(str(sysdir),))
    assert (g["manager"], g["unit"]) == ("systemd", "openclaw.service")
    agents = tmp_path / "Library/LaunchAgents"
    agents.mkdir(parents=True)
    (agents / "ai.openclaw.gateway.plist").write_text("")
    g = C.detect_gateway(_acct(str(tmp_path)), system_unit_dirs=())
    assert (g["manager"], g["unit"]) == ("launchd", "ai.openclaw.gateway")
    g = C.detect_gateway(_acct(str(tmp_path / "empty")), system_unit_dirs=(), proc_root=str(tmp_path / "noproc"))
    assert g == {"manager": "unknown", "unit": None, "active": None, "pids": []}


@pytest.mark.parametrize("argv,expected", [
    (["openclaw-gateway"], True),
    (["/usr/bin/node", "/usr/lib/node_modules/openclaw/openclaw.mjs", "gateway", "--port", "18789"], True),
    (["openclaw", "gateway"], True),
    (["openclaw", "gateway", "status"], False),
    (["openclaw", "ltm", "stats"], False),
    (["/usr/bin/python3", "gateway.py"], False),
    ([], False),
])
def test_gateway_argv(argv, expected):
    assert C._is_gateway_argv(argv) is expected


def test_gateway_process_is_seen(tmp_path):
    proc = subprocess.Popen(["bash", "-c", "exec -a openclaw-gateway sleep 30"])
    try:
        for _attempt in range(50):
            pids = C.gateway_pids(os.geteuid())
            if proc.pid in pids:
                break
            time.sleep(0.05)
        assert proc.pid in pids
        g = C.detect_gateway(_acct(str(tmp_path)), system_unit_dirs=())
        assert g["active"] is True and proc.pid in g["pids"]
    finally:
        proc.kill()
        proc.wait()
    assert proc.pid not in C.gateway_pids(os.geteuid())


# --------------------------------------------------------------------------- discover


def test_discover_without_config_fails_naming_what_was_tried(tmp_path):
    home = _home(tmp_path)
    acct = _acct(home)
    with pytest.raises(MemoryToolError) as e:
        C.discover(acct)
    assert e.value.msg == (
        f"No OpenClaw config found for user '{acct.name}' (tried openclaw.json, clawdbot.json, moldbot.json, "
        f"moltbot.json in {home}/.openclaw, {home}/.clawdbot, {home}/.moldbot, {home}/.moltbot); set user to "
        "the gateway's account, state_dir or config_path to where the config is (the gateway's OPENCLAW_STATE_DIR / "
        "OPENCLAW_CONFIG_PATH), or db_path to read a database without a config")
    os.makedirs(home + "/.openclaw/memory/lancedb")  # what memory-lancedb makes: no config in it either
    with pytest.raises(MemoryToolError) as again:
        C.discover(acct)
    assert again.value.msg == e.value.msg
    with pytest.raises(MemoryToolError) as opt:
        C.discover(acct, state_dir="~/srv")
    assert opt.value.msg.startswith(
        f"No OpenClaw config found for user '{acct.name}' (tried openclaw.json, clawdbot.json, moldbot.json, "
        f"moltbot.json in {home}/srv); set user")


def test_discover_legacy_state_and_config(tmp_path):
    home = _home(tmp_path)
    os.mkdir(home + "/.clawdbot")
    with open(home + "/.clawdbot/clawdbot.json", "w") as f:
        f.write("{plugins: {slots: {memory: 'memory-lancedb'},},}")
    found = C.discover(_acct(home))
    assert found["state_dir"] == home + "/.clawdbot"
    assert found["config_path"] == home + "/.clawdbot/clawdbot.json"
    assert found["plugin"] == "memory-lancedb"
    assert found["db_path"] == home + "/.openclaw/memory/lancedb"  # from the home dir, not the state dir
    assert found["workspace_path"] == home + "/.clawdbot/workspace"
    assert found["warnings"] == [
        (f"OpenClaw state was found only under the legacy name '{home}/.clawdbot' (no ~/.openclaw): OpenClaw still "
         "reads it, but new installs and this collection's defaults expect ~/.openclaw")]


def test_discover_legacy_config_beside_the_plugins_openclaw_dir(tmp_path):
    home = _home(tmp_path)
    os.mkdir(home + "/.clawdbot")
    with open(home + "/.clawdbot/clawdbot.json", "w") as f:
        f.write("{plugins: {slots: {memory: 'memory-lancedb'},},}")
    os.makedirs(home + "/.openclaw/memory/lancedb")
    found = C.discover(_acct(home))
    assert (found["state_dir"], found["state_dir_exists"]) == (home + "/.clawdbot", True)
    assert (found["config_path"], found["config_found"]) == (home + "/.clawdbot/clawdbot.json", True)
    assert found["db_path"] == home + "/.openclaw/memory/lancedb"
    assert found["workspace_path"] == home + "/.clawdbot/workspace"
    assert found["warnings"] == [
        (f"OpenClaw config was found only under the legacy name '{home}/.clawdbot' (no config in {home}/.openclaw; "
         "memory-lancedb creates ~/.openclaw/memory for its database even on a legacy install): OpenClaw still reads "
         "it, but new installs and this collection's defaults expect ~/.openclaw")]


@pytest.mark.parametrize("profile", ["../../etc", "a/b", "..", ".hidden", "work\\x", "-x", "w" * 65, "work\n"])
def test_discover_rejects_a_profile_that_is_not_a_name(tmp_path, profile):
    home = _home(tmp_path)
    with pytest.raises(MemoryToolError) as e:
        C.discover(_acct(home), profile=profile)
    assert e.value.msg == (
        f"profile {profile!r} is not a profile name: OpenClaw profile names are letters, digits, '-' and '_' (at most "
        "64, no path separators or '..'), as in `openclaw --profile work`; set profile to the name the gateway runs "
        "with, or state_dir to a directory")
    assert os.listdir(home) == []


def test_discover_takes_profile_names(tmp_path):
    home = _home(tmp_path)
    for profile in ("work", "Work_2", "a-b", "w" * 64):
        os.mkdir(f"{home}/.openclaw-{profile}")
        with open(f"{home}/.openclaw-{profile}/openclaw.json", "w") as f:
            f.write("{plugins: {slots: {memory: 'memory-lancedb'}}}")
        found = C.discover(_acct(home), profile=profile)
        assert (found["state_dir"], found["warnings"]) == (f"{home}/.openclaw-{profile}", [])
