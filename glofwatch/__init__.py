"""glofwatch: map glacial lakes in Sentinel-2 imagery and turn the maps into GLOF warnings.

Data flows through the sub-packages in this order, each importing only the ones
before it (import-linter contracts in ``pyproject.toml``)::

    base (errors, registry, geo, runtime, connectivity, study, io) -> scene -> data
    -> config -> models -> infer -> train | lakes -> mapping -> changes -> risk
    -> alerts -> pipeline -> explain -> report -> webmap -> watch -> bench -> cli

Everything a user runs is reachable from the ``glofwatch`` command line
(:mod:`glofwatch.cli.app`).
"""

__version__ = "0.1.0"
