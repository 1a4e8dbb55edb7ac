"""Watching a forward pass: what each of some modules is given and returns, recorded with
forward hooks that are removed however the pass ends."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable


@contextmanager
def recording(modules: dict, record: Callable) -> None:
    """Within the block, every call of modules[name] calls record(name, module, inputs, output)."""
    handles = [module.register_forward_hook(lambda mod, inputs, output, _name=name: record(_name, mod, inputs, output))
               for name, module in modules.items()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def first_tensor(output):
    """A module's output tensor (a recurrent module's first, of its (output, state) tuple)."""
    return output[0] if isinstance(output, tuple) else output
