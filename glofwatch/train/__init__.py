"""Training: losses for one-logit binary lake segmentation, the training task and the fit loop."""
