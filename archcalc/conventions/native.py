"""archcalc's own convention (docs/conventions.md): exact multiply-accumulates of the layers with
weights, bias adds excluded; FLOPs = 2 × MACs."""
from archcalc.conventions.base import Convention, rule

CONVENTION = Convention(
    name="archcalc",
    tool="archcalc",
    reports="MACs (multiply-accumulates; FLOPs = 2 × MACs)",
    unit="MACs",
    per_batch=True,
    source="docs/conventions.md",
    rules={},
    every_kind=True,
    default=rule("multiply-accumulates of the weights; bias adds, activations, pooling, norms 0", "macs"),
)
