"""Where a command's report goes: standard output, or a file written atomically at the end
(`--output`); rich output is 132 columns wide where it is not a terminal.

Whatever a report writes passes archcalc/printable.py once more on its way out: a name or doc
that a renderer forgot to escape still cannot send a terminal escape, a right-to-left
override or a zero-width character raw (rich's own colour codes, on a terminal, are kept)."""
from __future__ import annotations

import io
import sys

import click

from archcalc.printable import printable, printable_keeping_styles


class _Printable(io.TextIOBase):
    """A text stream that escapes what printable() escapes before it reaches the real one.

    `strip`: spaces at a line's end are dropped (rich pads every table cell to its column's
    width; on a terminal that is invisible, in a file or a pipe it is noise for diff and
    grep). A run of spaces is held back until what follows it is known: a newline (or the
    end of the output) drops it, anything else writes it."""

    def __init__(self, stream, escape=printable, strip: bool = False):
        self.stream, self.escape, self.strip = stream, escape, strip
        self.spaces = ""  # held back: maybe a line's trailing spaces

    def write(self, text: str) -> int:
        out = self.escape(text)
        if self.strip:
            lines = (self.spaces + out).split("\n")
            last = lines.pop()
            body = last.rstrip(" ")
            self.spaces = last[len(body):]
            out = "".join(line.rstrip(" ") + "\n" for line in lines) + body
        self.stream.write(out)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self):
        return getattr(self.stream, "encoding", "utf-8")


class Out:
    def __init__(self, output: str | None = None):
        self.output = output
        self.buffer = io.StringIO() if output else None

    def echo(self, text: str, nl: bool = True) -> None:
        text = printable(text)
        if self.buffer is not None:
            self.buffer.write(text + ("\n" if nl else ""))
        else:
            click.echo(text, nl=nl)

    def console(self):
        from rich.console import Console

        if self.buffer is not None:
            return Console(file=_Printable(self.buffer, strip=True), width=132, color_system=None,
                           force_terminal=False)
        tty = sys.stdout.isatty()
        return Console(file=_Printable(sys.stdout, printable_keeping_styles if tty else printable, strip=not tty),
                       width=None if tty else 132)

    def close(self) -> None:
        if self.buffer is not None:
            from archcalc.textio import write_atomic

            write_atomic(self.output, self.buffer.getvalue())


def wrote(path, count: int, what: str) -> str:
    """What a command that writes a picture or a file says it did: 'wrote alexnet.svg (24 layers)'
    (plot, diagram): the file, and how much of the network is in it."""
    return f"wrote {path} ({count:,} {what if count != 1 else what.removesuffix('s')})"
