"""A fuzzing SNMP v1/v2c agent on loopback, for the tests and bench/snmp_fuzz.py.

It serves one recording (``.snmprec``: GET, GETNEXT, GETBULK over the sorted rows, any
community) and, seeded, garbles its answers in one of :data:`MODES`:

- ``clean``: the recording as it is (the control);
- ``duplicate``: each garbled answer sent two or three times;
- ``endless``: walks never end: each GETNEXT/GETBULK step answers the requested OID with its
  last arc plus one (lexicographically increasing, inside the column, forever);
- ``repeat`` / ``backwards``: a walk step answers the requested OID itself, or one before it;
- ``wrong_id`` / ``wrong_pdu``: the right varbinds under another request-id, or in another PDU
  type than Response (GetRequest, SetRequest, a v1 Trap, a Report...);
- ``truncate`` / ``bitflip``: the encoded answer cut short, or one to three bits flipped;
- ``wrong_type``: a value swapped for another type (OCTET STRING where an INTEGER is, an INTEGER
  where an OCTET STRING is, an OBJECT IDENTIFIER, NULL, an IpAddress);
- ``huge_int``: integers at or past their type's bounds (2**31 - 1, -2**31, a 9-octet INTEGER,
  Counter32 2**32 - 1);
- ``oversized``: an OCTET STRING value of 20,000 to 60,000 octets.

``rate`` is the share of answers garbled (1.0: every one). The agent decodes requests and
encodes answers with pysnmp's proto API (bench/ber_fuzz.py), so that what it garbles starts as
a valid message. Decisions come from ``random.Random(seed)`` in request order: one seed, one run.
"""

from __future__ import annotations

import asyncio
import bisect
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from pyasn1.codec.ber import decoder
from pyasn1.type import univ
from pysnmp.proto import api

from bench.ber_fuzz import _value, encode_response, recorded
from probes import ber

MODES = ("clean", "duplicate", "endless", "repeat", "backwards", "wrong_id", "wrong_pdu",
         "truncate", "bitflip", "wrong_type", "huge_int", "oversized")
# Modes whose garbled answers are never readable SNMP for the request: with rate 1.0 a poll
# must end ``malformed_answer``.
ALWAYS_MALFORMED = frozenset({"wrong_id", "wrong_pdu", "truncate"})
HANDMADE = Path(__file__).resolve().parents[1] / "fixtures" / "recordings"
WALK_MODES = frozenset({"endless", "repeat", "backwards"})
FAULTED = HANDMADE / "handmade_jam.snmprec"  # jammed bit, hrDeviceStatus down, a jam alert


def _key(oid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in oid.split(".") if p)


def load(path: Path, version: int) -> list[tuple[str, Any]]:
    """Sorted (oid, pysnmp value) rows of a recording for ``version`` (0 v1, 1 v2c)."""
    mod: Any = api.PROTOCOL_MODULES[version]
    rows = []
    for oid, kind, text in recorded(path):
        if version == 0 and kind == "70":
            continue
        try:
            rows.append((oid, _value(mod, kind, text)))
        except Exception:  # a value its type cannot hold: not servable
            continue
    return sorted(rows, key=lambda r: _key(r[0]))


