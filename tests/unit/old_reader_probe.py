# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run by test_portable.py with the old-reader venv's Python (make old-reader: pylance 0.38), not by pytest.

Usage: old_reader_probe.py <table dir> <id>. Prints JSON: the pylance version, the rows, every id (sorted),
the vector of row <id> and the table's data_storage_version, all as that older Lance reads them. Exits
non-zero when it cannot read the table (a newer storage format).
"""

import json
import sys

import lance


def main():
    ds = lance.dataset(sys.argv[1])
    table = ds.to_table(columns=["id", "vector"])
    ids = table.column("id").to_pylist()
    print(json.dumps({
        "lance": lance.__version__,
        "rows": ds.count_rows(),
        "ids": sorted(ids),
        "vector": table.column("vector")[ids.index(sys.argv[2])].as_py(),
        "data_storage_version": str(ds.data_storage_version),
    }))


if __name__ == "__main__":
    main()
