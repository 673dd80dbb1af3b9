"""Real-time service: pushes task-updates to the owning user's open WebSocket connections."""
