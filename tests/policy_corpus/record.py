"""Record the expected output of every benign cell under plain CPython.

Run: .venv/bin/python tests/policy_corpus/record.py
Each cell runs twice in fresh namespaces; a cell whose output differs between the runs
is not deterministic and must be rewritten (not the expected output edited by hand).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import EXPECTED_FILE, load_cells, plain_compile, plain_exec, plain_namespace, run_cell


def main() -> int:
    expected: dict[str, str] = {}
    bad = []
    for name, source in load_cells():
        first = run_cell(source, name, plain_namespace(), plain_compile, plain_exec)
        second = run_cell(source, name, plain_namespace(), plain_compile, plain_exec)
        if first != second:
            bad.append(name)
        if "!! " in first:
            print(f"note: {name} reports an exception or warning:\n{first}", file=sys.stderr)
        expected[name] = first
    if bad:
        print(f"not deterministic: {bad}", file=sys.stderr)
        return 1
    EXPECTED_FILE.write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"recorded {len(expected)} cells into {EXPECTED_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
