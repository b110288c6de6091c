"""Heat-map colouring and blending for Grad-CAM figures (lake overlays live in :mod:`glofwatch.io.image`)."""

from __future__ import annotations

import numpy as np


def colorize_heatmap(heat: np.ndarray, cmap: str = "jet") -> np.ndarray:
    """Colour a [0, 1] heat map (H, W) with a matplotlib colormap -> uint8 (H, W, 3).

    NaN and values outside [0, 1] are clipped to the ends of the colormap.
    """
    from matplotlib import colormaps

    h = np.clip(np.nan_to_num(heat.astype(np.float32), nan=0.0), 0.0, 1.0)
    rgba = colormaps[cmap](h, bytes=True)
    return np.ascontiguousarray(rgba[..., :3])


def blend_heatmap(rgb: np.ndarray, heat: np.ndarray, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """Grad-CAM style overlay: the coloured heat map blended over the image.

    As pytorch-grad-cam's ``show_cam_on_image``: ``(1 - alpha) * image + alpha * colour``.

    Args:
        rgb: (H, W, 3) uint8 image.
        heat: (H, W) float heat map in [0, 1], same size.
        alpha: opacity of the heat map.
        cmap: matplotlib colormap name ("jet": blue low, red high; or "turbo").

    Returns:
        (H, W, 3) uint8.
    """
    if heat.shape != rgb.shape[:2]:
        raise ValueError(f"heat map {heat.shape} and image {rgb.shape[:2]} differ in size")
    colour = colorize_heatmap(heat, cmap).astype(np.float32)
    out = (1 - alpha) * rgb.astype(np.float32) + alpha * colour
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
