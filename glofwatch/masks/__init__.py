"""Lake masks: prediction, tiled blending, writing and pixel metrics."""
