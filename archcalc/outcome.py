"""The outcome of one check: an expectation, a budget, a verification against torch, a
comparison with model code. `check`, `import` and `verify` report them; they live here, below
all of them, so that none imports another to say what it found."""
from __future__ import annotations

from dataclasses import dataclass

from archcalc.spec.errors import Location


@dataclass
class Outcome:
    """One expectation (or budget, verification, comparison) and whether it holds."""

    name: str  # e.g. "params", "layers.conv1.output", "at[1].macs"
    ok: bool
    expected: str
    found: str
    loc: Location | None = None
    derivation: str | None = None
    variant: str | None = None
    kind: str = "expect"  # expect | budget | verify | against

    def message(self) -> str:
        where = f" ({self.variant})" if self.variant else ""
        if self.ok:
            return f"{self.name}{where}: {self.found} as expected"
        return f"{self.name}{where}: expected {self.expected}, found {self.found}"
