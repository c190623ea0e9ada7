"""Accounts, roles, sessions, API tokens (issue 13)."""
