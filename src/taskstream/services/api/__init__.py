"""The api service: REST API v1, the WebSocket endpoint and the web UI."""
