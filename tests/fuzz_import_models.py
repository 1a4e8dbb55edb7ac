"""Random PyTorch models as Python source, for fuzzing `archcalc import` (tests/test_fuzz_import.py).

A hypothesis strategy draws a small network step by step — chains, residual adds, products,
concatenations, two-branch merges, nested; convolutions 1d/2d/3d with random kernel, stride,
padding, dilation, groups and bias; linear, norms, activations, pooling, dropout, reshaping,
embedding, recurrent layers, attention, and the functional ops between them — and writes it as
the source text of an nn.Module class. Each step is run on a real tensor as it is drawn (so
the shapes are torch's own, and a setting torch refuses is drawn again), and the source is
written to a file and imported from there, so that fx records the file's lines and a refusal
can be checked against them.

With some probability an ingredient no spec can say is mixed in (a custom autograd Function,
torch.sort/topk, data-dependent control flow, an in-place index assignment, a module whose
forward calls .item(), torch.fft, a custom module with parameters); the model records where.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from torch import nn

MAX_NUMEL = 6_000  # per sample, after every step: small models, fast imports

HELPERS = {
    "autograd_function": '''
class _ClampedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x > 0)
''',
    "item": '''
class _ItemScale(nn.Module):
    def forward(self, x):
        return x * x.mean().item()
''',
    "custom_module": '''
class _Custom(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n, n) * 0.1)

    def forward(self, x):
        return torch.cumsum(x, -1) @ self.weight
''',
    "custom_scale": '''
class _Scale(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(n) * 0.5)

    def forward(self, x):
        return x * self.gamma
''',
}

# ingredients a spec cannot say: an import that succeeds with one of these in the model is wrong
UNSAYABLE = {"sort", "topk", "setitem", "item", "fft", "custom_module", "elementwise", "dead"}
# ingredients that may be said or not: forward hooks follow a chain of modules past control flow; a
# learned scale is a `parameter`; fx traces into an autograd Function's forward (its backward is no count)
MAYBE = {"control_flow", "custom_scale", "autograd_function"}


@dataclass
class Model:
    source: str
    input: str  # --input, e.g. 3,16,16
    dtype: str  # float or index
    ingredients: dict = field(default_factory=dict)  # unsupported ingredient → its lines in the file
    steps: list = field(default_factory=list)  # what was drawn, for reading a failure


class _Holder:
    """Stands for `self` while a step is drawn."""


class _Rejected(Exception):
    pass


class Gen:
    def __init__(self, draw):
        self.draw = draw
        self.init: list[str] = []  # __init__ lines
        self.fwd: list[tuple[str, str | None]] = []  # forward lines, with the ingredient they belong to
        self.helpers: list[str] = []
        self.holder = _Holder()
        self.env = {"torch": torch, "nn": nn, "F": F, "self": self.holder}
        self.values: dict[str, torch.Tensor] = {}
        self.n_modules = 0
        self.n_values = 0
        self.steps: list[str] = []
        self.ingredients: dict[str, list[int]] = {}
        self.depth = 0

    # ---- drawing helpers
    def i(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def b(self):
        return self.draw(st.booleans())

    def pick(self, options):
        return self.draw(st.sampled_from(options))

    def shape(self, x: str) -> tuple:
        return tuple(self.values[x].shape[1:])

    # ---- steps
    def step(self, x: str, modules: list[str], code: str, label: str, ingredient: str | None = None,
             helper: str | None = None) -> str | None:
        """Run `code` (with {x}, {y}, {m0}, {m1}, … for the modules' attributes) on x's tensor;
        keep it when torch accepts it and its output is a small tensor. → y, or None."""
        if helper is not None and helper not in self.helpers:
            exec(HELPERS[helper], self.env)
        attrs = []
        try:
            for expr in modules:
                attr = f"m{self.n_modules + len(attrs)}"
                setattr(self.holder, attr, eval(expr, self.env))
                attrs.append(attr)
            y = f"v{self.n_values + 1}"
            text = code.format(x=x, y=y, **{f"m{k}": f"self.{a}" for k, a in enumerate(attrs)})
            scope = dict(self.values)
            with torch.no_grad():
                exec(text, self.env, scope)
            out = scope[y]
            if not isinstance(out, torch.Tensor) or out.dim() < 2 or not 0 < out[0].numel() <= MAX_NUMEL \
                    or not out.is_floating_point():
                raise _Rejected
        except Exception:  # torch refuses this setting here: draw again
            for attr in attrs:
                delattr(self.holder, attr)
            return None
        if helper is not None and helper not in self.helpers:
            self.helpers.append(helper)
        self.n_modules += len(attrs)
        self.n_values += 1
        self.init += [f"self.{a} = {e}" for a, e in zip(attrs, modules)]
        self.fwd += [(line, ingredient) for line in text.splitlines()]
        self.values[y] = out
        self.steps.append(label)
        return y

    def chain(self, x: str, length: int, preserving: bool = False) -> str:
        for _ in range(length):
            y = self.op(x, preserving)
            x = y or x
        return x

    def op(self, x: str, preserving: bool = False) -> str | None:
        """One drawn step after x: a layer, a function, or (not too deep) a block."""
        rank = len(self.shape(x))
        families = ["activation", "activation", "norm", "dropout", "scalar"]
        if not preserving:
            families += ["linear", "reshape", "reduce"]
            families += {1: ["linear"], 2: ["conv", "pool", "pad", "sequence", "sequence"],
                         3: ["conv", "conv", "pool", "pad", "image"], 4: ["conv", "pool"]}.get(rank, [])
        else:
            families += ["same_conv"] if 2 <= rank <= 4 else ["same_linear"]
        if self.depth < 2:
            families += ["block", "block"]
        family = self.pick(families)
        return getattr(self, "op_" + family)(x)

    # ---- layer families
    def op_activation(self, x):
        module = self.pick(["nn.ReLU()", "nn.GELU()", "nn.Tanh()", "nn.Sigmoid()", "nn.LeakyReLU(0.1)", "nn.ELU()",
                            "nn.SiLU()", "nn.Hardswish()", "nn.ReLU6()", "nn.PReLU()", "nn.Mish()", "nn.Softplus()",
                            "nn.Hardtanh()", "nn.Softsign()", "nn.SELU()", "nn.Identity()"])
        function = self.pick(["F.relu({x})", "torch.relu({x})", "{x}.relu()", "torch.tanh({x})", "{x}.sigmoid()",
                              "F.gelu({x})", "F.leaky_relu({x}, 0.2)", "F.silu({x})", "F.elu({x})",
                              "F.hardswish({x})", "F.softmax({x}, dim=-1)", "F.log_softmax({x}, dim=1)",
                              "{x}.softmax(-1)", "{x}.contiguous()", "F.relu6({x})", "F.mish({x})"])
        if self.b():
            return self.step(x, [module], "{y} = {m0}({x})", module)
        return self.step(x, [], "{y} = " + function, function)

    def op_dropout(self, x):
        p = self.pick([0.0, 0.1, 0.5])
        if self.b():
            return self.step(x, [f"nn.Dropout({p})"], "{y} = {m0}({x})", "Dropout")
        return self.step(x, [], f"{{y}} = F.dropout({{x}}, {p}, self.training)", "F.dropout")

    def op_scalar(self, x):
        code = self.pick(["{x} * 0.5", "{x} + 1.0", "{x} / 2", "2.0 * {x}", "{x} - 0.25"])
        return self.step(x, [], "{y} = " + code, code)

    def op_norm(self, x):
        shape = self.shape(x)
        rank, c, last = len(shape), shape[0], shape[-1]
        options = [f"nn.LayerNorm({last})", f"nn.LayerNorm({last}, elementwise_affine={self.b()})"]
        if rank >= 2:
            options += [f"nn.LayerNorm({list(shape[-2:])})"]
        if rank in (1, 2):
            options += [f"nn.BatchNorm1d({c})"]
        if rank == 2:
            options += [f"nn.InstanceNorm1d({c}, affine={self.b()})"]
        if rank == 3:
            options += [f"nn.BatchNorm2d({c})", f"nn.InstanceNorm2d({c}, affine=True)",
                        f"nn.LocalResponseNorm({self.i(1, 4)})"]
        if rank == 4:
            options += [f"nn.BatchNorm3d({c})", f"nn.InstanceNorm3d({c})"]
        if rank >= 2:
            groups = [g for g in range(1, c + 1) if c % g == 0]
            options += [f"nn.GroupNorm({self.pick(groups)}, {c}, affine={self.b()})"]
        module = self.pick(options)
        if self.b() and "LayerNorm" in module and "[" not in module and "False" not in module:
            return self.step(x, [module], "{y} = F.layer_norm({x}, {m0}.normalized_shape, {m0}.weight, "
                                          "{m0}.bias, {m0}.eps)", "F.layer_norm")
        return self.step(x, [module], "{y} = {m0}({x})", module)

    def op_linear(self, x):
        last = self.shape(x)[-1]
        module = f"nn.Linear({last}, {self.i(1, 24)}, bias={self.b()})"
        return self.step(x, [module], "{y} = {m0}({x})", module)

    def op_same_linear(self, x):
        last = self.shape(x)[-1]
        return self.step(x, [f"nn.Linear({last}, {last})"], "{y} = {m0}({x})", "Linear(same)")

    def op_same_conv(self, x):
        shape = self.shape(x)
        dims, c = len(shape) - 1, shape[0]
        k, d = self.pick([1, 3, 5]), self.i(1, 2)
        groups = self.pick([g for g in range(1, c + 1) if c % g == 0])
        module = f"nn.Conv{dims}d({c}, {c}, {k}, padding={d * (k // 2)}, dilation={d}, groups={groups})"
        return self.step(x, [module], "{y} = {m0}({x})", module)

    def op_conv(self, x):
        shape = self.shape(x)
        dims, c = len(shape) - 1, shape[0]
        groups = self.pick([g for g in range(1, min(c, 4) + 1) if c % g == 0])
        out = groups * self.i(1, max(1, 8 // groups))
        k, s, p, d = self.i(1, 4), self.i(1, 3), self.i(0, 2), self.i(1, 2)
        if self.i(0, 3):
            parts = [str(c), str(out), f"kernel_size={k}", f"stride={s}", f"padding={p}", f"dilation={d}",
                     f"groups={groups}", f"bias={self.b()}"]
            if p and self.b():
                parts.append(f"padding_mode={self.pick(['zeros', 'reflect', 'circular', 'replicate'])!r}")
            if self.b():
                parts = parts[:3] + parts[6:]  # the defaults
            module = f"nn.Conv{dims}d({', '.join(parts)})"
        else:
            op = self.i(0, max(0, min(s, d) - 1))
            module = (f"nn.ConvTranspose{dims}d({c}, {out}, {k}, stride={s}, padding={p}, output_padding={op}, "
                      f"groups={groups}, bias={self.b()}, dilation={d})")
        return self.step(x, [module], "{y} = {m0}({x})", module)

    def op_pool(self, x):
        dims = len(self.shape(x)) - 1
        k, s, p = self.i(1, 3), self.i(1, 3), self.i(0, 1)
        kind = self.pick(["max", "avg", "adaptive_avg", "adaptive_max", "fmax", "favg", "lp"])
        if kind == "max":
            module = f"nn.MaxPool{dims}d({k}, stride={s}, padding={p}, ceil_mode={self.b()})"
        elif kind == "avg":
            module = f"nn.AvgPool{dims}d({k}, stride={s}, padding={p}, count_include_pad={self.b()})"
        elif kind.startswith("adaptive"):
            module = f"nn.Adaptive{'Avg' if 'avg' in kind else 'Max'}Pool{dims}d({self.i(1, 3)})"
        elif kind == "lp" and dims < 3:
            module = f"nn.LPPool{dims}d(2, {k}, stride={s})"
        else:
            name = "max" if kind == "fmax" else "avg"
            return self.step(x, [], f"{{y}} = F.{name}_pool{dims}d({{x}}, {k}, {s})", f"F.{name}_pool{dims}d")
        return self.step(x, [module], "{y} = {m0}({x})", module)

    def op_pad(self, x):
        dims = len(self.shape(x)) - 1
        pads = [self.i(0, 2) for _ in range(2 * dims)]
        if self.b():
            module = self.pick([f"nn.ZeroPad{dims}d({pads})", f"nn.ConstantPad{dims}d({pads}, 0.5)",
                                f"nn.ReflectionPad{dims}d({pads})", f"nn.ReplicationPad{dims}d({pads})"])
            return self.step(x, [module], "{y} = {m0}({x})", module)
        mode = self.pick(["constant", "reflect", "replicate", "circular"])
        return self.step(x, [], f"{{y}} = F.pad({{x}}, {tuple(pads)}, mode={mode!r})", f"F.pad {mode}")

    def op_reshape(self, x):
        shape = self.shape(x)
        numel = 1
        for d in shape:
            numel *= d
        options = ["{x}.flatten(1)", "torch.flatten({x}, 1)", "{x}.view({x}.size(0), -1)",
                   "{x}.reshape({x}.shape[0], -1)", f"{{x}}.view(-1, {numel})", "{x}.unsqueeze(1)"]
        if len(shape) >= 2:
            rest = "".join(f", {i}" for i in range(3, len(shape) + 1))
            options += ["{x}.transpose(1, 2)", "{x}.transpose(-1, -2)", "{x}.permute(0, 2, 1" + rest + ")",
                        "{x}.flatten(2)", f"{{x}}.reshape(-1, {shape[0]}, {numel // shape[0]})"]
        if len(shape) >= 3:
            options += ["{x}.permute(0, 1, 3, 2" + "".join(f", {i}" for i in range(4, len(shape) + 1)) + ")"]
        if self.b() and len(shape) >= 2:
            module = self.pick(["nn.Flatten()", f"nn.Unflatten(1, ({shape[0]}, 1))"])
            return self.step(x, [module], "{y} = {m0}({x})", module)
        code = self.pick(options)
        return self.step(x, [], "{y} = " + code, code)

    def op_reduce(self, x):
        rank = len(self.shape(x))
        if rank < 2:
            return None
        dims = tuple(range(2, rank + 1))
        code = self.pick([f"{{x}}.mean({dims})", "{x}.mean(-1)", "torch.mean({x}, dim=-1, keepdim=True)",
                          f"{{x}}.mean(dim={dims[-1]})"])
        return self.step(x, [], "{y} = " + code, code)

    def op_image(self, x):
        c = self.shape(x)[0]
        options = ["nn.Upsample(scale_factor=2)", "F.interpolate", "nn.Dropout2d(0.2)", "channel_shuffle",
                   "pixel_unshuffle"]
        if c % 4 == 0:
            options.append("nn.PixelShuffle(2)")
        choice = self.pick(options)
        if choice == "F.interpolate":
            mode = self.pick(["nearest", "bilinear"])
            extra = ", align_corners=False" if mode == "bilinear" else ""
            return self.step(x, [], f"{{y}} = F.interpolate({{x}}, scale_factor=2, mode={mode!r}{extra})", choice)
        if choice == "channel_shuffle":
            groups = self.pick([g for g in range(1, c + 1) if c % g == 0])
            return self.step(x, [f"nn.ChannelShuffle({groups})"], "{y} = {m0}({x})", choice)
        if choice == "pixel_unshuffle":
            return self.step(x, [], "{y} = F.pixel_unshuffle({x}, 2)", choice)
        return self.step(x, [choice], "{y} = {m0}({x})", choice)

    def op_sequence(self, x):
        """[T, E] read as a sequence: recurrent layers, attention, matmul."""
        t, e = self.shape(x)
        kind = self.pick(["lstm", "gru", "rnn", "mha", "sdpa", "sdpa_proj", "matmul", "bmm"])
        if kind in ("lstm", "gru", "rnn"):
            hidden, layers, bi = self.i(1, 8), self.i(1, 2), self.b()
            module = f"nn.{kind.upper()}({e}, {hidden}, num_layers={layers}, batch_first=True, bidirectional={bi})"
            code = self.pick(["{y}, _ = {m0}({x})", "{y} = {m0}({x})[0]"])
            if self.b():
                code = "{y} = {m0}({x})[0][:, -1, :]"
            return self.step(x, [module], code, module)
        if kind == "mha":
            heads = self.pick([h for h in range(1, e + 1) if e % h == 0 and h <= 4])
            module = f"nn.MultiheadAttention({e}, {heads}, batch_first=True, bias={self.b()})"
            code = self.pick(["{y}, _ = {m0}({x}, {x}, {x})", "{y} = {m0}({x}, {x}, {x}, need_weights=False)[0]"])
            return self.step(x, [module], code, module)
        if kind == "sdpa":
            causal = self.b()
            return self.step(x, [], f"{{y}} = F.scaled_dot_product_attention({{x}}, {{x}}, {{x}}, is_causal={causal})",
                             "sdpa")
        if kind == "sdpa_proj":
            mods = [f"nn.Linear({e}, {e})"] * 3
            return self.step(x, mods, "{y} = F.scaled_dot_product_attention({m0}({x}), {m1}({x}), {m2}({x}))",
                             "sdpa(q, k, v)")
        if kind == "matmul":
            return self.step(x, [], "{y} = torch.matmul({x}, {x}.transpose(1, 2))", "matmul")
        return self.step(x, [f"nn.Linear({e}, {e})"], "{y} = torch.bmm({m0}({x}), {x}.transpose(1, 2))", "bmm")

    def mark(self) -> tuple:
        return (len(self.init), len(self.fwd), self.n_modules, self.n_values, dict(self.values), len(self.steps),
                list(self.helpers))

    def rollback(self, mark: tuple) -> None:
        """Forget the steps drawn since `mark` (a branch no merge can join): no dead code."""
        init, fwd, self.n_modules, self.n_values, self.values, steps, self.helpers = mark
        del self.init[init:], self.fwd[fwd:], self.steps[steps:]
        return None

    # ---- blocks
    def op_block(self, x):
        self.depth += 1
        try:
            kind = self.pick(["residual", "residual", "product", "concat", "two", "shared"])
            if kind == "shared":  # one module called twice: its weights shared
                e = self.shape(x)[-1]
                module = self.pick([f"nn.Linear({e}, {e})", "nn.ReLU()", f"nn.Linear({e}, {self.i(1, 6)})"])
                code = self.pick(["{y} = {m0}(torch.relu({m0}({x})))",  # in a chain; in two branches of a merge
                                  "{y} = {m0}({x}) + torch.relu({m0}({x}))",
                                  "{y} = torch.cat([torch.sigmoid({m0}({x})), {m0}({x})], dim=-1)"])
                return self.step(x, [module], code, "shared " + module)
            start = self.mark()
            branch = self.chain(x, self.i(1, 3), preserving=kind in ("residual", "product"))
            if branch == x:
                return self.rollback(start)
            if kind == "two":
                other = self.chain(x, self.i(1, 2), preserving=True)
                if other != x and self.shape(other) == self.shape(branch):
                    return self.step(branch, [], f"{{y}} = {{x}} + {other}", "two branches") or self.rollback(start)
                return self.rollback(start)
            if kind in ("residual", "product") and self.shape(branch) == self.shape(x):
                op = "+" if kind == "residual" else "*"
                code = self.pick([f"{{y}} = {x} {op} {{x}}", f"{{y}} = {{x}} {op} {x}",
                                  f"{{y}} = torch.{'add' if op == '+' else 'mul'}({x}, {{x}})"])
                return self.step(branch, [], code, kind)
            a, b = self.shape(x), self.shape(branch)
            if len(a) == len(b) and a[1:] == b[1:]:
                return self.step(branch, [], f"{{y}} = torch.cat([{x}, {{x}}], dim=1)", "concat") or branch
            if len(a) == len(b) and a[:-1] == b[:-1]:
                return self.step(branch, [], f"{{y}} = torch.cat(({{x}}, {x}), -1)", "concat last") or branch
            return branch  # no merge: the branch is the chain
        finally:
            self.depth -= 1

    # ---- what no spec can say
    def ingredient(self, x: str) -> str | None:
        shape = self.shape(x)
        last = shape[-1]
        name = self.pick(sorted(UNSAYABLE | MAYBE))
        if name == "autograd_function":
            return self.step(x, [], "{y} = _ClampedReLU.apply({x})", name, name, helper=name)
        if name == "sort":
            code = self.pick(["{y} = torch.sort({x}, dim=-1).values", "{y} = {x}.sort(dim=1)[0]"])
            return self.step(x, [], code, name, name)
        if name == "topk":
            return self.step(x, [], f"{{y}} = torch.topk({{x}}, {self.i(1, last)}, dim=-1).values", name, name)
        if name == "setitem":
            code = self.pick(["{y} = {x}.clone()\n{y}[:, 0] = 0.0", "{y} = {x} * 1.0\n{y}[..., -1] += 1.0"])
            return self.step(x, [], code, name, name)
        if name == "item":
            return self.step(x, ["_ItemScale()"], "{y} = {m0}({x})", name, name, helper=name)
        if name == "fft":
            code = self.pick(["{y} = torch.fft.fft({x}).real", "{y} = torch.fft.rfft({x}, dim=-1).abs()"])
            return self.step(x, [], code, name, name)
        if name == "custom_module":
            return self.step(x, [f"_Custom({last})"], "{y} = {m0}({x})", name, name, helper=name)
        if name == "custom_scale":
            return self.step(x, [f"_Scale({last})"], "{y} = {m0}({x})", name, name, helper=name)
        if name == "dead":  # a layer whose output nothing reads: FlopCounterMode still counts it
            e = shape[-1]
            module = self.pick([f"nn.Linear({e}, {self.i(1, 8)})", f"nn.LayerNorm({e})"])
            return self.step(x, [module], "unused = {m0}({x})\n{y} = {x}", name, name)
        if name == "elementwise":
            code = self.pick(["torch.cumsum({x}, -1)", "{x}.clamp(min=0.1)", "torch.where({x} > 0, {x}, {x} * 0.1)",
                              "{x}.exp()", "{x}.pow(2)", "{x}.abs()", "torch.nn.functional.normalize({x}, dim=-1)"])
            return self.step(x, [], "{y} = " + code, name, name)
        # control flow on a value: fx cannot trace it (forward hooks may follow a chain of modules)
        body = self.pick(["{y} = {m0}({x})", "{y} = torch.relu({x})", "{x}.mul_(0.5)\n    {y} = {m0}({x})",
                          "{y} = {m0}({x})\n    {y}[:, 0] = 0.0", "{y} = {m0}({x}).relu_()"])
        code = f"if {{x}}.sum() > 0:\n    {body}\nelse:\n    {body}"
        return self.step(x, ["nn.ReLU()"], code, name, name)

    def source(self, out: str) -> tuple[str, dict]:
        lines = ["import torch", "import torch.nn.functional as F", "from torch import nn", ""]
        where: dict[str, list[int]] = {}
        for h in self.helpers:  # its class's lines are the ingredient's too
            body = textwrap.dedent(HELPERS[h]).strip("\n").splitlines()
            where[h] = list(range(len(lines) + 1, len(lines) + len(body) + 1))
            lines += body + ["", ""]
        lines += ["class Net(nn.Module):", "    def __init__(self):", "        super().__init__()"]
        lines += ["        " + line for line in self.init]
        lines += ["", "    def forward(self, v0):"]
        for line, ingredient in self.fwd:
            lines.append("        " + line)
            if ingredient:
                where.setdefault(ingredient, []).append(len(lines))
        lines += [f"        return {out}", "", "", "def make():", "    torch.manual_seed(0)", "    return Net()", ""]
        return "\n".join(lines), where


@st.composite
def models(draw, unsupported: float = 0.3) -> Model:
    g = Gen(draw)
    family = draw(st.sampled_from(["vector", "sequence", "image", "image", "volume", "tokens"]))
    if family == "vector":
        dims = [draw(st.integers(1, 24))]
    elif family == "sequence":
        dims = [draw(st.integers(1, 8)), draw(st.integers(2, 16))]
    elif family == "image":
        dims = [draw(st.integers(1, 6)), draw(st.integers(4, 14)), draw(st.integers(4, 14))]
    elif family == "volume":
        dims = [draw(st.integers(1, 4)), *(draw(st.integers(3, 6)) for _ in range(3))]
    else:
        dims = [draw(st.integers(2, 8))]
    dtype = "index" if family == "tokens" else "float"
    if dtype == "index":
        vocab, width = draw(st.integers(2, 50)), draw(st.integers(2, 12))
        g.values["v0"] = torch.randint(0, 2, (1, *dims))
        x = g.step("v0", [f"nn.Embedding({vocab}, {width})"], "{y} = {m0}({x})", "Embedding") or "v0"
        assert x != "v0"
    else:
        g.values["v0"] = torch.randn(1, *dims)
        x = "v0"
    length = draw(st.integers(1, 6))
    mix = draw(st.floats(0, 1)) < unsupported
    at = draw(st.integers(0, length)) if mix else -1
    for i in range(length + 1):
        if i == at:
            y = None
            for _ in range(3):
                y = y or g.ingredient(x)
            x = y or x
        if i < length:
            x = g.op(x) or x
    source, where = g.source(x)
    return Model(source, ",".join(map(str, dims)), dtype, where, g.steps)
