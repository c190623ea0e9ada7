"""A strict BER reader for SNMPv1/v2c answers, and pysnmp's decoder for what it refuses.

Contract:
- :func:`read_header` reads only the message header (version, community, PDU tag, request-id),
  so that the caller can drop an answer nobody waits for without decoding its varbinds.
- :func:`read_body` reads error-status, error-index and the varbinds after that header.
- Both raise :class:`Refused` for anything they do not vouch for: a length that does not end
  where its parent ends, trailing bytes, long tags, indefinite or over-long lengths, constructed
  strings, non-minimal integers or OID sub-identifiers, values outside the RFC 2578/3416 ranges
  that pysnmp's types enforce, a PDU other than a Response. Refusing is always safe: the caller
  then hands the bytes to :func:`pysnmp_decode` (pyasn1 with pysnmp's v1/v2c message spec),
  which is the library of record. The reader must never accept what that rejects, nor decode
  anything differently (tests/probes/test_ber.py, bench/ber_fuzz.py).
- Values come out as pysnmp's do after :func:`probes.snmp.convert`, untouched otherwise: int
  (INTEGER, Counter32, Gauge32, TimeTicks, Counter64), bytes (OCTET STRING, IpAddress, Opaque),
  str (OBJECT IDENTIFIER, dotted), None (NULL), or pysnmp's own ``noSuchObject``,
  ``noSuchInstance`` and ``endOfMibView`` singletons (v2c only).
- The error-index is clamped to the number of varbinds, as pysnmp's command generator does
  (``get_error_index(muteErrors=True)``).
"""

from __future__ import annotations

from typing import Any

from pyasn1.codec.ber import decoder
from pysnmp.proto import api, rfc1905
from pysnmp.proto.api import verdec

RESPONSE = 0xA2  # the Response (v1: GetResponse) PDU tag
_INT32 = (-(2**31), 2**31 - 1)
# value tag → (lowest, highest) for the integer types pysnmp constrains (rfc1902, rfc1155)
_UNSIGNED = {0x41: (0, 2**32 - 1), 0x42: (0, 2**32 - 1), 0x43: (0, 2**32 - 1)}
_V2_ONLY = {0x46: (0, 2**64 - 1)}
_EXCEPTIONS = {0x80: rfc1905.noSuchObject, 0x81: rfc1905.noSuchInstance,
               0x82: rfc1905.endOfMibView}
_OID_CACHE: dict[bytes, str] = {}
_OID_CACHE_MAX = 65536


class Refused(Exception):
    """The strict reader does not vouch for these bytes; ask pysnmp's decoder."""


class Malformed(Exception):
    """pysnmp's decoder could not read these bytes as an SNMPv1/v2c message either."""


def _length(data: bytes, i: int, end: int) -> tuple[int, int]:
    """(length, offset of the content) of the TLV whose length octets start at ``i``; the
    content must end by ``end``."""
    if i >= end:
        raise Refused("no length")
    first = data[i]
    i += 1
    if first >= 0x80:
        count = first & 0x7F
        if count == 0 or count > 3 or i + count > end:  # indefinite, or more than 16 MiB
            raise Refused("length octets")
        first = int.from_bytes(data[i:i + count], "big")
        i += count
    if i + first > end:
        raise Refused("length past its parent")
    return first, i


def _integer(data: bytes, i: int, end: int, low: int, high: int) -> int:
    """The minimal two's-complement integer in ``data[i:end]``, within [low, high]."""
    if end - i > 9 or end <= i:
        raise Refused("integer size")
    if end - i > 1 and ((data[i] == 0 and data[i + 1] < 0x80)
                        or (data[i] == 0xFF and data[i + 1] >= 0x80)):
        raise Refused("non-minimal integer")
    value = int.from_bytes(data[i:end], "big", signed=True)
    if value < low or value > high:
        raise Refused("integer out of range")
    return value


def _tagged_int(data: bytes, i: int, end: int, low: int, high: int) -> tuple[int, int]:
    if i >= end or data[i] != 0x02:
        raise Refused("INTEGER expected")
    n, i = _length(data, i + 1, end)
    return _integer(data, i, i + n, low, high), i + n


def _oid(data: bytes, i: int, end: int) -> str:
    """Dotted OID in ``data[i:end]``; minimal sub-identifiers, each at most 2**32 - 1."""
    chunk = data[i:end]
    cached = _OID_CACHE.get(chunk)
    if cached is not None:
        return cached
    if not chunk:
        raise Refused("empty OID")
    arcs: list[int] = []
    arc = 0
    fresh = True
    for octet in chunk:
        if fresh and octet == 0x80:
            raise Refused("non-minimal sub-identifier")
        arc = (arc << 7) | (octet & 0x7F)
        if octet & 0x80:
            fresh = False
            continue
        if arc > 0xFFFFFFFF and arcs:
            raise Refused("sub-identifier out of range")
        arcs.append(arc)
        arc = 0
        fresh = True
    if not fresh:
        raise Refused("truncated sub-identifier")
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    if head[1] > 0xFFFFFFFF:
        raise Refused("sub-identifier out of range")
    text = ".".join(map(str, head + arcs[1:]))
    if len(_OID_CACHE) >= _OID_CACHE_MAX:
        _OID_CACHE.clear()
    _OID_CACHE[chunk] = text
    return text


