"""Scenes: reading Sentinel-2 rasters, tiling them, and synthesising test scenes (``synth``)."""
