"""YOLOv8-Seg lake instances: label conversion, offline training, prediction, evaluation.

Public entry points are re-exported by :mod:`glofwatch.models.yolo_seg`.
"""
