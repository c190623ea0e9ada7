"""The settings of accounts, sessions and tokens: one pydantic model, defaults in one place.

The collector's YAML gets an ``auth:`` section with these keys when the config moves to
pydantic (issue 12); until then :func:`collector.app.build_app` takes an :class:`AuthSettings`
as a parameter and uses these defaults.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AuthSettings(BaseModel):
    """Who may read and change what (the role matrix itself is :mod:`collector.auth.roles`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    public_read: bool = Field(
        default=False, description="let anyone who reaches the port read pages and the read "
        "API without logging in (changes still need a login or a token)")
    session_hours: float = Field(default=12.0, gt=0, le=24 * 90,
                                 description="a login lasts this long, then asks again")
    secure_cookie: Literal["auto", "always", "never"] = Field(
        default="auto", description="mark the session cookie Secure: auto = when the request came over "
        "https (directly, or X-Forwarded-Proto: https from a proxy in trusted_proxies)")
    trusted_proxies: tuple[str, ...] = Field(
        default=(), description="addresses of reverse proxies whose X-Forwarded-Proto/-For are believed")
    login_attempts: int = Field(default=5, ge=1, le=1000,
                                description="failed logins allowed per user name and per client "
                                "address within login_window seconds")
    login_window: float = Field(default=300.0, gt=0, le=86400,
                                description="seconds over which failed logins are counted")
