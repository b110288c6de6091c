"""Lakes: polygons from lake masks (:mod:`.vectorize`) and inventories by size class (:mod:`.inventory`)."""
