"""The web map: ``glofwatch serve DIR`` shows lakes, changes, hazard and alerts in a browser, offline.

One FastAPI app (:func:`glofwatch.webmap.app.create_app`) reads the outputs of
``map``, ``monitor``, ``risk`` and ``alerts`` found anywhere under ``DIR``
(:mod:`~glofwatch.webmap.layout`), holds them in memory
(:mod:`~glofwatch.webmap.catalog`) and serves a JSON API
(:mod:`~glofwatch.webmap.api`) and a single Leaflet page (``static/``).
Leaflet is served by the app itself (fetched once by ``fetch_assets.sh``) and
the basemap is the scenes' own imagery (:mod:`~glofwatch.webmap.imagery`), so
nothing is loaded from the internet.
"""
