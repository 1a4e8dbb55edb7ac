"""Where a command's report goes: standard output, or a file written atomically at the end
(`--output`); rich output is 132 columns wide where it is not a terminal."""
from __future__ import annotations

import io
import sys

import click


class Out:
    def __init__(self, output: str | None = None):
        self.output = output
        self.buffer = io.StringIO() if output else None

    def echo(self, text: str, nl: bool = True) -> None:
        if self.buffer is not None:
            self.buffer.write(text + ("\n" if nl else ""))
        else:
            click.echo(text, nl=nl)

    def console(self):
        from rich.console import Console

        if self.buffer is not None:
            return Console(file=self.buffer, width=132, color_system=None, force_terminal=False)
        return Console(width=None if sys.stdout.isatty() else 132)

    def close(self) -> None:
        if self.buffer is not None:
            from archcalc.textio import write_atomic

            write_atomic(self.output, self.buffer.getvalue())
