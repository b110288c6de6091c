"""Base layer: atomic writers (JSON, text, bytes, PNG, GeoTIFF), small-file readers, overlay pictures; every stage
may use it."""
