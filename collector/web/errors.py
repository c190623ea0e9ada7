"""The outermost middleware: every error under ``/api/`` is JSON, and no exception escapes as
aiohttp's plain-text 500 anywhere."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger(__name__)


class OneLineBadRequests(logging.Filter):
    """Turns aiohttp's logged traceback for a request its HTTP parser refused (bad
    Content-Length, control characters, no Host, ...; answered 400 before any middleware) into
    one INFO line: it is the client's mistake, and a flood of them must not flood the log with
    tracebacks. Installed on the ``aiohttp.server`` logger by :func:`quiet_bad_requests`."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= (exc.code or 0) < 500:
            reason = (exc.message or "").strip().splitlines()[:1] or [""]
            record.msg = f"{record.getMessage()}: HTTP {exc.code} {reason[0]}"
            record.args = ()
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


_ONE_LINE = OneLineBadRequests()


def quiet_bad_requests() -> None:
    """Install :class:`OneLineBadRequests` (once; calling again changes nothing)."""
    logging.getLogger("aiohttp.server").addFilter(_ONE_LINE)


@web.middleware
async def api_json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Under ``/api/``, every error is JSON ``{"error": ...}``: aiohttp's own answers (404 for
    an unknown path, 405, 413 for a body over the size limit) and a bug's 500 as well. Pages keep
    their own 4xx answers, but a bug there is the same logged JSON 500, never a traceback."""
    if not request.path.startswith("/api/"):
        try:
            result: web.StreamResponse = await handler(request)
            return result
        except web.HTTPException:
            raise
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return web.json_response({"error": "internal error (logged by the collector)"},
                                     status=500)
    try:
        result = await handler(request)
        return result
    except web.HTTPException as err:
        if err.status < 400:
            raise
        text = err.text or ""
        # aiohttp's default text is "404: Not Found"; a specific one (413's sizes) is kept
        message = err.reason if not text or text.startswith(f"{err.status}:") else text
        return web.json_response({"error": message}, status=err.status)
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return web.json_response({"error": "internal error (logged by the collector)"},
                                 status=500)
