"""The accounts store on a real SQLite file: users, argon2 hashes, sessions, tokens."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from collector.auth.ratelimit import LoginLimiter
from collector.auth.store import AccountError, Accounts, digest

PASSWORD = "correct horse battery"


@pytest.fixture()
def accounts(tmp_path: Path) -> Accounts:
    a = Accounts.open(tmp_path / "accounts.sqlite3")
    yield a
    a.close()


def test_password_is_stored_as_argon2id_and_verified(accounts: Accounts, tmp_path: Path) -> None:
    accounts.add_user("alice", "admin", PASSWORD)
    raw = sqlite3.connect(tmp_path / "accounts.sqlite3").execute(
        "SELECT pw_hash FROM users").fetchone()[0]
    assert raw.startswith("$argon2id$") and PASSWORD not in raw
    assert accounts.verify_password("alice", PASSWORD).role == "admin"
    assert accounts.verify_password("alice", PASSWORD + "x") is None
    assert accounts.verify_password("nobody", PASSWORD) is None
    wal = sqlite3.connect(tmp_path / "accounts.sqlite3").execute("PRAGMA journal_mode").fetchone()
    assert wal[0] == "wal"
    assert (tmp_path / "accounts.sqlite3").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(("name", "role", "password", "message"), [
    ("alice", "admin", "short", "too short"),
    ("al ice", "admin", PASSWORD, "not allowed"),
    ("<script>", "admin", PASSWORD, "not allowed"),
    ("alice", "root", PASSWORD, "unknown role"),
])
def test_bad_accounts_are_refused(accounts: Accounts, name: str, role: str, password: str,
                                  message: str) -> None:
    with pytest.raises(AccountError, match=message):
        accounts.add_user(name, role, password)
    assert accounts.users() == []


def test_duplicate_user_refused(accounts: Accounts) -> None:
    accounts.add_user("alice", "viewer", PASSWORD)
    with pytest.raises(AccountError, match="exists"):
        accounts.add_user("alice", "admin", PASSWORD)


def test_sessions_expire_end_and_die_with_a_new_password(accounts: Accounts,
                                                         tmp_path: Path) -> None:
    accounts.add_user("bob", "technician", PASSWORD)
    sid, csrf, expires = accounts.new_session("bob", hours=1)
    who = accounts.session(sid)
    assert who is not None and (who.name, who.role, who.csrf) == ("bob", "technician", csrf)
    assert expires == pytest.approx(time.time() + 3600, abs=5)
    stored = sqlite3.connect(tmp_path / "accounts.sqlite3").execute(
        "SELECT digest FROM sessions").fetchone()[0]
    assert stored == digest(sid) and sid not in stored
    short, _, _ = accounts.new_session("bob", hours=0.5 / 3600)
    time.sleep(0.6)
    assert accounts.session(short) is None  # expired
    accounts.set_password("bob", PASSWORD + "!")
    assert accounts.session(sid) is None
    sid2, _, _ = accounts.new_session("bob", hours=1)
    accounts.end_session(sid2)
    assert accounts.session(sid2) is None


def test_tokens_user_and_service_revocable_expiring(accounts: Accounts) -> None:
    accounts.add_user("carol", "viewer", PASSWORD)
    token, secret = accounts.new_token("laptop", user="carol")
    assert accounts.check_token(secret).name == "carol"
    accounts.set_role("carol", "technician")
    assert accounts.check_token(secret).role == "technician"  # follows the user's role
    svc, svc_secret = accounts.new_token("bridge", role="technician")
    who = accounts.check_token(svc_secret)
    assert (who.name, who.kind, who.role) == ("bridge", "service", "technician")
    accounts.revoke_token(svc.id)
    assert accounts.check_token(svc_secret) is None
    assert accounts.token(svc.id).state == "revoked"
    _, old = accounts.new_token("old", role="viewer", expires_at=time.time() - 1)
    assert accounts.check_token(old) is None
    assert accounts.check_token("fwt_guess") is None
    accounts.remove_user("carol")
    assert accounts.check_token(secret) is None  # a user's tokens go with the user
    assert accounts.token(token.id) is None
    with pytest.raises(AccountError, match="either"):
        accounts.new_token("x", user="carol", role="admin")


def test_limiter_counts_failures_per_key_within_window() -> None:
    now = [0.0]
    limiter = LoginLimiter(3, 60, clock=lambda: now[0])
    for _ in range(3):
        assert limiter.retry_after("user:a", "addr:1") == 0
        limiter.failed("user:a", "addr:1")
    assert limiter.retry_after("user:a") == pytest.approx(60)
    assert limiter.retry_after("addr:1", "user:b") == pytest.approx(60)
    assert limiter.retry_after("user:b", "addr:2") == 0
    now[0] = 61
    assert limiter.retry_after("user:a", "addr:1") == 0
