"""Every changelog fragment is what antsibull-changelog reads: YAML mapping a section of changelogs/config.yaml
(or its trivial section) to a list of non-empty strings. A colon followed by a space inside a plain scalar
silently turns an entry into a mapping; this catches it."""

from __future__ import annotations

import glob
import os

import yaml
from repo_env import REPO


def test_every_fragment_maps_known_sections_to_strings():
    with open(os.path.join(REPO, "changelogs", "config.yaml"), encoding="utf-8") as f:
        config = yaml.safe_load(f)
    sections = {s[0] for s in config["sections"]} | {config["trivial_section_name"]}
    fragments = sorted(glob.glob(os.path.join(REPO, "changelogs", "fragments", "*.yml")))
    assert fragments
    bad = []
    for path in fragments:
        name = os.path.basename(path)
        try:
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f)
        except yaml.YAMLError as e:
            bad.append("%s: not YAML (%s)" % (name, str(e).splitlines()[0]))
            continue
        if not isinstance(data, dict) or not data:
            bad.append("%s: not a mapping of sections" % name)
            continue
        for section, entries in data.items():
            if section not in sections:
                bad.append("%s: unknown section %r" % (name, section))
            elif not isinstance(entries, list) or not entries:
                bad.append("%s: %s is not a list of entries" % (name, section))
            else:
                bad += ["%s: %s entry %d is %s, not text" % (name, section, i, type(e).__name__)
                        for i, e in enumerate(entries, 1) if not isinstance(e, str) or not e.strip()]
    assert not bad, "\n".join(bad)
