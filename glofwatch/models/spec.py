"""The model registry itself: :class:`ModelSpec` entries in :data:`MODELS` (building is :mod:`.registry`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from glofwatch.registry import Registry

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """What a registered model is and how to build it.

    Attributes:
        name: registry name, e.g. ``"deeplabv3plus-resnet50"``.
        family: decoder family, ``"deeplabv3plus"`` or ``"unet"``.
        encoder: smp encoder name (``"resnet50"``, ``"tu-tf_efficientnet_lite0"``) or
            None for the plain U-Net without backbone.
        description: one line for ``glofwatch models``.
        study_row: the row of the study's Table I this model reproduces, or None.
        default_weights: ``"imagenet"`` or None (random init) for ``weights="default"``.
        stride: input H and W must be multiples of this (predictors pad to it).
        fast: small enough to train and map on a laptop CPU.
        builder: ``builder(in_channels=..., **overrides) -> nn.Module`` with random weights.
        for_tests: a toy model for tests, not for real mapping.
    """

    name: str
    family: str
    encoder: str | None
    description: str
    study_row: str | None
    default_weights: str | None
    stride: int
    fast: bool
    builder: Callable[..., nn.Module] = field(repr=False, compare=False)
    for_tests: bool = False


MODELS: Registry[ModelSpec] = Registry("model")


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to :data:`MODELS` under ``spec.name``."""
    MODELS.register(spec.name, spec)
    return spec


def get_spec(name: str) -> ModelSpec:
    """Return the spec called ``name``; unknown names raise ConfigError with close matches."""
    return MODELS.get(name)


def list_models() -> list[ModelSpec]:
    """All specs: the study's models first, then the others, test models last (by name)."""
    specs = [spec for _, spec in MODELS.items()]
    return sorted(specs, key=lambda s: (s.for_tests, s.study_row is None, s.name))
