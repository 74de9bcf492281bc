"""On the host: the latest restorable state a kernel reported, and its replay into a new kernel.

The kernel (`_kernel_state.StateRecorder`) sends a delta after every cell; `SessionState`
validates it (it comes from untrusted code), keeps the JSON texts as opaque strings (the host
never parses them) and the definitions' source, and after a kernel death builds the payload
of the ``restore`` operation. The names in the result are the host's own bookkeeping: a
kernel cannot claim to have restored a name the host did not send.
"""

from __future__ import annotations

import json

MAX_NAMES = 10_000
"""More names than this in one report are cut (a session has tens)."""

MAX_LISTED = 20
"""Names listed in an error message before "and N more"."""


def _names(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return [n for n in value[:MAX_NAMES] if isinstance(n, str) and n.isidentifier()]


class SessionState:
    """What a new kernel must get back: JSON globals, definitions, and what cannot come back."""

    def __init__(self, max_bytes: int | None) -> None:
        self.max_bytes = max_bytes
        self.globals: dict[str, str] = {}
        """name -> JSON text, as the kernel serialised it after the last finished cell."""
        self.definitions: list[tuple[str, str]] = []
        """(name, source) of the top-level def/class/import statements, in replay order."""
        self.unrestorable: set[str] = set()
        """Other globals: not JSON data, or over the size cap."""

    def clear(self) -> None:
        """Forget everything (a deliberate restart to an empty namespace)."""
        self.globals, self.definitions, self.unrestorable = {}, [], set()

    def apply(self, delta: object) -> None:
        """Merge one cell's delta; malformed parts are ignored, oversized state is cut."""
        if not isinstance(delta, dict):
            return
        for name in _names(delta.get("drop")):
            self.globals.pop(name, None)
        changed = delta.get("set")
        if isinstance(changed, dict):
            for name, text in list(changed.items())[:MAX_NAMES]:
                if isinstance(name, str) and name.isidentifier() and isinstance(text, str):
                    self.globals[name] = text
        defs = delta.get("defs")
        if isinstance(defs, list):
            self.definitions = [
                (pair[0], pair[1])
                for pair in defs[:MAX_NAMES]
                if isinstance(pair, list)
                and len(pair) == 2
                and isinstance(pair[0], str)
                and pair[0].isidentifier()
                and isinstance(pair[1], str)
            ]
        if "unrestorable" in delta:
            self.unrestorable = set(_names(delta["unrestorable"]))
        defined = {name for name, _source in self.definitions}
        for name in defined.intersection(self.globals):
            del self.globals[name]
        self._enforce_cap()

    def _enforce_cap(self) -> None:
        """The kernel keeps to the cap; a kernel that does not loses its largest values."""
        if self.max_bytes is None:
            return
        total = sum(len(s) for _n, s in self.definitions) + sum(map(len, self.globals.values()))
        for name in sorted(self.globals, key=lambda n: -len(self.globals[n])):
            if total <= self.max_bytes:
                break
            total -= len(self.globals.pop(name))
            self.unrestorable.add(name)

    def names(self) -> list[str]:
        """Every name the last finished cell left in the namespace (injected ones aside)."""
        defined = [name for name, _source in self.definitions]
        return sorted({*self.globals, *defined, *self.unrestorable})

    def payload(self) -> bytes:
        """The file the kernel's ``restore`` operation reads."""
        body = {"globals": self.globals, "defs": [list(pair) for pair in self.definitions]}
        return json.dumps(body, separators=(",", ":")).encode()

    def settle(self, reply: object) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Take the kernel's restore reply; return (restored, lost) and keep only what is back."""
        claimed = set(_names(reply.get("restored")) if isinstance(reply, dict) else [])
        sent = {*self.globals, *(name for name, _source in self.definitions)}
        restored = sent & claimed
        lost = (sent - restored) | self.unrestorable
        self.globals = {n: t for n, t in self.globals.items() if n in restored}
        self.definitions = [(n, s) for n, s in self.definitions if n in restored]
        self.unrestorable = set()
        return tuple(sorted(restored)), tuple(sorted(lost))

    def lose_all(self) -> tuple[str, ...]:
        """The restore itself failed: everything is lost; return the names."""
        lost = tuple(self.names())
        self.clear()
        return lost


def describe(restored: tuple[str, ...], lost: tuple[str, ...]) -> str:
    """One sentence for an error message: what came back into the new kernel, what did not."""

    def listing(names: tuple[str, ...]) -> str:
        shown = ", ".join(names[:MAX_LISTED])
        more = len(names) - MAX_LISTED
        return shown + (f" and {more} more" if more > 0 else "")

    text = (
        "the namespace was rebuilt as it was after the last cell that finished: injected data "
        "and host functions are back"
    )
    if restored:
        text += f"; restored: {listing(restored)}"
    if lost:
        text += (
            f"; lost (not JSON data, over the size cap, or their definition failed): "
            f"{listing(lost)}"
        )
    return text
