"""Scene mapping: one scene or many (Dask) -> probability and mask GeoTIFFs -> lake polygons."""
