"""Web map (issue 16, not built yet): serves lakes, changes, hazard and alerts to a browser, offline."""
