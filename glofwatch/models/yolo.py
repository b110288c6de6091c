"""Use ultralytics without any network access.

Ultralytics reaches for the network in several places; each is switched off here:

===============================  ==========================================  ==================================
What                             Where in ultralytics                         How it is switched off
===============================  ==========================================  ==================================
DNS "am I online" probe          ``utils.is_online`` at import time           ``YOLO_OFFLINE=1`` (before import)
pip auto-install of packages     ``utils.checks.check_requirements``          ``YOLO_AUTOINSTALL=false``, and
                                                                               ``AUTOINSTALL``/``ONLINE`` patched
PyPI "new version" check         ``checks.check_pip_update_available``        patched to return False
Arial.ttf font download          ``checks.check_font`` (data check, plots)    patched: local matplotlib font
AMP check (downloads yolo26n.pt) ``engine.trainer.check_amp``                 patched: AMP on CUDA, off on CPU
Analytics events, Platform/HUB,  ``utils.callbacks.add_integration_callbacks`` patched to add none
MLflow/Comet/ClearML/... logging
Settings file in ~/.config       ``utils.USER_CONFIG_DIR``                    ``YOLO_CONFIG_DIR`` (glofwatch cache)
Weight downloads (``*.pt``)      ``downloads.attempt_download_asset``         never asked: models are built from
                                                                               ``yolov8*-seg.yaml``; a ``.pt``
                                                                               must be an existing file
===============================  ==========================================  ==================================

Plots are turned off in the training arguments (``plots=False``) as well.
Everything patched is restored when :func:`offline_ultralytics` exits.
The environment variables are set with ``setdefault`` before ultralytics is
first imported (:func:`import_ultralytics`), so a user's own values win.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from glofwatch.errors import ConfigError
from glofwatch.io.files import cache_root

ENV_DEFAULTS = {
    "YOLO_OFFLINE": "1",
    "YOLO_AUTOINSTALL": "false",
}


YOLO_SIZES = ("n", "s", "m", "l", "x")
YOLO_MODELS = tuple(f"yolov8{s}-seg" for s in YOLO_SIZES)
RUN_KIND = "yolo-seg"
DEFAULT_IMGSZ = 640


def is_yolo_model(name: str) -> bool:
    """True for YOLOv8-Seg model names (``yolov8n-seg`` ... ``yolov8x-seg``)."""
    return str(name).startswith("yolov8")


def is_yolo_run(path: str | Path) -> bool:
    """True when ``path`` is a YOLO run folder or a file inside one (``run.json`` kind or config model)."""
    from glofwatch.io.files import read_json

    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if read_json(folder / "run.json").get("kind") == RUN_KIND:
        return True
    cfg_path = folder / "config.yaml"
    if cfg_path.is_file():
        import yaml

        with contextlib.suppress(yaml.YAMLError, AttributeError):
            return is_yolo_model((yaml.safe_load(cfg_path.read_text()) or {}).get("model", ""))
    return False


def import_ultralytics() -> ModuleType:
    """Import ultralytics with the offline environment set first.

    Returns:
        The ``ultralytics`` module.

    Raises:
        ConfigError: ultralytics is not installed.
    """
    for key, value in ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(cache_root() / "ultralytics"))
    from PIL import Image

    pil_open = Image.open
    try:
        import ultralytics
        import ultralytics.utils.patches  # noqa: F401  (patches PIL.Image.open on import)
    except ModuleNotFoundError as exc:
        if exc.name != "ultralytics":
            raise
        raise ConfigError(
            "YOLOv8-Seg needs the ultralytics package; install it with `pip install ultralytics`"
        ) from None
    finally:
        # ultralytics replaces PIL.Image.open process-wide with a version that, on any file PIL cannot
        # identify, tries to install and import pi-heif (a crash offline); glofwatch keeps PIL's own
        Image.open = getattr(sys.modules.get("ultralytics.utils.patches"), "_image_open", pil_open)
    return ultralytics


def _local_font(font: str = "Arial.ttf") -> Path | None:
    """A font file on disk (matplotlib's DejaVu Sans); never downloads."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    return path if path.is_file() else None


def _no_amp_check(model: Any) -> bool:
    """AMP on CUDA without ultralytics' check (that check downloads a model to compare outputs)."""
    import torch

    device = next(model.parameters()).device
    return device.type == "cuda" and torch.cuda.is_available()


@contextlib.contextmanager
def offline_ultralytics() -> Iterator[ModuleType]:
    """Context in which ultralytics makes no network access (see the module table).

    Yields:
        The ``ultralytics`` module.
    """
    ultralytics = import_ultralytics()
    import ultralytics.data.utils as data_utils
    import ultralytics.engine.trainer as trainer_mod
    import ultralytics.utils as ul_utils
    import ultralytics.utils.callbacks as callbacks_pkg
    import ultralytics.utils.checks as checks
    import ultralytics.utils.events as events
    import ultralytics.utils.plotting as plotting

    patches: list[tuple[Any, str, Any]] = [
        # constants read at import: right even when ultralytics was imported before the environment was set
        (ul_utils, "ONLINE", False),
        (ul_utils, "AUTOINSTALL", False),
        (checks, "ONLINE", False),
        (checks, "AUTOINSTALL", False),
        (events, "ONLINE", False),
        (events.events, "enabled", False),
        (checks, "check_pip_update_available", lambda: False),
        (checks, "check_font", _local_font),
        (data_utils, "check_font", _local_font),
        (plotting, "check_font", _local_font),
        (trainer_mod, "check_amp", _no_amp_check),
        (callbacks_pkg, "add_integration_callbacks", lambda instance: None),
    ]
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
    try:
        for obj, name, value in patches:
            setattr(obj, name, value)
        yield ultralytics
    finally:
        for obj, name, value in saved:
            setattr(obj, name, value)