def read_header(data: bytes) -> tuple[int, bytes, int, int, int]:
    """(version, community, PDU tag, request-id, offset after the request-id) of a Response
    message that fills ``data`` exactly. Raises Refused."""
    end = len(data)
    if end < 2 or data[0] != 0x30:
        raise Refused("not a SEQUENCE")
    n, i = _length(data, 1, end)
    if i + n != end:
        raise Refused("message length")
    version, i = _tagged_int(data, i, end, 0, 1)
    if i >= end or data[i] != 0x04:
        raise Refused("community expected")
    n, i = _length(data, i + 1, end)
    community = data[i:i + n]
    i += n
    if i >= end or data[i] != RESPONSE:
        raise Refused("not a Response PDU")
    n, i = _length(data, i + 1, end)
    if i + n != end:
        raise Refused("PDU length")
    request_id, i = _tagged_int(data, i, end, *_INT32)
    return version, community, RESPONSE, request_id, i


def read_body(data: bytes, version: int, i: int, getnext: bool = False,
              tags: list[int] | None = None) -> tuple[int, int, list[tuple[str, Any]]]:
    """(error-status, error-index, [(oid, value)]) of the message whose header
    :func:`read_header` read, from its offset ``i``. A v1 noSuchName answer's values become
    endOfMibView (``getnext``: the request was a GETNEXT) or noSuchObject, as pysnmp's v1 → v2c
    translation makes them. ``tags``, if given, receives each value's tag octet (for the
    differential tests). Raises Refused."""
    end = len(data)
    status, i = _tagged_int(data, i, end, *_INT32)
    index, i = _tagged_int(data, i, end, 0, _INT32[1])
    if i >= end or data[i] != 0x30:
        raise Refused("varbind list expected")
    n, i = _length(data, i + 1, end)
    if i + n != end:
        raise Refused("varbind list length")
    varbinds: list[tuple[str, Any]] = []
    append = varbinds.append
    while i < end:
        if data[i] != 0x30:
            raise Refused("varbind expected")
        n, i = _length(data, i + 1, end)
        stop = i + n
        if i >= stop or data[i] != 0x06:
            raise Refused("OID expected")
        n, i = _length(data, i + 1, stop)
        oid = _oid(data, i, i + n)
        i += n
        if i >= stop:
            raise Refused("value expected")
        tag = data[i]
        n, i = _length(data, i + 1, stop)
        if i + n != stop:
            raise Refused("varbind length")
        value: Any
        if (tag == 0x04 and n <= 0xFFFF) or tag == 0x44 or (tag == 0x40 and n == 4):
            value = data[i:stop]
        elif tag == 0x02:
            value = _integer(data, i, stop, *_INT32)
        elif tag in _UNSIGNED:
            value = _integer(data, i, stop, *_UNSIGNED[tag])
        elif tag == 0x06:
            value = _oid(data, i, stop)
        elif tag == 0x05 and n == 0:
            value = None
        elif version == 1 and tag in _V2_ONLY:
            value = _integer(data, i, stop, *_V2_ONLY[tag])
        elif version == 1 and tag in _EXCEPTIONS and n == 0:
            value = _EXCEPTIONS[tag]
        else:
            raise Refused(f"value tag {tag:#x}")
        if tags is not None:
            tags.append(tag)
        append((oid, value))
        i = stop
    if version == 0 and status == 2:
        missing = 0x82 if getnext else 0x80
        varbinds = [(oid, _EXCEPTIONS[missing]) for oid, _ in varbinds]
        if tags is not None and varbinds:
            tags[-len(varbinds):] = [missing] * len(varbinds)
    return status, min(index, len(varbinds)), varbinds


def pysnmp_decode(data: bytes) -> tuple[int, bytes, int, int, Any]:
    """What pysnmp's engine reads from ``data``: (version, community, PDU tag, request-id,
    pdu) with pdu still in that version's pyasn1 types; convert it with :func:`pysnmp_body`.
    Bytes after the message make it malformed (pysnmp's version check). Raises Malformed,
    also where pyasn1 fails with another exception than its own (seen: IndexError on a mutated
    message; pysnmp's dispatcher would drop such a message uncounted)."""
    try:
        version = int(verdec.decode_message_version(data))
        module = api.PROTOCOL_MODULES[version]
        msg, _rest = decoder.decode(data, asn1Spec=module.Message())
        pdu = module.apiMessage.get_pdu(msg)
        return (version, bytes(module.apiMessage.get_community(msg)),
                int(pdu.tagSet[-1].tagId) | 0xA0, int(module.apiPDU.get_request_id(pdu)), pdu)
    except Exception as err:  # any failure of the decoder is a rejection
        raise Malformed(str(err)) from err


def pysnmp_body(version: int, pdu: Any, getnext: bool) -> tuple[int, int, list[tuple[str, Any]]]:
    """(error-status, error-index, [(oid, pysnmp value)]) of a Response pdu, as pysnmp's command
    generator hands them over: a v1 pdu through pysnmp's own v1 → v2c translation (``getnext``:
    the request was a GETNEXT, which turns a noSuchName answer's values into endOfMibView).
    Raises Malformed."""
    from pysnmp.proto.api import v2c
    from pysnmp.proto.proxy import rfc2576

    try:
        if version == 0:
            origin = v2c.GetNextRequestPDU() if getnext else v2c.GetRequestPDU()
            pdu = rfc2576.v1_to_v2(pdu, origin)
        return (int(v2c.apiPDU.get_error_status(pdu)),
                int(v2c.apiPDU.get_error_index(pdu, muteErrors=True)),
                [(str(oid), value) for oid, value in v2c.apiPDU.get_varbinds(pdu)])
    except Exception as err:  # any failure of the decoder is a rejection
        raise Malformed(str(err)) from err
