"""The memory section of a summary (`summarize --memory`): each figure, with the rule that
gives it (the rules are engine/memory.py's)."""
from __future__ import annotations

from archcalc.engine import numbers as N
from archcalc.engine.memory import Memory

RULES = (
    "weights: parameters and buffers in the dtype (BatchNorm's batch counter stays int64)",
    "activations: every layer's output",
    "peak inference: weights + the tensors alive at the worst moment of a forward pass without gradients "
    "(a layer's input and output; element-wise layers in place; an attention's score matrix h·T·S, as torch's "
    "math kernel makes it; a merge's input and finished branches)",
    "training: weights + gradients + optimizer state (momentum 1 copy, Adam 2) + the activations autograd "
    "saves for backward, each tensor once",
)
ATTENTION_RULE = ("attention matrices: every attention's h·T·S scores (softmax in place), as torch's math kernel "
                  "makes them; a flash kernel keeps none")
KV_RULE = "KV cache: every attention's keys and values, per token, kept by autoregressive inference (--context N tokens)"


def rules(m: Memory) -> list[str]:
    """The rules behind the figures shown (the KV cache's where there is attention)."""
    scores = N.is_symbolic(m.attention_matrices) or m.attention_matrices
    return list(RULES) + ([ATTENTION_RULE] if scores else []) + ([KV_RULE] if _has_kv(m) else [])


def _has_kv(m: Memory) -> bool:
    return bool(N.is_symbolic(m.kv_cache_per_token) or m.kv_cache_per_token)


def memory_lines(m: Memory, batch: int) -> list[str]:
    """The memory section of a report, each figure with its rule."""
    def size(x) -> str:
        return f"{N.fmt(x)} bytes" + (f" ({float(x) / 2**20:,.1f} MiB)" if not N.is_symbolic(x) else "")

    out = [f"memory ({m.dtype}, batch {batch}): weights {size(m.weights)}; activations {size(m.activations)}; "
           f"peak inference {size(m.peak_inference)}"]
    if N.is_symbolic(m.attention_matrices) or m.attention_matrices:
        out.append(f"attention matrices: {size(m.attention_matrices)} in one forward pass (not in activations, "
                   "which are layers' outputs; in peak inference the largest, in training each)")
    if m.saved_for_backward is None:
        out.append("training memory: not modelled for " + ", ".join(m.unmodelled))
    else:
        out.append(f"training: saved for backward {size(m.saved_for_backward)}; total with SGD "
                   f"{size(m.training['sgd'])}, SGD-momentum {size(m.training['sgd-momentum'])}, "
                   f"Adam {size(m.training['adam'])}")
    if _has_kv(m):
        at = f"; at a context of {m.context:,} tokens {size(m.kv_cache(batch))}" if m.context else \
            " (--context N gives it at N tokens)"
        out.append(f"KV cache: {size(m.kv_cache_per_token)} per token per sample{at}")
    return out



def memory_json(m: Memory) -> dict:
    return {"dtype": m.dtype, "weights": N.to_json(m.weights), "activations": N.to_json(m.activations),
            "peak_inference": N.to_json(m.peak_inference),
            "saved_for_backward": None if m.saved_for_backward is None else N.to_json(m.saved_for_backward),
            "training": {k: N.to_json(v) for k, v in m.training.items()},
            "attention_matrices": N.to_json(m.attention_matrices),
            "kv_cache_per_token": N.to_json(m.kv_cache_per_token), "context": m.context,
            "kv_cache": None if m.context is None else N.to_json(m.kv_cache(1)),
            "not_modelled": m.unmodelled, "rules": rules(m)}
