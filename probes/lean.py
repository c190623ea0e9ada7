"""SNMPv1/v2c requests over one asyncio datagram endpoint, without pysnmp's engine.

Contract:
- :meth:`LeanTransport.create` opens one UDP socket (IPv4, large ``SO_RCVBUF``) for every
  v1/v2c request of a client; :meth:`close` releases it and wakes every waiting request.
- :meth:`LeanTransport.request` sends one attempt and waits for its answer at most ``timeout``
  seconds (one timer per attempt). It returns (error-status, error-index, varbinds) or None when
  nothing acceptable came back. It never retries: the caller does, so that it can count.
- An answer is accepted only from the address the request went to, with the request's
  request-id, version and community, and as a Response PDU. Anything else (late answers to an
  earlier attempt, duplicates, strangers) is dropped after reading its header only.
- Request bytes are built by pysnmp's ``proto`` API and pyasn1's BER encoder, once per distinct
  request (bounded cache); each send patches only the request-id (always 4 octets: ids stay in
  [2**24, 2**31 - 1]).
- Answers are read by :mod:`probes.ber`; what it refuses goes to pysnmp's decoder; what that
  refuses is counted in ``garbled`` under its source address (the same dict the client reports
  ``malformed_answer`` from).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import socket
from collections.abc import Sequence
from typing import Any, cast

from pyasn1.codec.ber import encoder
from pysnmp.proto import api

from probes import ber

log = logging.getLogger(__name__)

_FIRST_ID = 1 << 24  # 4-octet request-ids only, so that a template's slot never changes size
_LAST_ID = (1 << 31) - 1
Result = tuple[int, int, list[tuple[str, Any]]]
Template = tuple[bytes, bytes]  # the message before and after the request-id's 4 octets
_Pending = tuple["asyncio.Future[Result | None]", int, bytes, bool]


def encode_request(version: int, community: bytes, op: str, oids: Sequence[str], max_rep: int
                   ) -> Template:
    """The request message built with pysnmp's proto API (``version`` 0 = v1, 1 = v2c; ``op``
    get, next or bulk), split around its request-id."""
    mod: Any = api.PROTOCOL_MODULES[version]
    if op == "bulk":
        pdu = mod.GetBulkRequestPDU()
        mod.apiBulkPDU.set_defaults(pdu)
        mod.apiBulkPDU.set_non_repeaters(pdu, 0)
        mod.apiBulkPDU.set_max_repetitions(pdu, max_rep)
    else:
        pdu = mod.GetRequestPDU() if op == "get" else mod.GetNextRequestPDU()
        mod.apiPDU.set_defaults(pdu)
    mod.apiPDU.set_request_id(pdu, _FIRST_ID)
    mod.apiPDU.set_varbinds(pdu, [(mod.ObjectIdentifier(oid), mod.null) for oid in oids])
    msg = mod.Message()
    mod.apiMessage.set_defaults(msg)
    mod.apiMessage.set_community(msg, mod.OctetString(community))
    mod.apiMessage.set_pdu(msg, pdu)
    data: bytes = encoder.encode(msg)
    slot = _request_id_slot(data)
    return data[:slot], data[slot + 4:]


def _request_id_slot(data: bytes) -> int:
    """Offset of the request-id's 4 content octets in an encoded request message."""
    end = len(data)
    _, i = ber._length(data, 1, end)  # message SEQUENCE
    for _field in range(2):  # version, community
        n, i = ber._length(data, i + 1, end)
        i += n
    _, i = ber._length(data, i + 1, end)  # the PDU
    if data[i:i + 2] != b"\x02\x04":
        raise ValueError("request-id is not a 4-octet INTEGER")
    return i + 2


