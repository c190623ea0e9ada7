"""Storage of readings in InfluxDB (line protocol over HTTP) and InfluxQL reads.

- :mod:`collector.storage.lineproto`: pure formatting of a :class:`~probes.model.Reading` into
  line protocol (the schema is documented in ``docs/influxdb-schema.md``).
- :mod:`collector.storage.influx`: :class:`~collector.storage.influx.InfluxWriter`, the batching
  writer (v1 ``/write`` or v2 ``/api/v2/write``) with retries and a disk spool.
- :mod:`collector.storage.spool`: the bounded, ordered on-disk spool it uses while InfluxDB is away.
- :mod:`collector.storage.query`: a small InfluxQL reader over ``/query``.

Errors raised on purpose are :class:`StorageError` (or a subclass), part of the one error tree.
"""

from __future__ import annotations

from probes.errors import FleetwatchError


class StorageError(FleetwatchError):
    """Storage could not do what was asked (bad configuration, spool in use, server refusal)."""


class QueryError(StorageError):
    """An InfluxQL query failed. ``status`` is the HTTP status (0 when the server was not reached);
    the message is the server's own error text."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


__all__ = ["QueryError", "StorageError"]
