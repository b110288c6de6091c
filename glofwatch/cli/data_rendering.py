"""``glofwatch data rendering``: which 8-bit rendering images are in, and how sure the detector is."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from glofwatch.cli.data import data_app


def _image_files(path: Path) -> list[Path]:
    """Images of ``path``: a file, a folder of images, ``ROOT/images`` or ``ROOT/{train,test}/images``."""
    from glofwatch.data.io import IMAGE_SUFFIXES, list_image_files

    if path.is_dir() and not any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir()):
        subs = [path / "images"] if (path / "images").is_dir() else [
            path / s / "images" for s in ("train", "test") if (path / s / "images").is_dir()]
        if subs:
            return list_image_files(subs)
    return list_image_files([path])


@data_app.command("rendering")
def rendering_cmd(
    paths: list[Path] = typer.Argument(..., help="Image files, folders of images or data roots."),
    expect: Optional[str] = typer.Option(None, "--expect", help="The rendering they really are (true-colour or "
                                         "false-colour): also report the detector's accuracy."),
    draws: int = typer.Option(500, "--draws", help="With --expect: random folders of 24 images judged together."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random folders."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the numbers as JSON here."),
) -> None:
    """Detect the rendering (true or near-infrared false colour) of 8-bit RGB images, per image and per folder."""
    import numpy as np

    from glofwatch.data.io import read_image
    from glofwatch.errors import ConfigError
    from glofwatch.infer.rendering import SAMPLE_IMAGES, sample_evenly
    from glofwatch.io.atomic import write_json_atomic
    from glofwatch.scene.detect import UNDETERMINED, detect_rendering, vote
    from glofwatch.scene.render import RENDERINGS

    if expect is not None:
        RENDERINGS.get(expect)
    if draws < 0:
        raise ConfigError(f"--draws {draws} must be 0 or more")
    report: dict[str, Any] = {"expect": expect, "sample_images": SAMPLE_IMAGES, "paths": {}}
    for path in paths:
        files = _image_files(path)
        guesses = []
        for f in files:
            image = read_image(f)
            if image.shape[2] == 3:
                guesses.append(detect_rendering(image))
        if not guesses:
            raise ConfigError(f"{path}: no 3-band images to look at")
        counts = {k: sum(g.rendering == k for g in guesses) for k in ("true-colour", "false-colour", UNDETERMINED)}
        verdict = vote([guesses[i] for i in sample_evenly(len(guesses))])
        entry: dict[str, Any] = {"images": len(guesses), "per_image": counts, "folder": verdict.rendering}
        line = (f"{path}: {len(guesses)} images, {counts['true-colour']} look true-colour, {counts['false-colour']} "
                f"false-colour, {counts[UNDETERMINED]} undetermined; folder (sample of "
                f"{min(SAMPLE_IMAGES, len(guesses))}): {verdict.rendering}")
        if expect is not None:
            n = len(guesses)
            right = counts[expect] / n
            wrong = (n - counts[expect] - counts[UNDETERMINED]) / n
            entry["per_image_accuracy"] = {"right": round(right, 4), "wrong": round(wrong, 4),
                                           "undetermined": round(counts[UNDETERMINED] / n, 4),
                                           "right_of_decided": round(right / max(right + wrong, 1e-9), 4)}
            rng = np.random.default_rng(seed)
            k = min(SAMPLE_IMAGES, n)
            verdicts = [vote([guesses[i] for i in rng.choice(n, k, replace=False)]).rendering for _ in range(draws)]
            if draws:
                entry["folder_accuracy"] = {
                    "draws": draws, "images_per_folder": k,
                    "right": round(sum(v == expect for v in verdicts) / draws, 4),
                    "wrong": round(sum(v not in (expect, UNDETERMINED) for v in verdicts) / draws, 4),
                    "undetermined": round(sum(v == UNDETERMINED for v in verdicts) / draws, 4)}
            line += (f"\n  per image: {100 * right:.1f} % right, {100 * wrong:.1f} % wrong, "
                     f"{100 * counts[UNDETERMINED] / n:.1f} % undetermined")
            if draws:
                fa = entry["folder_accuracy"]
                line += (f"; folders of {k}: {100 * fa['right']:.1f} % right, {100 * fa['wrong']:.1f} % wrong, "
                         f"{100 * fa['undetermined']:.1f} % undetermined ({draws} random folders)")
        report["paths"][str(path)] = entry
        typer.echo(line)
    if json_out is not None:
        write_json_atomic(json_out, report)


def register(app: typer.Typer) -> None:
    """Nothing to add: ``rendering`` hangs on the ``data`` sub-app registered by ``glofwatch.cli.data``."""
