"""Notifications: reminders fire on time and reach the user once."""
