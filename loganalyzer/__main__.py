"""``python -m loganalyzer``."""

from loganalyzer.cli import run

run()