@dataclass
class FuzzAgent(asyncio.DatagramProtocol):
    """Serve ``path``; garble per ``mode``/``rate``/``seed`` (see the module doc). ``sent`` and
    ``requests`` count datagrams out and requests in."""

    path: Path = FAULTED
    mode: str = "clean"
    rate: float = 1.0
    seed: int = 0
    requests: int = 0
    sent: int = 0
    # the PDU tags ``wrong_pdu`` picks from (GetRequest, GetNext, Set, v1 Trap, GetBulk, Inform,
    # v2 Trap, Report)
    pdu_tags: tuple[int, ...] = (0xA0, 0xA1, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8)
    transport: asyncio.DatagramTransport | None = None
    _rows: dict[int, list[tuple[str, Any]]] = field(default_factory=dict)
    _rng: random.Random = field(default_factory=random.Random)

    def configure(self, mode: str, seed: int, rate: float = 1.0, path: Path | None = None) -> None:
        """Start a new trial on the same socket."""
        assert mode in MODES, mode
        self.mode, self.seed, self.rate = mode, seed, rate
        self._rng = random.Random(seed)
        if path is not None and path != self.path:
            self.path = path
            self._rows.clear()

    @classmethod
    async def start(cls, path: Path = FAULTED) -> tuple[FuzzAgent, int]:
        """A started agent on 127.0.0.1 and its port."""
        agent = cls(path)
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: agent, local_addr=("127.0.0.1", 0))
        return agent, int(transport.get_extra_info("sockname")[1])

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def rows(self, version: int) -> list[tuple[str, Any]]:
        if version not in self._rows:
            self._rows[version] = load(self.path, version)
        return self._rows[version]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            version = int(api.decodeMessageVersion(data))
            mod: Any = api.PROTOCOL_MODULES[version]
            msg, _ = decoder.decode(data, asn1Spec=mod.Message())
        except Exception:  # not ours to answer (an SNMPv3 probe, say)
            return
        self.requests += 1
        pdu = mod.apiMessage.get_pdu(msg)
        op = {0: "get", 1: "next", 5: "bulk"}.get(int(pdu.tagSet[-1].tagId), "get")
        oids = [str(o) for o, _ in mod.apiPDU.get_varbinds(pdu)]
        reps = int(mod.apiBulkPDU.get_max_repetitions(pdu)) if op == "bulk" else 1
        rid = int(mod.apiPDU.get_request_id(pdu))
        community = bytes(mod.apiMessage.get_community(msg))
        garble = self.mode != "clean" and self._rng.random() < self.rate
        status, index, varbinds = self.answer(version, op, oids, max(1, min(reps, 50)),
                                              garble and self.mode in WALK_MODES)
        if garble and self.mode == "oversized" and varbinds:
            at = self._rng.randrange(len(varbinds))  # one per answer: a datagram holds 64 KiB
            varbinds[at] = (varbinds[at][0], mod.OctetString(
                bytes(self._rng.randrange(32, 127) for _ in range(16))
                * (self._rng.randint(20_000, 60_000) // 16)))
        elif garble and self.mode in ("wrong_type", "huge_int"):
            varbinds = [self._value_mutant(mod, o, v) for o, v in varbinds]
        if garble and self.mode == "wrong_id":
            # far from every id the client sent lately (it would take those for late answers)
            rid ^= 1 << self._rng.randint(17, 29)
        reply = encode_response(version, community, rid, status, index, varbinds)
        if garble and self.mode == "huge_int" and self._rng.random() < 0.3:
            reply = _nine_octet_integer(reply)
        if garble and self.mode == "wrong_pdu":
            reply = _retag(reply, self._rng.choice(self.pdu_tags))
        elif garble and self.mode == "truncate":
            reply = reply[:self._rng.randrange(len(reply))]
        elif garble and self.mode == "bitflip":
            buf = bytearray(reply)
            for _ in range(self._rng.randint(1, 3)):
                buf[self._rng.randrange(len(buf))] ^= 1 << self._rng.randrange(8)
            reply = bytes(buf)
        copies = self._rng.randint(2, 3) if garble and self.mode == "duplicate" else 1
        assert self.transport is not None
        for _ in range(copies):
            self.transport.sendto(reply, addr)
            self.sent += 1

    def answer(self, version: int, op: str, oids: list[str], reps: int, walk_garbled: bool
               ) -> tuple[int, int, list[tuple[str, Any]]]:
        mod: Any = api.PROTOCOL_MODULES[version]
        rows = self.rows(version)
        values = dict(rows)
        if op == "get":
            out = []
            for position, oid in enumerate(oids):
                if oid in values:
                    out.append((oid, values[oid]))
                elif version == 0:
                    return 2, position + 1, [(o, mod.null) for o in oids]
                else:
                    out.append((oid, api.v2c.NoSuchObject("")))
            return 0, 0, out
        keys = [_key(o) for o, _ in rows]
        out = []
        cursor = list(oids)
        for _ in range(reps if op == "bulk" else 1):
            for position, oid in enumerate(cursor):
                nxt = (self._walk_mutant(oid, rows, keys) if walk_garbled
                       else _following(oid, rows, keys))
                if nxt is None:
                    if version == 0:
                        return 2, position + 1, [(o, mod.null) for o in oids]
                    out.append((oid, api.v2c.EndOfMibView("")))
                    continue
                cursor[position] = nxt[0]
                out.append(nxt)
        return 0, 0, out

    def _walk_mutant(self, oid: str, rows: list[tuple[str, Any]], keys: list[tuple[int, ...]]
                     ) -> tuple[str, Any] | None:
        real = _following(oid, rows, keys)
        value = real[1] if real is not None else rows[0][1]
        if self.mode == "endless":
            arcs = oid.split(".")
            # a column OID (…43.11.1.1.9) first steps into its rows, then row after row
            nxt = oid + ".1.1" if len(arcs) <= 12 else ".".join([*arcs[:-1], str(int(arcs[-1]) + 1)])
            return nxt, value
        if self.mode == "repeat":
            return oid, value
        # backwards: an OID before the one asked for
        arcs = oid.split(".")
        if int(arcs[-1]) > 0:
            arcs[-1] = str(int(arcs[-1]) - 1)
        else:
            arcs = arcs[:-1]
        return ".".join(arcs), value

    def _value_mutant(self, mod: Any, oid: str, value: Any) -> tuple[str, Any]:
        # Values only: an endOfMibView / noSuch* marker made an INTEGER would be a varbind
        # repeating the OID asked for (the "repeat" mode's garbage, always malformed). The full
        # poll walks columns past the end of the recording (IF-MIB, ENTITY-MIB), so garbling
        # those markers too would leave no seed whose values reach the parser.
        if self._rng.random() < 0.5 or isinstance(value, _EXCEPTIONS):
            return oid, value
        rng = self._rng
        if self.mode == "huge_int":
            counter: Any = getattr(mod, "Counter32", None) or mod.Counter  # v2c, v1 names
            return oid, rng.choice((mod.Integer(2**31 - 1), mod.Integer(-(2**31)),
                                    mod.Integer(rng.randint(-(2**31), 2**31 - 1)),
                                    counter(2**32 - 1)))
        # wrong_type
        if isinstance(value, univ.Integer) and value.tagSet == univ.Integer.tagSet:
            # INTEGER → something else
            choices: list[Any] = [mod.OctetString(str(int(value)).encode()),
                                  mod.OctetString(b"\x00\x04"), mod.ObjectIdentifier("1.3.6.1"),
                                  mod.Null(""), mod.IpAddress("10.0.0.1")]
        else:
            choices = [mod.Integer(rng.choice((0, 1, 2, 3, 5, -2, 255))),
                       mod.ObjectIdentifier("1.3.6.1.4"), mod.Null(""),
                       mod.IpAddress("10.0.0.1")]
        return oid, rng.choice(choices)



_EXCEPTIONS = (api.v2c.EndOfMibView, api.v2c.NoSuchObject, api.v2c.NoSuchInstance)


def _following(oid: str, rows: list[tuple[str, Any]], keys: list[tuple[int, ...]]
               ) -> tuple[str, Any] | None:
    at = bisect.bisect_right(keys, _key(oid))
    return rows[at] if at < len(rows) else None


def _pdu_offset(data: bytes) -> int:
    """Offset of the PDU tag in an encoded v1/v2c message."""
    end = len(data)
    _, i = ber._length(data, 1, end)
    for _ in range(2):  # version, community
        n, i = ber._length(data, i + 1, end)
        i += n
    return i


def _retag(data: bytes, tag: int) -> bytes:
    at = _pdu_offset(data)
    return data[:at] + bytes((tag,)) + data[at + 1:]


def _nine_octet_integer(data: bytes) -> bytes:
    """The message with its error-status INTEGER written in 9 content octets (a value past
    64 bits of zeros: non-minimal, and out of Integer32 if read)."""
    at = _pdu_offset(data)
    _, i = ber._length(data, at + 1, len(data))
    # request-id
    rid_len = data[i + 1]
    j = i + 2 + rid_len
    if data[j] != 0x02:
        return data
    old_len = data[j + 1]
    new_status = b"\x02\x09\x01" + b"\x00" * 8
    body = data[i:j] + new_status + data[j + 2 + old_len:]
    pdu = bytes((data[at],)) + _ber_len(len(body)) + body
    head = data[:at]
    _, k = ber._length(head, 1, len(data))
    inner = head[k:] + pdu
    return b"\x30" + _ber_len(len(inner)) + inner


def _ber_len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw
