"""Record in a model what rendering its training crops were in.

``glofwatch train`` and ``glofwatch demo`` call :func:`record_data_rendering` before
training, so the saved config (``config.yaml``, ``model.pt``, exported models) says
in ``input.rendering`` what the model expects: the data set's rendering
(:func:`glofwatch.data.renderings.dataset_rendering`), ``any`` for mixed renderings,
``unknown`` when the data set does not say. A config whose ``input`` already names a
rendering other than ``unknown`` keeps it.
"""

from __future__ import annotations

from pathlib import Path

from glofwatch.config import TrainConfig
from glofwatch.data.renderings import dataset_rendering, for_model
from glofwatch.scene.render import UNKNOWN


def record_data_rendering(cfg: TrainConfig, root: str | Path) -> tuple[TrainConfig, str]:
    """``cfg`` expecting the rendering of the data set in ``root``, and one phrase on where it came from.

    Returns:
        (the config, e.g. ``"false-colour (from data/synth.json)"``). The config is ``cfg``
        itself when it already names a rendering or the data set does not say.
    """
    current = cfg.input.get("rendering", UNKNOWN)
    if current != UNKNOWN:
        return cfg, f"{current} (from the config)"
    declared, source = dataset_rendering(root)
    expected = for_model(declared)
    if expected == UNKNOWN:
        return cfg, (f"{UNKNOWN} ({root} names none: write rendering.txt with true-colour, false-colour or "
                     "mixed there to have 8-bit inputs checked)")
    cfg = TrainConfig.from_dict({**cfg.to_dict(), "input": {**cfg.input, "rendering": expected}})
    return cfg, f"{expected} (from {source})"
