"""Scenes: reading Sentinel-2 rasters window by window, 8-bit renderings, and the synthetic generator (``synth``);
knows no model."""
