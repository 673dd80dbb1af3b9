"""The `taskstream` command line."""
