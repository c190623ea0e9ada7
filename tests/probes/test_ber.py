"""The strict BER reader against pysnmp's decoder (the library of record), on every answer built
from the recordings and on seeded mutants of them. bench/ber_fuzz.py runs 100,000 mutants."""

from __future__ import annotations

import pytest

from bench import ber_fuzz
from probes import ber

CORPUS = ber_fuzz.corpus(seed=9)
ANSWER = ber_fuzz.encode_response(1, b"public", 0x01020304, 0, 0, [
    ("1.3.6.1.2.1.1.3.0", ber_fuzz._value(ber_fuzz.api.PROTOCOL_MODULES[1], "67", "42")),
])


def test_the_corpus_covers_every_recording_and_type() -> None:
    assert len(CORPUS) > 300
    tags = set()
    for data in CORPUS:
        decoded = ber_fuzz.by_reader(data)
        assert decoded is not None
        tags |= {tag for _, tag, _ in decoded[6]}
    assert {0x02, 0x04, 0x06, 0x40, 0x41, 0x42, 0x43, 0x46, 0x80, 0x81, 0x82, 0x05} <= tags


def test_reader_reads_every_recorded_answer_as_pysnmp_does() -> None:
    assert {ber_fuzz.check(data) for data in CORPUS} == {"both"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reader_never_disagrees_on_mutants(seed: int) -> None:
    outcomes = [ber_fuzz.check(data) for data in ber_fuzz.mutants(CORPUS, 500, seed)]
    assert outcomes.count("both") > 20 and outcomes.count("neither") > 100


def _patched(old: bytes, new: bytes, data: bytes = ANSWER) -> bytes:
    assert data.count(old) == 1
    return data.replace(old, new)


@pytest.mark.parametrize(("what", "data"), [
    ("four length octets", b"\x30\x84\x00\x00\x00" + ANSWER[1:]),
    ("non-minimal integer", bytes.fromhex("302b02010104067075626c6963a21e020401020304020100020100"
                                          "3010300e06082b060102010103004302002a")),
    ("indefinite length", b"\x30\x80" + ANSWER[2:] + b"\x00\x00"),
])
def test_refused_but_readable_goes_to_pysnmp(what: str, data: bytes) -> None:
    assert ber_fuzz.by_reader(data) is None, what
    assert ber_fuzz.check(data) == "fallback"
    assert ber_fuzz.by_pysnmp(data) == ber_fuzz.by_reader(ANSWER)


@pytest.mark.parametrize(("what", "data"), [
    ("Counter32 above 2**32 - 1", _patched(b"\x43\x01\x2a", b"\x41\x05\x01\x00\x00\x00\x00")),
    ("negative TimeTicks", _patched(b"\x43\x01\x2a", b"\x43\x01\xff")),
    ("IpAddress of 3 octets", _patched(b"\x43\x01\x2a", b"\x40\x03\x01\x02\x03")),
    ("negative error-index", _patched(b"\x02\x01\x00\x02\x01\x00", b"\x02\x01\x00\x02\x01\xff")),
    ("varbind longer than its list", _patched(b"\x30\x0d\x06\x08", b"\x30\x0e\x06\x08")),
    ("truncated", ANSWER[:-1]),
    ("non-minimal OID sub-identifier", bytes.fromhex(
        "302b02010104067075626c6963a21e0204010203040201000201003010300e06092b80060102010103"
        "0043012a")),
    ("trailing bytes", ANSWER + b"\x00"),
])
def test_refused_and_rejected(what: str, data: bytes) -> None:
    assert ber_fuzz.by_reader(data) is None, what
    assert ber_fuzz.by_pysnmp(data) is None, what


def test_error_index_is_clamped_as_pysnmp_does() -> None:
    data = _patched(b"\x02\x01\x00\x02\x01\x00", b"\x02\x01\x05\x02\x01\x07")
    assert ber_fuzz.check(data) == "both"
    version, _, _, _, offset = ber.read_header(data)
    assert ber.read_body(data, version, offset)[:2] == (5, 1)


def test_header_alone_names_the_request_without_reading_varbinds() -> None:
    garbled = ANSWER[:-3] + b"\xff\xff\xff"  # the varbinds are broken, the header is not
    assert ber.read_header(garbled)[:4] == (1, b"public", ber.RESPONSE, 0x01020304)
    with pytest.raises(ber.Refused):
        ber.read_body(garbled, 1, ber.read_header(garbled)[4])
