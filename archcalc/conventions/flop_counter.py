"""torch's own counter, torch.utils.flop_counter.FlopCounterMode (torch 2.13): FLOPs.

It counts 2 FLOPs per multiply-add of the aten ops it has formulas for (convolution,
mm/addmm/bmm/baddbmm, attention): bias adds, activations, pooling, normalisation and
softmax are 0. This is the rule archcalc's FLOPs column follows, and `archcalc verify`
measures every layer against it. Recurrent layers: on CPU with mkldnn enabled (torch's
default), nn.RNN/LSTM/GRU run as one mkldnn op FlopCounterMode has no formula for and read 0;
archcalc's figure is what it counts with mkldnn (and cuDNN) turned off. Whole batch.
"""
from archcalc.conventions.base import Convention, rule

CONVENTION = Convention(
    name="torch",
    tool="torch 2.13 FlopCounterMode",
    reports="FLOPs (2 per multiply-add)",
    unit="FLOPs",
    per_batch=True,
    source="torch/utils/flop_counter.py",
    notes=("recurrent layers: with mkldnn on (torch's CPU default) nn.RNN/LSTM/GRU read 0; figures here are "
           "with mkldnn off, as archcalc verify runs them",),
    rules={},
    every_kind=True,
    default=rule("2 per multiply-add of conv/matmul ops; bias adds and everything else 0", "macs"),
)
