"""Users, sessions and API tokens in ``<state_dir>/accounts.sqlite3`` (SQLite, WAL).

- Passwords: argon2id through argon2-cffi's ``PasswordHasher`` (its defaults follow RFC 9106's
  second recommended profile); a hash made with older parameters is rehashed at the next login.
- Session ids and API tokens are 256-bit random strings; only their SHA-256 digest is stored
  (a digest of a high-entropy secret needs no slow KDF, and lets a lookup be one index probe).
  A stolen database file therefore opens no session and no token.
- A per-user token acts with its user's current role (and dies with the user); a service token
  has its own name and role. Tokens may expire and can be revoked.

:class:`Accounts` is the synchronous core (the ``fleetwatch users`` command uses it directly);
:class:`AccountStore` runs the same methods on one worker thread for the aiohttp service.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, ParamSpec, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from collector.auth.roles import ROLES, Role
from collector.storage import sqlite
from collector.storage.sqlite import Worker
from probes.errors import FleetwatchError

P = ParamSpec("P")
T = TypeVar("T")

SCHEMA_VERSION: Final = 1
_SCHEMA: Final = """
CREATE TABLE users (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  pw_hash TEXT NOT NULL,
  created_at REAL NOT NULL,
  password_changed_at REAL NOT NULL
);
CREATE TABLE sessions (
  digest TEXT PRIMARY KEY,
  user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
  csrf TEXT NOT NULL,
  created_at REAL NOT NULL,
  expires_at REAL NOT NULL
);
CREATE INDEX sessions_user ON sessions(user);
CREATE TABLE tokens (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  user TEXT REFERENCES users(name) ON DELETE CASCADE,
  role TEXT,
  digest TEXT NOT NULL UNIQUE,
  created_at REAL NOT NULL,
  expires_at REAL,
  revoked_at REAL,
  last_used_at REAL,
  CHECK ((user IS NULL) != (role IS NULL))
);
"""
NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD: Final = 10
MAX_PASSWORD: Final = 1024
TOKEN_PREFIX: Final = "fwt_"

_hasher = PasswordHasher()
# Verified against when the user name is unknown, so that a wrong name costs the same time as a
# wrong password (no user enumeration by timing).
_DUMMY_HASH: Final = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(FleetwatchError):
    """A refused account operation (bad name, short password, unknown user, …)."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def check_name(name: str, what: str = "user name") -> str:
    if not NAME_RE.fullmatch(name):
        raise AccountError(f"{what} {name[:70]!r} is not allowed: 1-64 characters of letters, "
                           "digits and . _ @ -, starting with a letter or digit")
    return name


