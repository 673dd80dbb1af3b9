"""The HTTP entry point: the FastAPI app, its dependencies, error mapping, tokens and health routes."""
