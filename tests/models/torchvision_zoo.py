"""torchvision 0.29.1's CNNs, as `archcalc import MODULE:CALLABLE` targets: every classification
model but the transformers (vit_*, swin_*, maxvit_t), the video CNNs and the segmentation
models (built with weights_backbone=None: nothing is downloaded). MODELS maps a model's name
to the per-sample input it is imported at."""
from __future__ import annotations

import functools

import torchvision
from torchvision import models

TRANSFORMERS = ("vit_", "swin_", "maxvit_")
VIDEO = ("r3d_18", "mc3_18", "r2plus1d_18", "s3d")
SEGMENTATION = ("fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101",
                "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large")


def _classification() -> list[str]:
    return [n for n in models.list_models(module=torchvision.models) if not n.startswith(TRANSFORMERS)]


MODELS: dict[str, str] = {name: "3,299,299" if name == "inception_v3" else "3,224,224" for name in _classification()}
MODELS.update({name: "3,16,112,112" for name in VIDEO})
MODELS["s3d"] = "3,16,224,224"
MODELS.update({name: "3,224,224" for name in SEGMENTATION})


def build(name: str):
    """The model, untrained (weights=None; a segmentation model's backbone too)."""
    if name in SEGMENTATION:
        return models.get_model(name, weights=None, weights_backbone=None)
    return models.get_model(name, weights=None)


def __getattr__(name: str):
    """`tests/models/torchvision_zoo.py:resnet18`: a factory for each model of MODELS."""
    if name in MODELS or name.startswith(TRANSFORMERS):  # the transformers: for their hand-written specs
        return functools.partial(build, name)
    raise AttributeError(name)
