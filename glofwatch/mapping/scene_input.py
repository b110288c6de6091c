"""How scene pixels become model input: the L2A numbers as they are, or the 8-bit rendering of the crops.

Input conversion is a property of the model (its :class:`~glofwatch.data.normalize.InputSpec`):

* ``source == "reflectance"``: the L2A digital numbers (reflectance x 10000,
  plus ``dn_offset``) of ``spec.bands`` go in unchanged.
* ``source == "rgb8"``: the scene is rendered to 8-bit exactly as the training
  crops were (:func:`glofwatch.scene.render.to_rgb`), for the rendering whose bands
  are ``spec.bands``; a uint8 scene is taken as already rendered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glofwatch.errors import ConfigError, InputError
from glofwatch.scene.read import Scene


def default_gain() -> float:
    """Gain of the training crops' rendering: the middle of the synthetic crops' gain range."""
    from glofwatch.scene.render import CROP_GAIN_RANGE

    lo, hi = CROP_GAIN_RANGE
    return (lo + hi) / 2.0


def rendering_for(bands: tuple[str, ...]) -> str:
    """Name of the 8-bit rendering whose (R, G, B) bands are ``bands``."""
    from glofwatch.scene.render import RENDERINGS

    for name in RENDERINGS.names():
        if tuple(RENDERINGS.get(name).bands) == tuple(bands):
            return name
    known = ", ".join(f"{n} ({' '.join(RENDERINGS.get(n).bands)})" for n in RENDERINGS.names())
    raise ConfigError(
        f"the model takes 8-bit bands {' '.join(bands)} but no rendering shows them; known renderings: {known}"
    )


@dataclass(frozen=True)
class SceneInput:
    """How scene pixels become model input (see the module docstring).

    Attributes:
        bands: model input bands, in order.
        source: the model's ``spec.source`` ("rgb8" or "reflectance").
        scene_kind: the scene's kind ("rgb8" or "dn").
        read_bands: scene bands to read.
        rendering: 8-bit rendering name when DN are rendered to rgb8, else None.
        gain: rendering gain.
        dn_offset: added to DN before dividing by 10000 (-1000 for L2A baseline >= 04.00).
    """

    bands: tuple[str, ...]
    source: str
    scene_kind: str
    read_bands: tuple[str, ...]
    rendering: str | None
    gain: float
    dn_offset: float

    @classmethod
    def plan(cls, scene: Scene, spec, gain: float | None = None, dn_offset: float | None = None) -> SceneInput:  # noqa: ANN001
        """Decide the conversion for ``scene`` and a model's ``spec``; checks bands and kinds.

        ``dn_offset`` None takes the product's offset (:meth:`Scene.dn_offset`).
        """
        bands = tuple(spec.bands)
        if dn_offset is None:
            dn_offset = scene.dn_offset(bands).offset if scene.kind == "dn" else 0.0
        if spec.source == "reflectance":
            if scene.kind == "rgb8":
                raise InputError(
                    f"{scene.path}: scene is 8-bit (uint8) but the model was trained on L2A reflectance; "
                    "give the L2A bands (uint16 DN) or use a model trained on 8-bit images"
                )
            scene.require_bands(bands)
            return cls(bands, spec.source, scene.kind, bands, None, 1.0, dn_offset)
        if spec.source != "rgb8":
            raise ConfigError(f"model input source '{spec.source}' is unknown; expected rgb8 or reflectance")
        if scene.kind == "rgb8":
            scene.require_bands(bands)
            return cls(bands, spec.source, scene.kind, bands, None, 1.0, 0.0)
        rendering = rendering_for(bands)
        scene.require_bands(bands)
        gain = gain if gain is not None else (spec.gain or default_gain())
        return cls(bands, spec.source, scene.kind, bands, rendering, gain, dn_offset)

    @property
    def dtype(self) -> type:
        """What a converted strip can be kept in: uint8 for an 8-bit model (every value a whole 0..255), else float32.

        A strip waiting for the network in bytes holds a quarter of the memory (3 x 512 x 10980 px:
        17 MB instead of 67 MB); batches are made float32 as they go to the network.
        """
        return np.uint8 if self.source == "rgb8" else np.float32

    def convert(self, data: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Raw scene pixels (C, h, w) of :attr:`read_bands` -> model input (C, h, w) float32, 0 on nodata."""
        if self.rendering is None:
            x = data.astype(np.float32)
            if self.source == "reflectance" and self.dn_offset:
                x += np.float32(self.dn_offset)
                np.clip(x, 0.0, None, out=x)  # negative reflectance (dark water under the offset) is 0
            x[:, ~valid] = 0.0
            return np.nan_to_num(x, copy=False)
        return self._render(data, valid)

    def _render(self, data: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """8-bit rendering in place, band by band: the same numbers as ``to_rgb`` on the reflectance.

        Per band: reflectance ``max((DN + offset) / 10000, 0)`` (0 on nodata), then
        ``floor(clip(refl * gain * 255 + 0.5, 0, 255))``; pixels with any reflectance above 0
        are at least 1, as in :func:`glofwatch.scene.render.to_rgb`.
        """
        from glofwatch.scene.render import BANDS, RENDERINGS

        if self.rendering is None:
            raise ConfigError("no 8-bit rendering planned for this scene; the model reads reflectance")
        out_bands = [BANDS[i] for i in RENDERINGS.get(self.rendering).band_index]
        h, w = data.shape[1:]
        out = np.empty((len(out_bands), h, w), dtype=np.float32)
        lit = np.zeros((h, w), dtype=bool)
        scale = self.gain * 255.0
        for i, b in enumerate(self.read_bands):
            band = data[i].astype(np.float32)
            if self.dn_offset:
                band += np.float32(self.dn_offset)
            band /= np.float32(10000.0)
            np.clip(band, 0.0, None, out=band)
            if np.issubdtype(data.dtype, np.floating):
                np.nan_to_num(band, copy=False)
            band *= valid
            lit |= band > 0
            if b in out_bands:
                band *= scale
                band += 0.5
                np.clip(band, 0.0, 255.0, out=band)
                np.floor(band, out=out[out_bands.index(b)])
        np.maximum(out, lit, out=out)
        return out

    def describe(self) -> str:
        """One line for summaries."""
        offset = f", DN offset {self.dn_offset:g}" if self.dn_offset else ""
        if self.rendering is not None:
            return f"L2A DN rendered to 8-bit {self.rendering} ({' '.join(self.bands)}), gain {self.gain:g}{offset}"
        return f"{self.scene_kind} bands {' '.join(self.bands)} as they are{offset}"


__all__ = ["SceneInput", "default_gain", "rendering_for"]
