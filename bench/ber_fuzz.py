"""Differential run: the strict BER reader (probes/ber.py) against pysnmp's decoder.

The corpus: SNMPv1 and v2c Response messages encoded with pysnmp's proto API from every value of
the recordings (shared/devices and tests/fixtures/recordings), in answers of 1 to 60 varbinds,
with v2c exception values, error statuses, and each message also re-encoded with long-form
(0x82) lengths as net-snmp writes them. Mutants: seeded bit flips, truncations, insertions,
deletions, duplicated and swapped slices. For each message, the reader must either refuse it
or agree with pysnmp exactly (version, community, PDU tag, request-id, error-status, clamped
error-index, each varbind's OID, tag and value); it must never accept what pysnmp rejects.
Reported, not asserted; the suite runs a few thousand of the same (tests/probes/test_ber.py).

    .venv/bin/python -m bench.ber_fuzz --mutants 100000 --seed 9
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyasn1.codec.ber import encoder
from pysnmp.proto import api, rfc1905

from probes import ber
from probes.snmp import convert

ROOT = Path(__file__).resolve().parents[1]
RECORDING_DIRS = (ROOT.parent / "shared" / "devices", ROOT / "tests" / "fixtures" / "recordings")

Decoded = tuple[Any, ...]


def recorded(path: Path) -> list[tuple[str, str, str]]:
    """(oid, snmprec type, value text) of a recording; variations (``4:writecache``) skipped."""
    rows = []
    for line in path.read_text(errors="replace").splitlines():
        if not line or line.startswith("#") or line.count("|") < 2:
            continue
        oid, kind, value = line.split("|", 2)
        if ":" not in kind:
            rows.append((oid, kind, value))
    return rows


def _value(mod: Any, kind: str, text: str) -> Any:
    if kind == "2":
        return mod.Integer(int(text))
    if kind == "4":
        return mod.OctetString(text.encode())
    if kind == "4x":
        return mod.OctetString(bytes.fromhex(text))
    if kind == "5":
        return mod.Null("")
    if kind == "6":
        return mod.ObjectIdentifier(text)
    if kind == "64":
        return mod.IpAddress(text if "." in text else bytes.fromhex(text))
    if kind == "68":
        return mod.Opaque(bytes.fromhex(text))
    names = {"65": ("Counter32", "Counter"), "66": ("Gauge32", "Gauge"),
             "67": ("TimeTicks", "TimeTicks"), "70": ("Counter64", "Counter64")}
    v2_name, v1_name = names[kind]
    return getattr(mod, v2_name if mod is api.PROTOCOL_MODULES[1] else v1_name)(int(text))


def encode_response(version: int, community: bytes, request_id: int, status: int, index: int,
                    varbinds: list[tuple[str, Any]]) -> bytes:
    mod: Any = api.PROTOCOL_MODULES[version]
    pdu = mod.GetResponsePDU()
    mod.apiPDU.set_defaults(pdu)
    mod.apiPDU.set_request_id(pdu, request_id)
    mod.apiPDU.set_error_status(pdu, status)
    mod.apiPDU.set_error_index(pdu, index)
    mod.apiPDU.set_varbinds(pdu, [(mod.ObjectIdentifier(oid), v) for oid, v in varbinds])
    msg = mod.Message()
    mod.apiMessage.set_defaults(msg)
    mod.apiMessage.set_community(msg, mod.OctetString(community))
    mod.apiMessage.set_pdu(msg, pdu)
    data: bytes = encoder.encode(msg)
    return data


def long_form(data: bytes) -> bytes:
    """The same message with every length written as 0x82 XX XX (valid BER, as net-snmp
    writes sequence lengths). Assumes definite lengths and one-octet tags."""

    def walk(i: int, end: int) -> bytes:
        out = bytearray()
        while i < end:
            tag = data[i]
            n, start = ber._length(data, i + 1, end)
            body = walk(start, start + n) if tag & 0x20 else data[start:start + n]
            out += bytes((tag, 0x82)) + len(body).to_bytes(2, "big") + body
            i = start + n
        return bytes(out)

    return walk(0, len(data))


def corpus(seed: int = 9) -> list[bytes]:
    """Every recorded value in Response messages of both versions (see the module doc)."""
    rng = random.Random(seed)
    out: list[bytes] = []
    for directory in RECORDING_DIRS:
        for path in sorted(directory.glob("*.snmprec")):
            rows = recorded(path)
            community = path.stem.encode()
            for version in (0, 1):
                mod = api.PROTOCOL_MODULES[version]
                varbinds = []
                for oid, kind, text in rows:
                    if version == 0 and kind == "70":
                        continue  # SNMPv1 has no Counter64
                    try:
                        varbinds.append((oid, _value(mod, kind, text)))
                    except Exception:  # a value its type cannot hold: not an answer
                        continue
                sizes = [1, 5, 20, 60]
                at = 0
                while at < len(varbinds):
                    size = sizes[len(out) % len(sizes)]
                    chunk = varbinds[at:at + size]
                    at += size
                    if version == 1 and rng.random() < 0.3:
                        exceptions = (rfc1905.noSuchObject, rfc1905.noSuchInstance,
                                      rfc1905.endOfMibView, mod.Null(""))
                        chunk = [(o, rng.choice(exceptions) if rng.random() < 0.3 else v)
                                 for o, v in chunk]
                    status, index = 0, 0
                    if rng.random() < 0.1:
                        status = rng.choice((1, 2, 5, 18))
                        index = rng.randint(0, len(chunk) + 2)
                    rid = rng.choice((rng.randint(1 << 24, (1 << 31) - 1), rng.randint(0, 300),
                                      -rng.randint(1, 1 << 31)))
                    message = encode_response(version, community, rid, status, index, chunk)
                    out.append(message)
                    if rng.random() < 0.25:
                        out.append(long_form(message))
    return out


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One seeded mutation (sometimes two) of a message."""
    buf = bytearray(data)
    for _ in range(1 + (rng.random() < 0.2)):
        if not buf:
            break
        kind = rng.randrange(6)
        at = rng.randrange(len(buf))
        if kind == 0:
            buf[at] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del buf[at:]
        elif kind == 2:
            buf.insert(at, rng.randrange(256))
        elif kind == 3:
            del buf[at]
        elif kind == 4:
            buf[at] = rng.choice((0x00, 0x7F, 0x80, 0x81, 0x82, 0xFF, 0x30, 0x02, 0x04, 0x06))
        else:
            span = rng.randint(1, 8)
            buf[at:at] = buf[at:at + span]
    return bytes(buf)


