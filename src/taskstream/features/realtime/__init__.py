"""Realtime: every change pushed to the user's open windows over WebSockets."""
