"""Notification service: the durable reminder scheduler and in-app notifications."""
