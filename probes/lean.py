"""SNMPv1/v2c requests over one asyncio datagram endpoint, without pysnmp's engine.

Contract:
- :meth:`LeanTransport.create` opens one UDP socket (IPv4, large ``SO_RCVBUF``) for every
  v1/v2c request of a client; :meth:`close` releases it and wakes every waiting request.
- :meth:`LeanTransport.request` sends one attempt and waits for its answer at most ``timeout``
  seconds (one timer per attempt). It returns (error-status, error-index, varbinds) or None when
  nothing acceptable came back. It never retries: the caller does, so that it can count.
- An answer is accepted only from the address the request went to, with the request's
  request-id, version and community, and as a Response PDU. Late answers to an earlier attempt
  and duplicates (a request-id sent to that address lately, :data:`RECENT_IDS`) and strangers
  (an address with no request waiting) are dropped after reading their header only. An answer
  from an address that has a request waiting, but with a request-id never sent there, another
  version or community, or another PDU type than Response, is counted in ``garbled`` with its
  reason: that agent answers, wrongly, and the caller reports ``malformed_answer`` rather than a
  timeout. A garbled answer ends the attempts waiting on its address at once (returning None,
  as a timeout does): they need not wait out their timer for an agent that answered.
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
# Request-ids kept after their request ended, to tell a late or duplicate answer (dropped) from
# one with a request-id never sent (garbled). A few seconds of traffic at 10,000 requests/s.
RECENT_IDS = 65_536
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
    def __init__(self, garbled: dict[tuple[str, int], int], cache_size: int,
                 reasons: dict[tuple[str, int], str] | None = None) -> None:
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: dict[tuple[str, int, int], _Pending] = {}
        # (host, port) → request-ids waiting on it; (host, port, request-id) of ended requests
        self._waiting: dict[tuple[str, int], set[int]] = {}
        self._recent: dict[tuple[str, int, int], None] = {}
        self.reasons = reasons if reasons is not None else {}
        self._next_id = random.randint(_FIRST_ID, _LAST_ID)
        self.garbled = garbled
        self.cache = RequestCache(cache_size)
        self.dropped = 0  # answers nobody waited for: late, duplicate, or from a stranger
        self.slow = 0  # answers the strict reader refused and pysnmp's decoder read

    @classmethod
    async def create(cls, garbled: dict[tuple[str, int], int], rcvbuf: int, cache_size: int,
                     reasons: dict[tuple[str, int], str] | None = None) -> LeanTransport:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        except OSError as err:  # best effort, never fatal
            log.debug("could not enlarge SNMP receive buffer: %s", err)
        sock.bind(("0.0.0.0", 0))
        sock.setblocking(False)
        self = cls(garbled, cache_size, reasons)
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
        source = (address[0], address[1])
        self._waiting.setdefault(source, set()).add(rid)
        timer = loop.call_later(timeout, _expire, future)
        try:
            self._transport.sendto(b"".join((head, rid.to_bytes(4, "big"), tail)), address)
            return await future
        finally:
            timer.cancel()
            del self._pending[key]
            waiting = self._waiting[source]
            waiting.discard(rid)
            if not waiting:
                del self._waiting[source]
            if len(self._recent) >= RECENT_IDS:
                for old in list(itertools.islice(self._recent, RECENT_IDS // 2)):
                    del self._recent[old]
            self._recent[key] = None

    def _unexpected(self, source: tuple[str, int], rid: int, why: str) -> None:
        """An answer nobody waits for: dropped if late, duplicate or from a stranger; counted as
        garbled (with ``why``) if its source has a request waiting and never got this id."""
        if source not in self._waiting or (source[0], source[1], rid) in self._recent:
            self.dropped += 1
            return
        self._garble(source, why)

    def _garble(self, source: tuple[str, int], why: str) -> None:
        """Count a garbled answer of ``source`` and end the attempts waiting on it: the agent
        answered, wrongly; its caller retries at once or reports malformed_answer."""
        self.garbled[source] = self.garbled.get(source, 0) + 1
        self.reasons[source] = why
        for rid in self._waiting.get(source, ()):
            pending = self._pending.get((source[0], source[1], rid))
            if pending is not None:
                _expire(pending[0])

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            version, community, _, rid, offset = ber.read_header(data)
        except ber.Refused:
            self._slow_path(data, addr)
            return
        pending = self._pending.get((addr[0], addr[1], rid))
        if pending is None:
            self._unexpected((addr[0], addr[1]), rid, "with a request-id it was never sent")
            return
        if pending[1] != version or pending[2] != community:
            self._garble((addr[0], addr[1]), "with another SNMP version or community")
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
            self._garble(source, "not with SNMP that could be decoded")
            return
        pending = self._pending.get((source[0], source[1], rid))
        if tag != ber.RESPONSE:
            if source in self._waiting:
                self._garble(source, f"with a PDU of type {tag:#x}, not a Response")
            else:
                self.dropped += 1
            return
        if pending is None:
            self._unexpected(source, rid, "with a request-id it was never sent")
            return
        if pending[1] != version or pending[2] != community:
            self._garble(source, "with another SNMP version or community")
            return
        if pending[0].done():
            self.dropped += 1
            return
        try:
            result = ber.pysnmp_body(version, pdu, pending[3])
        except ber.Malformed:
            self._garble(source, "not with SNMP that could be decoded")
            return
        self.slow += 1
        pending[0].set_result(result)

    def error_received(self, exc: Exception) -> None:
        log.debug("SNMP socket error: %s", exc)
