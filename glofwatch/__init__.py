"""glofwatch: map glacial lakes in Sentinel-2 imagery and turn the maps into GLOF warnings.

Data flows through the sub-packages in this order::

    scene -> data/models -> train -> masks -> lakes -> changes -> risk -> alerts

Everything a user runs is reachable from the ``glofwatch`` command line
(:mod:`glofwatch.cli.app`).
"""

__version__ = "0.1.0"
