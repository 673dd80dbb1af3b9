"""The services: api, recurring, notifications (with the reminder scheduler), audit and realtime."""
