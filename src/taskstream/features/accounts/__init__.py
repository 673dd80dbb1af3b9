"""Accounts: sign-up, sign-in, the signed-in user."""