def check_role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise AccountError(f"unknown role {role!r} (one of: {', '.join(ROLES)})")


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password too short: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"password too long: at most {MAX_PASSWORD} characters")
    return password


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    created_at: float


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as. ``kind``: a user (by session or own token), a service token, or
    the legacy shared ``collector.api_token``. ``csrf`` is set for session logins only."""

    name: str
    role: Role
    kind: Literal["user", "service", "legacy"]
    via: Literal["session", "token"]
    csrf: str | None = None
    session: str | None = None  # the session id (for logout), never stored in clear


@dataclass(frozen=True, slots=True)
class Token:
    id: int
    name: str
    user: str | None
    role: Role | None
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= time.time():
            return "expired"
        return "active"


class Accounts:
    """The synchronous store. ``Accounts.open(path)``; ``close()`` when done. Not thread-safe:
    one thread at a time (:class:`AccountStore` keeps it on one worker)."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    @classmethod
    def open(cls, path: Path) -> Accounts:
        """Open (creating) the database. Raises AccountError when the file is not usable."""
        def setup(conn: sqlite3.Connection) -> None:
            sqlite.use_wal(conn, foreign_keys=True)
            version = sqlite.schema_version(conn)
            if version > SCHEMA_VERSION:
                raise AccountError(f"{path}: accounts database has schema version {version}, "
                                   f"this Fleetwatch knows up to {SCHEMA_VERSION}: upgrade")
            if version == 0:
                conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA};PRAGMA user_version="
                                   f"{SCHEMA_VERSION};COMMIT;")

        conn = sqlite.open_db(
            path, setup, timeout=10, rows=True, mkdir=True,
            error=lambda err: AccountError(f"{path}: cannot use accounts database: {err}"))
        path.chmod(0o600)  # password hashes and token digests: the service's eyes only
        return cls(conn, path)

    def close(self) -> None:
        self._conn.close()

    def _write(self, sql: str, args: tuple[object, ...] = ()) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, args)
        except sqlite3.Error as err:
            raise AccountError(f"{self.path}: {err}") from err

    # --- users ---------------------------------------------------------------------------------
    def add_user(self, name: str, role: str, password: str) -> User:
        check_name(name)
        role = check_role(role)
        pw_hash = _hasher.hash(check_password(password))
        now = time.time()
        try:
            self._conn.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?)",
                               (name, role, pw_hash, now, now))
        except sqlite3.IntegrityError:
            raise AccountError(f"user {name!r} exists already") from None
        return User(name, role, now)

    def users(self) -> list[User]:
        return [User(r["name"], r["role"], r["created_at"]) for r in
                self._conn.execute("SELECT * FROM users ORDER BY name")]

    def user(self, name: str) -> User | None:
        r = self._conn.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        return None if r is None else User(r["name"], r["role"], r["created_at"])

    def remove_user(self, name: str) -> None:
        """Removes the user with its sessions and own tokens."""
        if self._write("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
            raise AccountError(f"no user {name!r}")

    def set_password(self, name: str, password: str) -> None:
        """New password; every session of the user ends (tokens stay)."""
        pw_hash = _hasher.hash(check_password(password))
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            cur = self._conn.execute("UPDATE users SET pw_hash = ?, password_changed_at = ? "
                                     "WHERE name = ?", (pw_hash, time.time(), name))
            if cur.rowcount == 0:
                raise AccountError(f"no user {name!r}")
            self._conn.execute("DELETE FROM sessions WHERE user = ?", (name,))
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def set_role(self, name: str, role: str) -> None:
        role = check_role(role)
        if self._write("UPDATE users SET role = ? WHERE name = ?", (role, name)).rowcount == 0:
            raise AccountError(f"no user {name!r}")

    def verify_password(self, name: str, password: str) -> User | None:
        """The user when ``password`` is theirs, else None (same cost for an unknown name)."""
        row = self._conn.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        stored = row["pw_hash"] if row is not None else _DUMMY_HASH
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if _hasher.check_needs_rehash(stored):
            self._write("UPDATE users SET pw_hash = ? WHERE name = ?",
                        (_hasher.hash(password), name))
        return User(row["name"], row["role"], row["created_at"])

    # --- sessions ------------------------------------------------------------------------------
    def new_session(self, name: str, hours: float) -> tuple[str, str, float]:
        """A new session for ``name``: (session id for the cookie, CSRF token, expiry)."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = time.time()
        expires = now + hours * 3600
        self._write("DELETE FROM sessions WHERE expires_at <= ?", (now,))
        self._write("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                    (digest(sid), name, csrf, now, expires))
        return sid, csrf, expires

    def session(self, sid: str) -> Principal | None:
        row = self._conn.execute(
            "SELECT s.csrf, s.expires_at, u.name, u.role FROM sessions s JOIN users u "
            "ON u.name = s.user WHERE s.digest = ?", (digest(sid),)).fetchone()
        if row is None or row["expires_at"] <= time.time():
            return None
        return Principal(row["name"], row["role"], "user", "session", csrf=row["csrf"],
                         session=sid)

    def end_session(self, sid: str) -> None:
        self._write("DELETE FROM sessions WHERE digest = ?", (digest(sid),))

    # --- tokens --------------------------------------------------------------------------------
    def new_token(self, name: str, *, user: str | None = None, role: str | None = None,
                  expires_at: float | None = None) -> tuple[Token, str]:
        """A per-user token (``user``: acts with that user's role) or a service token (``role``);
        returns the token and its secret, shown once and never stored."""
        check_name(name, "token name")
        if (user is None) == (role is None):
            raise AccountError("a token is either a user's (give the user) or a service's "
                               "(give a role)")
        if role is not None:
            role = check_role(role)
        if user is not None and self.user(user) is None:
            raise AccountError(f"no user {user!r}")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = time.time()
        cur = self._write("INSERT INTO tokens (name, user, role, digest, created_at, expires_at) "
                          "VALUES (?, ?, ?, ?, ?, ?)",
                          (name, user, role, digest(secret), now, expires_at))
        token = self.token(int(cur.lastrowid or 0))
        assert token is not None
        return token, secret

    def token(self, token_id: int) -> Token | None:
        r = self._conn.execute("SELECT * FROM tokens WHERE id = ?", (token_id,)).fetchone()
        return None if r is None else _token(r)

    def tokens(self) -> list[Token]:
        return [_token(r) for r in self._conn.execute("SELECT * FROM tokens ORDER BY id")]

    def revoke_token(self, token_id: int) -> None:
        cur = self._write("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                          (time.time(), token_id))
        if cur.rowcount == 0:
            raise AccountError(f"no active token #{token_id}")

    def check_token(self, secret: str) -> Principal | None:
        """Who a bearer token acts as; None when unknown, revoked or expired."""
        row = self._conn.execute(
            "SELECT t.id, t.name, t.user, t.role AS trole, t.expires_at, t.revoked_at, "
            "t.digest, u.role AS urole FROM tokens t LEFT JOIN users u ON u.name = t.user "
            "WHERE t.digest = ?", (digest(secret),)).fetchone()
        now = time.time()
        if (row is None or row["revoked_at"] is not None
                or (row["expires_at"] is not None and row["expires_at"] <= now)
                or not hmac.compare_digest(row["digest"], digest(secret))):
            return None
        self._write("UPDATE tokens SET last_used_at = ? WHERE id = ?", (now, row["id"]))
        if row["user"] is not None:
            return Principal(row["user"], row["urole"], "user", "token")
        return Principal(row["name"], row["trole"], "service", "token")


def _token(r: sqlite3.Row) -> Token:
    return Token(r["id"], r["name"], r["user"], r["role"], r["created_at"], r["expires_at"],
                 r["revoked_at"], r["last_used_at"])


class AccountStore:
    """:class:`Accounts` for the event loop: every call runs on one worker thread (argon2 takes
    tens of milliseconds of CPU and must not stall the loop). ``await AccountStore.open(path)``."""

    def __init__(self, accounts: Accounts, worker: Worker) -> None:
        self.accounts = accounts
        self._worker = worker

    @classmethod
    async def open(cls, path: Path) -> AccountStore:
        worker, accounts = await Worker.start("accounts-db", functools.partial(Accounts.open,
                                                                               path))
        return cls(accounts, worker)

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await self._worker.run(fn, *args, **kwargs)
        except sqlite3.Error as err:
            raise AccountError(f"{self.accounts.path}: {err}") from err

    async def close(self) -> None:
        await self._worker.close(self.accounts.close)

    async def verify_password(self, name: str, password: str) -> User | None:
        return await self._run(self.accounts.verify_password, name, password)

    async def new_session(self, name: str, hours: float) -> tuple[str, str, float]:
        return await self._run(self.accounts.new_session, name, hours)

    async def session(self, sid: str) -> Principal | None:
        return await self._run(self.accounts.session, sid)

    async def end_session(self, sid: str) -> None:
        await self._run(self.accounts.end_session, sid)

    async def check_token(self, secret: str) -> Principal | None:
        """:meth:`Accounts.check_token` on the worker. A secret without :data:`TOKEN_PREFIX`
        is None at once, without a database lookup: every account token has carried the prefix
        since tokens exist, and agents' bearer tokens (``collector/ingest``) have none, so each
        agent report no longer costs a thread hop and a query here."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        return await self._run(self.accounts.check_token, secret)

    async def users(self) -> list[User]:
        return await self._run(self.accounts.users)
