"""Why the model said "water": overlays, Grad-CAM, figures and reports."""
