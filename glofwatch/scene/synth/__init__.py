"""Synthetic Sentinel-2-like data with exact truth: glofwatch's built-in demo and test data.

One renderer draws landscapes as 4-band surface reflectance (B02 B03 B04 B08):
fractal terrain with hillshade and cast shadows, snow above a noisy snowline,
glaciers flowing down carved valleys with debris-covered tongues, lakes of many
colours, sizes and shapes (moraine-dammed at glacier snouts, in valley floors
and plateau basins, partly frozen), rivers, clouds with shadows and no-data
wedges. From it:

- :func:`synth_crop` draws one 8-bit crop with its exact lake mask;
- :func:`write_synthetic_dataset` writes crops in the study layout
  (``OUT/{train,test}/{images,labels}/synth_00001.png`` and ``OUT/synth.json``);
- :func:`write_synthetic_scene` writes a georeferenced L2A-like scene
  (``scene.tif`` or band files, ``lakes_mask.tif``, ``dem.tif``,
  ``glaciers.gpkg``, ``lakes_truth.gpkg``).

Example:
    >>> import numpy as np
    >>> crop = synth_crop(np.random.default_rng([0, 1]), size=64)
    >>> crop.image.shape, sorted(np.unique(crop.mask).tolist()) in ([0], [0, 1], [1])
    ((64, 64, 3), True)
"""

from glofwatch.scene.render import RENDERINGS, to_dn, to_rgb
from glofwatch.scene.synth.crops import CropLake, CropParams, SynthCrop, synth_crop
from glofwatch.scene.synth.dataset import (
    crop_name,
    draw_numbered_crop,
    has_synthetic_dataset,
    write_synthetic_dataset,
)
from glofwatch.scene.synth.materials import BANDS
from glofwatch.scene.synth.scene import (
    SceneFiles,
    write_scene_band_files,
    write_synthetic_scene,
)

__all__ = [
    "BANDS",
    "RENDERINGS",
    "CropLake",
    "CropParams",
    "SceneFiles",
    "SynthCrop",
    "crop_name",
    "draw_numbered_crop",
    "synth_crop",
    "to_dn",
    "to_rgb",
    "write_scene_band_files",
    "has_synthetic_dataset",
    "write_synthetic_dataset",
    "write_synthetic_scene",
]
