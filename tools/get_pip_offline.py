# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-in for the pip bootstrap script (get-pip.py) that ansible-test downloads from ci-files.testing.ansible.com.

That host is not reachable here (only the package registries are), so tools/sanity.sh puts this file where
ansible-test caches the script. It does what get-pip.py does: it installs pip into the empty venv ansible-test made
(from the interpreter's own ensurepip), then installs the packages ansible-test asked for (the pinned pip) from the
package index. get-pip.py's own options (--no-setuptools, --no-wheel) are dropped: pip install adds neither.
"""

from __future__ import annotations

import ensurepip
import os
import subprocess
import sys

# ensurepip drops every PIP_* variable and the pip config files from this process's environment (it installs only
# its bundled wheels); the install from the index needs them (index, certificates), so it gets the environment as it
# was.
env = dict(os.environ)
ensurepip.bootstrap(upgrade=True)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.run([sys.executable, "-m", "pip", "install", *args], env=env, check=False).returncode)
