"""The counting conventions (CONTRACT.md), stated once: report footers and --help use this."""

CONVENTIONS = (
    ("params", "trainable weights and biases, as torch's module.parameters() counts them"),
    ("buffers", "non-trainable state (BatchNorm running mean and var + num_batches_tracked)"),
    ("neurons", "output elements of layers with weights (conv, linear, locally connected, maxout)"),
    ("MACs", "multiply-accumulates of layers with weights; bias adds excluded"),
    ("FLOPs", "2 × MACs, as torch.utils.flop_counter counts: 0 for activations, pooling, "
              "normalisation, dropout, bias adds"),
    ("batch", "counts are per sample; --batch N multiplies MACs, FLOPs and activations, never params"),
)


def conventions_text(sep: str = "\n") -> str:
    return sep.join(f"{name}: {text}" for name, text in CONVENTIONS)
