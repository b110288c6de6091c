"""Base layer: atomic file writers (JSON, text, bytes, PNG, GeoTIFF) that every stage may use."""
