"""Inference: predictors on every backend (torch, ONNX Runtime, OpenVINO), tiled prediction, YOLO instances, evaluation and pixel metrics."""
