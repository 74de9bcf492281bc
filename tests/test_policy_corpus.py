"""The benign corpus runs under the policy with the same output as plain CPython.

The expected outputs in tests/policy_corpus/expected.json were recorded by
tests/policy_corpus/record.py with plain compile and exec; cells are never edited to
make the policy pass.
"""

from __future__ import annotations

import pytest
from policy_corpus.corpus import data, load_cells, load_expected, run_cell

from sandbox._policy import CellPolicy

CELLS = load_cells()
EXPECTED = load_expected()


def run_under_policy(policy: CellPolicy, name: str, source: str) -> str:
    namespace = policy.new_namespace()
    namespace.update(data())
    return run_cell(source, name, namespace, policy.compile, policy.exec)


def test_corpus_is_large_and_recorded() -> None:
    assert len(CELLS) >= 80
    assert set(EXPECTED) == {name for name, _ in CELLS}
    assert not [name for name, out in EXPECTED.items() if "!! " in out]


@pytest.mark.parametrize(("name", "source"), CELLS, ids=[name for name, _ in CELLS])
def test_cell_output_matches_cpython(name: str, source: str) -> None:
    assert run_under_policy(CellPolicy(), name, source) == EXPECTED[name]


def test_benign_pass_rate_is_total() -> None:
    policy = CellPolicy()
    rejected, changed = [], []
    for name, source in CELLS:
        out = run_under_policy(policy, name, source)
        if out != EXPECTED[name]:
            (rejected if "!! Policy" in out else changed).append(name)
    assert (rejected, changed) == ([], [])


def test_cells_share_one_namespace_across_calls() -> None:
    """Definitions, data and imports persist from cell to cell, as in the kernel."""
    policy = CellPolicy()
    namespace = policy.new_namespace()
    namespace.update(data())
    cells = [
        "import re\nclass Hit:\n    def __init__(self, i):\n        self.i = i\n"
        "    def __repr__(self):\n        return f'Hit({self.i})'\n",
        "hits = [Hit(i) for i, s in enumerate(traces[1]['history']) if re.search('Bond', s['content'])]",
        "_seen = {}\nfor h in hits:\n    _seen[h.i] = _seen.get(h.i, 0) + 1\nprint(hits, sorted(_seen))",
    ]
    outputs = [
        run_cell(c, f"s{i}", namespace, policy.compile, policy.exec) for i, c in enumerate(cells)
    ]
    assert outputs[:2] == ["", ""]
    assert outputs[2].startswith("[Hit(0), Hit(1)")
