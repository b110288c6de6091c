"""Networks only: the model registry, offline weights, model files (bundles) and export; no training, no figures.

Importing this package registers every model. Typical use::

    from glofwatch.models import build_model, list_models
    net = build_model("unet-efflite0", weights="default", in_channels=3)
    logits = net(images)  # (N, 3, H, W) -> (N, 1, H, W), H, W multiples of the spec's stride
"""

from glofwatch.models import plain_unet as _plain_unet  # noqa: F401  (registers entries)
from glofwatch.models import smp_models as _smp_models  # noqa: F401  (registers entries)
from glofwatch.models.registry import (
    MODELS,
    ModelSpec,
    build_model,
    count_params,
    get_spec,
    list_models,
    model_stride,
    register_model,
)

__all__ = [
    "MODELS",
    "ModelSpec",
    "build_model",
    "count_params",
    "get_spec",
    "list_models",
    "model_stride",
    "register_model",
]
