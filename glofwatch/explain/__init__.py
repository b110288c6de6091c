"""Why the model said "water": Grad-CAM, heat maps, the 5-panel figures, curves and error analysis."""
