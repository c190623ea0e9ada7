"""Accounts, roles, sessions and API tokens (issue 13).

- :mod:`.settings`: :class:`AuthSettings` (public_read, session length, cookie, rate limit).
- :mod:`.roles`: the one role matrix and the route → permission table.
- :mod:`.store`: users, sessions and tokens in ``<state_dir>/accounts.sqlite3`` (SQLite, WAL);
  passwords hashed with argon2id, session ids and tokens stored as SHA-256 digests.
- :mod:`.middleware`: the one place the matrix is enforced, for pages and API alike, with the
  CSRF check of cookie-authenticated changes.
- :mod:`.ratelimit`: failed-login counting.

Nothing here imports :mod:`collector.web` or :mod:`collector.cli`.
"""

from collector.auth.settings import AuthSettings

DB_NAME = "accounts.sqlite3"

__all__ = ["DB_NAME", "AuthSettings"]