def mutants(messages: list[bytes], count: int, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    for _ in range(count):
        yield mutate(rng.choice(messages), rng)


def _normal(value: Any, tag: int) -> tuple[int, Any]:
    return tag, convert(value)


def by_reader(data: bytes) -> Decoded | None:
    """What the strict reader makes of ``data`` (None: refused)."""
    try:
        version, community, pdu_tag, rid, offset = ber.read_header(data)
        tags: list[int] = []
        status, index, varbinds = ber.read_body(data, version, offset, False, tags)
    except ber.Refused:
        return None
    return (version, community, pdu_tag, rid, status, index,
            [(oid, *_normal(v, t)) for (oid, v), t in zip(varbinds, tags, strict=True)])


def by_pysnmp(data: bytes) -> Decoded | None:
    """What pysnmp's engine makes of ``data`` as an answer to a GET (None: rejected)."""
    try:
        version, community, pdu_tag, rid, pdu = ber.pysnmp_decode(data)
        if pdu_tag != ber.RESPONSE:
            return (version, community, pdu_tag, rid)
        status, index, varbinds = ber.pysnmp_body(version, pdu, False)
    except ber.Malformed:
        return None
    return (version, community, pdu_tag, rid, status, index,
            [(oid, *_normal(v, v.tagSet[-1].tagClass | v.tagSet[-1].tagFormat
                            | v.tagSet[-1].tagId)) for oid, v in varbinds])


def check(data: bytes) -> str:
    """'both', 'fallback' (the reader refused, pysnmp read it), 'neither', or raises
    AssertionError when the reader accepts what pysnmp rejects or reads it differently."""
    ours = by_reader(data)
    theirs = by_pysnmp(data)
    if ours is None:
        return "neither" if theirs is None else "fallback"
    assert theirs is not None, f"reader accepted what pysnmp rejects: {data.hex()}"
    assert ours == theirs, f"decoded differently: {data.hex()}\n{ours}\n{theirs}"
    return "both"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mutants", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=9)
    args = ap.parse_args(argv)
    started = time.perf_counter()
    messages = corpus(args.seed)
    tally = Counter(check(m) for m in messages)
    print(f"corpus: {len(messages)} answers ({sum(len(m) for m in messages)} bytes): "
          f"{dict(tally)}")
    tally = Counter()
    failures = 0
    reader_s = 0.0
    for data in mutants(messages, args.mutants, args.seed):
        try:
            tally[check(data)] += 1
        except AssertionError as err:
            failures += 1
            print(err)
    t0 = time.perf_counter()
    for data in messages:
        by_reader(data)
    reader_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for data in messages:
        by_pysnmp(data)
    pysnmp_s = time.perf_counter() - t0
    print(f"mutants: {args.mutants} (seed {args.seed}): {dict(tally)}; disagreements: {failures}")
    print(f"decode of the corpus: reader {reader_s * 1e3:.1f} ms, pysnmp {pysnmp_s * 1e3:.1f} ms "
          f"({pysnmp_s / max(reader_s, 1e-9):.1f}x); wall {time.perf_counter() - started:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
