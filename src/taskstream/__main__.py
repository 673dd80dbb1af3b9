"""`python -m taskstream …` runs the command line."""

from taskstream.cli.main import app

app()
