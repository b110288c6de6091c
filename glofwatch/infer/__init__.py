"""Inference: predictors on every runtime (torch, ONNX Runtime, OpenVINO), the tiler, YOLO instances, evaluation
and pixel metrics."""
