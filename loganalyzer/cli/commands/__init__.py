"""One module per command or command group; :mod:`loganalyzer.cli` registers them."""
