"""The ``glofwatch`` command line (Typer). One module per stage."""
