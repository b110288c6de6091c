"""All training: losses, the Lightning task and fit loop with exact resume, and YOLOv8-Seg runs."""
