"""What a training run returns, for Lightning and YOLO runs alike."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class TrainResult:
    """What a finished (or stopped) run produced."""

    run_dir: Path
    best_metrics: dict[str, Any]
    epochs: int
    seconds: float
    stopped_by: str