class RequestCache:
    """Bounded map of request → template. When full, the older half goes: a fleet polled in a
    cycle larger than the bound still hits on the newer half (a plain LRU would hit nothing)."""

    def __init__(self, size: int) -> None:
        self.size = max(2, size)
        self._data: dict[tuple[Any, ...], Template] = {}
        self.hits = 0
        self.misses = 0

    def get(self, version: int, community: bytes, op: str, oids: Sequence[str], max_rep: int
            ) -> Template:
        key = (version, community, op, max_rep, *oids)
        found = self._data.get(key)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        if len(self._data) >= self.size:
            for old in list(itertools.islice(self._data, self.size // 2)):
                del self._data[old]
        found = self._data[key] = encode_request(version, community, op, oids, max_rep)
        return found

    def __len__(self) -> int:
        return len(self._data)


def _expire(future: asyncio.Future[Result | None]) -> None:
    if not future.done():
        future.set_result(None)


class LeanTransport(asyncio.DatagramProtocol):
    def __init__(self, garbled: dict[tuple[str, int], int], cache_size: int) -> None:
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: dict[tuple[str, int, int], _Pending] = {}
        self._next_id = random.randint(_FIRST_ID, _LAST_ID)
        self.garbled = garbled
        self.cache = RequestCache(cache_size)
        self.dropped = 0  # answers nobody waited for: late, duplicate, or from a stranger
        self.slow = 0  # answers the strict reader refused and pysnmp's decoder read

    @classmethod
    async def create(cls, garbled: dict[tuple[str, int], int], rcvbuf: int, cache_size: int
                     ) -> LeanTransport:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        except OSError as err:  # best effort, never fatal
            log.debug("could not enlarge SNMP receive buffer: %s", err)
        sock.bind(("0.0.0.0", 0))
        sock.setblocking(False)
        self = cls(garbled, cache_size)
        await asyncio.get_running_loop().create_datagram_endpoint(lambda: self, sock=sock)
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for future, *_ in self._pending.values():
            _expire(future)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def _request_id(self) -> int:
        rid = self._next_id
        self._next_id = rid + 1 if rid < _LAST_ID else _FIRST_ID
        return rid

    async def request(self, address: tuple[str, int], version: int, community: bytes, op: str,
                      oids: Sequence[str], max_rep: int, timeout: float) -> Result | None:
        if self._transport is None:
            raise RuntimeError("the SNMP transport is closed")
        head, tail = self.cache.get(version, community, op, oids, max_rep)
        rid = self._request_id()
        key = (address[0], address[1], rid)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result | None] = loop.create_future()
        self._pending[key] = (future, version, community, op == "next")
        timer = loop.call_later(timeout, _expire, future)
        try:
            self._transport.sendto(b"".join((head, rid.to_bytes(4, "big"), tail)), address)
            return await future
        finally:
            timer.cancel()
            del self._pending[key]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            version, community, _, rid, offset = ber.read_header(data)
        except ber.Refused:
            self._slow_path(data, addr)
            return
        pending = self._pending.get((addr[0], addr[1], rid))
        if pending is None or pending[1] != version or pending[2] != community:
            self.dropped += 1
            return
        future = pending[0]
        if future.done():
            self.dropped += 1
            return
        try:
            result = ber.read_body(data, version, offset, pending[3])
        except ber.Refused:
            self._slow_path(data, addr)
            return
        future.set_result(result)

    def _slow_path(self, data: bytes, addr: tuple[str, int]) -> None:
        source = (str(addr[0]), int(addr[1]))
        try:
            version, community, tag, rid, pdu = ber.pysnmp_decode(data)
        except ber.Malformed:
            self.garbled[source] = self.garbled.get(source, 0) + 1
            return
        pending = self._pending.get((source[0], source[1], rid))
        if (tag != ber.RESPONSE or pending is None or pending[1] != version
                or pending[2] != community or pending[0].done()):
            self.dropped += 1
            return
        try:
            result = ber.pysnmp_body(version, pdu, pending[3])
        except ber.Malformed:
            self.garbled[source] = self.garbled.get(source, 0) + 1
            return
        self.slow += 1
        pending[0].set_result(result)

    def error_received(self, exc: Exception) -> None:
        log.debug("SNMP socket error: %s", exc)
