"""ocmlab: test, demo and benchmark tooling for openclaw.memory (not shipped in the collection).

- `ocmlab.fixtures`: builds realistic OpenClaw state dirs (config, .env, plugin
  package, LanceDB `memories` table made the plugin's way, Markdown workspace).
- `ocmlab.gateway_sim`: a stand-in for the OpenClaw gateway that keeps writing
  memories one row per commit (start / stop / status), for hosts without systemd.

On lab hosts this package lives at /opt/ocmlab/ocmlab/ next to
/opt/ocmlab/ansible_collections/openclaw/memory/plugins/module_utils/plugins.py;
it imports only the stdlib, numpy, pyarrow, lancedb/lance and that module.
"""
