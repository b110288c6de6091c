"""Lakes as instances from a trained YOLOv8-Seg run: polygon, mask, confidence, area.

:class:`YoloSegmenter` runs the model on one image at a time (letterboxed to
the training ``imgsz`` by ultralytics; masks come back at the image's own size,
``retina_masks=True``). Each :class:`LakeInstance` carries its pixel mask, a
polygon traced along pixel edges (islands as holes; a MultiPolygon when the
instance mask is in pieces), its confidence and its area in pixels and, for
images with a projected CRS, in square metres.

:meth:`InstanceResult.score_map` is the largest confidence of the instances
covering each pixel; ``score_map > t`` is the union of instances above ``t``,
which is how instance output is scored with the pixel metrics of the semantic
models (see :mod:`glofwatch.infer.yolo_evaluate`).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glofwatch.errors import InputError
from glofwatch.geo import GeoGrid

DEFAULT_CONF = 0.25
"""Confidence threshold when a run has none stored (ultralytics' predict default)."""
SCORE_FLOOR = 0.05
"""Lowest confidence kept when scores are needed for a threshold grid."""


@dataclass
class LakeInstance:
    """One predicted lake.

    Attributes:
        mask: (H, W) bool, the instance's pixels.
        confidence: ultralytics class confidence in [0, 1].
        polygon: shapely Polygon/MultiPolygon along pixel edges, in pixel coordinates
            (x = column, y = row, origin top-left) or in the image CRS when it has one.
        area_px: pixels in ``mask``.
        area_m2: area in square metres (None without a projected CRS).
        bbox_px: (x0, y0, x1, y1) pixel box of the mask, end-exclusive.
    """

    mask: np.ndarray
    confidence: float
    polygon: Any
    area_px: int
    area_m2: float | None
    bbox_px: tuple[int, int, int, int]


@dataclass
class InstanceResult:
    """Instances of one image with their georeference.

    Attributes:
        instances: by decreasing confidence.
        grid: the image's :class:`~glofwatch.geo.GeoGrid` (plain for PNG/JPEG).
        conf_threshold: the run's threshold (instances at or below it are kept here
            only when the segmenter was asked for a lower ``min_conf``).
    """

    instances: list[LakeInstance]
    grid: GeoGrid
    conf_threshold: float
    meta: dict[str, Any] = field(default_factory=dict)

    def score_map(self) -> np.ndarray:
        """(H, W) float32: largest confidence of the instances covering each pixel, 0 elsewhere."""
        out = np.zeros(self.grid.shape, np.float32)
        for inst in self.instances:
            np.maximum(out, np.where(inst.mask, np.float32(inst.confidence), np.float32(0)), out=out)
        return out

    def mask(self, conf: float | None = None) -> np.ndarray:
        """(H, W) uint8 union of the instances with confidence above ``conf`` (default: the run's)."""
        t = self.conf_threshold if conf is None else conf
        return (self.score_map() > t).astype(np.uint8)

    def above(self, conf: float | None = None) -> list[LakeInstance]:
        """Instances with confidence above ``conf`` (default: the run's threshold)."""
        t = self.conf_threshold if conf is None else conf
        return [i for i in self.instances if i.confidence > t]

    def to_feature_collection(self, name: str = "", conf: float | None = None) -> dict[str, Any]:
        """GeoJSON-like FeatureCollection of the instances above the threshold.

        Without a CRS, coordinates are pixels (x right, y down, pixel edges) and
        ``"coordinates": "pixel"`` says so; with a CRS they are in that CRS, named
        in a ``crs`` member.
        """
        from shapely.geometry import mapping

        t = self.conf_threshold if conf is None else conf
        features = []
        for k, inst in enumerate(self.above(t)):
            features.append({
                "type": "Feature",
                "id": k,
                "geometry": mapping(inst.polygon),
                "properties": {"instance_id": k, "confidence": round(inst.confidence, 4), "area_px": inst.area_px,
                               "area_m2": None if inst.area_m2 is None else round(inst.area_m2, 2),
                               "bbox_px": list(inst.bbox_px)},
            })
        fc: dict[str, Any] = {"type": "FeatureCollection", "name": name,
                              "coordinates": "crs" if self.grid.is_georeferenced else "pixel",
                              "width": self.grid.width, "height": self.grid.height,
                              "conf_threshold": t, "n_instances": len(features), "features": features}
        if self.grid.is_georeferenced:
            fc["crs"] = {"type": "name", "properties": {"name": self.grid.crs}}
        fc.update(self.meta)
        return fc


def read_grid(path: str | os.PathLike[str], height: int, width: int) -> GeoGrid:
    """The georeference of an image file (plain pixel grid for PNG/JPEG or TIFF without CRS)."""
    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        return GeoGrid.plain(height, width)
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as src:
            grid = GeoGrid.from_profile(src.profile)
    return grid if grid.crs is not None else GeoGrid.plain(height, width)


def instance_polygon(mask: np.ndarray, grid: GeoGrid) -> Any:
    """Polygon (or MultiPolygon) of a bool mask along pixel edges, in ``grid``'s coordinates."""
    from rasterio.features import shapes
    from shapely.geometry import shape
    from shapely.ops import unary_union

    parts = [shape(g) for g, v in shapes(mask.astype(np.uint8), mask=mask, transform=grid.transform) if v == 1]
    return unary_union(parts) if len(parts) > 1 else parts[0]


def run_conf_threshold(run_dir: Path) -> float | None:
    """The confidence threshold stored in a run's ``summary.json`` (None if not chosen yet)."""
    try:
        value = json.loads((run_dir / "summary.json").read_text()).get("conf_threshold")
    except (FileNotFoundError, ValueError):
        return None
    return None if value is None else float(value)


class YoloSegmenter:
    """A trained YOLOv8-Seg run, ready to predict lake instances.

    Args:
        run: run folder (``model.pt``, else ``checkpoints/best.pt``/``last.pt``) or an ultralytics ``.pt`` file.
        device: auto, cpu or cuda.
        conf_threshold: override the run's stored threshold.
        imgsz: inference size (default: the run's training size).
    """

    def __init__(self, run: str | os.PathLike[str], device: str = "auto", conf_threshold: float | None = None,
                 imgsz: int | None = None) -> None:
        from glofwatch.models.bundle import run_model_file
        from glofwatch.models.yolo import offline_ultralytics

        run = Path(run)
        if run.is_dir():
            model_path = run_model_file(run, ".pt", "train with `glofwatch train --preset yolov8-seg` first")
            self.run_dir = run
        elif run.is_file():
            model_path, self.run_dir = run, run.parent
        else:
            raise InputError(f"{run}: model not found; give a YOLO run folder or a .pt file")
        self.model_path = model_path
        from glofwatch.runtime import resolve_device

        self.device = "0" if resolve_device(device) == "cuda" else "cpu"
        stored = run_conf_threshold(self.run_dir)
        self.conf_threshold = float(conf_threshold if conf_threshold is not None else stored or DEFAULT_CONF)
        self.imgsz = imgsz or self._train_imgsz()
        with offline_ultralytics():
            from ultralytics import YOLO

            try:
                self.model = YOLO(str(model_path), task="segment")
            except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error here
                raise InputError(f"{model_path}: cannot load the YOLO model ({exc.__class__.__name__}); "
                                 "is it an ultralytics segmentation .pt file?") from None

    def _train_imgsz(self) -> int:
        from glofwatch.models.yolo import DEFAULT_IMGSZ

        try:
            import yaml

            cfg = yaml.safe_load((self.run_dir / "config.yaml").read_text()) or {}
            return int(cfg.get("image_size") or DEFAULT_IMGSZ)
        except (FileNotFoundError, ValueError, TypeError):
            return DEFAULT_IMGSZ

    def predict_image(
        self, image: np.ndarray, grid: GeoGrid | None = None, min_conf: float | None = None
    ) -> InstanceResult:
        """Instances in one image.

        Args:
            image: (H, W, C) raw image (8-bit RGB as read by :func:`glofwatch.data.io.read_image`,
                or other bands/dtypes, rendered to 8-bit RGB as in the training folder).
            grid: the image's georeference (default: plain pixel grid).
            min_conf: lowest confidence to return (default: the run's threshold).

        Returns:
            An :class:`InstanceResult` (instances by decreasing confidence).
        """
        from glofwatch.io.image import to_display_rgb
        from glofwatch.models.yolo import offline_ultralytics

        h, w = image.shape[:2]
        grid = grid or GeoGrid.plain(h, w)
        rgb = to_display_rgb(image)
        conf = self.conf_threshold if min_conf is None else min_conf
        with offline_ultralytics():
            # Any: without stream=True this is a list of Results holding tensors, but ultralytics
            # annotates the return of every mode (iterator, ndarray masks, optional boxes)
            results: Any = self.model.predict(np.ascontiguousarray(rgb[..., ::-1]), imgsz=self.imgsz, conf=conf,
                                              retina_masks=True, device=self.device, verbose=False)
            res = results[0]
        instances: list[LakeInstance] = []
        if res.masks is not None and len(res.masks):
            masks = res.masks.data.cpu().numpy() > 0.5
            confs = res.boxes.conf.cpu().numpy()
            px_m2 = grid.pixel_area_m2() if grid.is_georeferenced else math.nan
            for m, c in zip(masks, confs, strict=True):
                m = m[:h, :w]
                area = int(m.sum())
                if area == 0:
                    continue
                rows, cols = np.nonzero(m)
                instances.append(LakeInstance(
                    mask=m, confidence=float(c), polygon=instance_polygon(m, grid), area_px=area,
                    area_m2=None if math.isnan(px_m2) else area * px_m2,
                    bbox_px=(int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)))
        instances.sort(key=lambda i: -i.confidence)
        return InstanceResult(instances, grid, self.conf_threshold)


def draw_instances(rgb: np.ndarray, result: InstanceResult) -> np.ndarray:
    """Overlay: instances above the threshold tinted and outlined, each labelled with its confidence.

    Args:
        rgb: (H, W, 3) uint8 image.
        result: the image's instances.

    Returns:
        (H, W, 3) uint8 image.
    """
    from PIL import Image, ImageDraw, ImageFont

    from glofwatch.io.image import LAKE_RGB, make_overlay

    shown = result.above()
    union = np.zeros(result.grid.shape, bool)
    for inst in shown:
        union |= inst.mask
    out = Image.fromarray(make_overlay(rgb, union))
    draw = ImageDraw.Draw(out)
    size = max(8, min(rgb.shape[0], rgb.shape[1]) // 20)
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    for inst in shown:
        x0, y0, x1, y1 = inst.bbox_px
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=LAKE_RGB)
        text = f"{inst.confidence:.2f}"
        tx, ty = x0, max(0, y0 - size - 2)
        box = draw.textbbox((tx, ty), text, font=font)
        draw.rectangle(box, fill=(0, 0, 0))
        draw.text((tx, ty), text, fill=(255, 255, 255), font=font)
    return np.asarray(out)


def predict_yolo_images(run: str | os.PathLike[str], files: list[Path], out_dir: str | os.PathLike[str],
                        device: str = "auto", conf: float | None = None) -> list[dict[str, Any]]:
    """Predict lake instances for each image file and write the outputs.

    For each image ``<id>``: ``<id>_instances.json`` (FeatureCollection, see
    :meth:`InstanceResult.to_feature_collection`), ``<id>_overlay.png``
    (instances with confidence labels) and ``<id>_mask.png`` (union mask, 0/255).

    Args:
        run: YOLO run folder or ``.pt`` file.
        files: image files.
        out_dir: output folder.
        device: auto, cpu or cuda.
        conf: confidence threshold (default: the one chosen on the run's validation split).

    Returns:
        One summary dict per image (id, n_instances, lake_area_px, files written).
    """
    from glofwatch.data.io import read_image
    from glofwatch.io.atomic import write_json_atomic
    from glofwatch.io.image import save_png, to_display_rgb

    out_dir = Path(out_dir)
    seg = YoloSegmenter(run, device=device, conf_threshold=conf)
    summaries = []
    for f in files:
        image = read_image(f)
        grid = read_grid(f, image.shape[0], image.shape[1])
        result = seg.predict_image(image, grid)
        result.meta = {"image": str(f), "model": str(seg.model_path)}
        fc = result.to_feature_collection(name=f.stem)
        json_path = write_json_atomic(out_dir / f"{f.stem}_instances.json", fc)
        overlay_path = save_png(out_dir / f"{f.stem}_overlay.png", draw_instances(to_display_rgb(image), result))
        mask = result.mask()
        mask_path = save_png(out_dir / f"{f.stem}_mask.png", mask * 255)
        summaries.append({"id": f.stem, "n_instances": fc["n_instances"], "lake_area_px": int(mask.sum()),
                          "instances": str(json_path), "overlay": str(overlay_path), "mask": str(mask_path)})
    return summaries
