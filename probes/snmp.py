"""A small SNMP client over one shared pysnmp 7 asyncio engine.

Contract:
- :meth:`SnmpClient.create` builds the engine (no I/O in ``__init__``); :meth:`close` releases its
  UDP socket. One client serves every device of a process.
- Requests use numeric OIDs with MIB lookups off, pysnmp's own retries off (we retry, so that
  each poll can report its retries and PDUs), and an :func:`asyncio.timeout` around each attempt.
- Errors raise :class:`~probes.errors.SnmpError` subclasses with a short ``reason``; callers (the
  probes) turn them into fields of a reading.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import itertools
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from pyasn1.type import univ
from pysnmp.carrier.error import CarrierError
from pysnmp.proto import errind, rfc1905
from pysnmp.proto.error import PySnmpError

from probes import ber
from probes.errors import SnmpAuthError, SnmpError, SnmpTimeout
from probes.lean import RECENT_IDS, LeanTransport
from probes.secret import Secret

log = logging.getLogger(__name__)

Value = int | bytes | str

# Protocol name → the constant of pysnmp.hlapi.v3arch.asyncio.auth that names it (looked up
# when a v3 target is prepared: see _v3arch).
AUTH_PROTOCOLS: dict[str, str] = {
    "md5": "USM_AUTH_HMAC96_MD5",
    "sha": "USM_AUTH_HMAC96_SHA",
    "sha1": "USM_AUTH_HMAC96_SHA",
    "sha224": "USM_AUTH_HMAC128_SHA224",
    "sha256": "USM_AUTH_HMAC192_SHA256",
    "sha384": "USM_AUTH_HMAC256_SHA384",
    "sha512": "USM_AUTH_HMAC384_SHA512",
}
PRIV_PROTOCOLS: dict[str, str] = {
    "des": "USM_PRIV_CBC56_DES",
    "3des": "USM_PRIV_CBC168_3DES",
    "aes": "USM_PRIV_CFB128_AES",
    "aes128": "USM_PRIV_CFB128_AES",
    "aes192": "USM_PRIV_CFB192_AES",
    "aes256": "USM_PRIV_CFB256_AES",
}
_AUTH_FAILURES = (
    errind.UnknownUserName,
    errind.WrongDigest,
    errind.AuthenticationError,
    errind.AuthenticationFailure,
    errind.DecryptionError,
    errind.UnsupportedSecurityLevel,
    errind.UnknownSecurityName,
    errind.UnsupportedAuthProtocol,
    errind.UnsupportedPrivProtocol,
    errind.NotInTimeWindow,
)
RCVBUF_BYTES = 4 * 1024 * 1024  # FIELD-NOTES: 500 in-flight requests overflowed the default.
# A walk that brings more rows than this has not ended (an agent whose walk never ends, with
# OIDs that keep increasing): malformed_answer. The largest recording has 213 rows in the
# columns a poll walks; a v1 walk (GETNEXT, one row per column per request) reaches the cap in
# about 70 requests.
MAX_WALK_ROWS = 2_000
_REPORT = 0xA8  # the Report PDU tag
# error-status values defined by RFC 3416 (noError .. inconsistentName); others are not SNMP.
MAX_ERROR_STATUS = 18
# Distinct v1/v2c requests whose bytes are kept (a few per printer: its GETs and the steps of
# its walks; a template is 100 to 700 bytes).
REQUEST_CACHE_SIZE = 50_000


class _V3arch:
    """pysnmp's v3arch engine API (hlapi), its ``auth`` constants, ``entity.config`` and the
    command generator's ``LCD``."""

    __slots__ = ("api", "auth", "config", "lcd")

    def __init__(self, api: Any, auth: Any, config: Any, lcd: Any) -> None:
        self.api, self.auth, self.config, self.lcd = api, auth, config, lcd


@functools.cache
def _v3arch() -> _V3arch:
    """Imported at the first target or request that needs pysnmp's engine: SNMPv3, or v1/v2c
    with ``lean=False``. An office of v1/v2c devices on the lean path never does: the import
    costs 8.7 MB of RSS beside the rest of probes/, the engine 3.9 MB more (docs/benchmarks.md,
    "Issue 9 follow-up"). A third-party import deferred on purpose, not a cycle dodged (the layer rule
    of tests/test_layers.py is about project imports). Raises ImportError as a top-level import
    would."""
    import pysnmp.hlapi.v3arch.asyncio as api
    from pysnmp.entity import config
    from pysnmp.hlapi.v3arch.asyncio.cmdgen import LCD

    return _V3arch(api, api.auth, config, LCD)


@dataclass(frozen=True, slots=True)
class SnmpCredentials:
    """v1/v2c community, or a v3 USM user. Protocol names are lower-case keys of
    :data:`AUTH_PROTOCOLS` / :data:`PRIV_PROTOCOLS`."""

    version: str = "2c"
    community: Secret = field(default_factory=lambda: Secret("public"))
    user: str | None = None
    auth_protocol: str | None = None
    auth_key: Secret | None = None
    priv_protocol: str | None = None
    priv_key: Secret | None = None
    context: str = ""

    def __post_init__(self) -> None:
        if self.version not in {"1", "2c", "3"}:
            raise ValueError(f"SNMP version must be 1, 2c or 3, not {self.version!r}")
        if self.version == "3":
            if not self.user:
                raise ValueError("SNMPv3 needs a user")
            if self.auth_protocol and self.auth_protocol not in AUTH_PROTOCOLS:
                raise ValueError(f"unknown auth protocol {self.auth_protocol!r}; "
                                 f"one of {', '.join(AUTH_PROTOCOLS)}")
            if self.priv_protocol and self.priv_protocol not in PRIV_PROTOCOLS:
                raise ValueError(f"unknown privacy protocol {self.priv_protocol!r}; "
                                 f"one of {', '.join(PRIV_PROTOCOLS)}")
            if self.priv_protocol and not self.auth_protocol:
                raise ValueError("SNMPv3 privacy needs authentication too")
            if self.auth_protocol and not self.auth_key:
                raise ValueError("SNMPv3 authentication needs an auth key")
            if self.priv_protocol and not self.priv_key:
                raise ValueError("SNMPv3 privacy needs a privacy key")
            for key in (self.auth_key, self.priv_key):
                if key is not None and len(key.reveal()) < 8:
                    raise ValueError("SNMPv3 keys must be at least 8 characters (RFC 3414)")


@dataclass(frozen=True, slots=True)
class SnmpTarget:
    host: str
    port: int = 161
    credentials: SnmpCredentials = field(default_factory=SnmpCredentials)
    timeout: float = 2.0
    retries: int = 1
    max_repetitions: int = 10


@dataclass(slots=True)
class Cost:
    """Mutable per-poll tally: PDUs sent, retries (attempts beyond the first)."""

    pdus: int = 0
    retries: int = 0


def convert(value: Any) -> Value | None:
    """pysnmp value → int | bytes | str; None for noSuchObject/noSuchInstance/endOfMibView.
    Values read by :mod:`probes.ber` are already int, bytes, str or None and pass as they are."""
    kind = type(value)
    if kind is int or kind is bytes or kind is str:
        return value  # type: ignore[no-any-return]
    if value is None:
        return None
    if isinstance(value, rfc1905.NoSuchObject | rfc1905.NoSuchInstance | rfc1905.EndOfMibView):
        return None
    if isinstance(value, univ.Null):
        return None
    if isinstance(value, univ.Integer):
        return int(value)
    if isinstance(value, univ.OctetString):
        return bytes(value.asOctets())
    if isinstance(value, univ.ObjectIdentifier):
        return str(value)
    return str(value)


class SnmpClient:
    """``lean`` (the default): v1/v2c requests go through :class:`probes.lean.LeanTransport`
    (one socket, cached request bytes, the strict reader of :mod:`probes.ber`); SNMPv3 always,
    and v1/v2c with ``lean=False``, go through pysnmp's v3arch engine. Both paths retry, count
    and report errors the same way. ``engine``: pysnmp's ``SnmpEngine``, or None to build it
    (and import pysnmp's v3arch API) when the first target needs it (:meth:`_engine_ready`)."""

    def __init__(self, engine: Any = None, *, lean: bool = True,
                 request_cache_size: int = REQUEST_CACHE_SIZE) -> None:
        self._engine: Any = None
        self._prepared: dict[SnmpTarget, tuple[Any, Any, Any]] = {}
        self._rcvbuf_set = False
        self._watched = False
        # engine path: (ip, port, request-id) of requests sent lately, and the attempts waiting
        # on each address (ended at once by a garbled answer from it, as on the lean path)
        self._engine_sent: dict[tuple[str, int, int], None] = {}
        self._engine_waiters: dict[tuple[str, int], set[asyncio.Future[None]]] = {}
        # (ip, port) → answers from there that pysnmp could not decode (it drops them silently,
        # so without this a device that answers garbage looks like one that does not answer)
        self.garbled: dict[tuple[str, int], int] = {}
        # (ip, port) → why its last garbled answer was refused ("with the wrong request-id" ...)
        self.garbled_reason: dict[tuple[str, int], str] = {}
        self.lean = lean
        self._request_cache_size = request_cache_size
        self._lean: LeanTransport | None = None
        self._lean_lock = asyncio.Lock()
        # v1/v2c target → (resolved address, version number, community octets)
        self._lean_targets: dict[SnmpTarget, tuple[tuple[str, int], int, bytes]] = {}
        if engine is not None:
            self._use_engine(engine)

    def _use_engine(self, engine: Any) -> Any:
        self._engine = engine
        self._watch_parse_errors(engine)
        return engine

    def _engine_ready(self) -> Any:
        """pysnmp's engine, built at the first target that needs it (SNMPv3, or v1/v2c with
        ``lean=False``): a fleet of v1/v2c devices on the lean path never builds one."""
        if self._engine is not None:
            return self._engine
        return self._use_engine(_v3arch().api.SnmpEngine())

    def _watch_parse_errors(self, engine: Any) -> None:
        """Count undecodable answers per source address: pysnmp's own snmpInASNParseErrs
        counter (and snmpUnknownPDUHandlers: a PDU type a command generator has no use for, such
        as a GetRequest in answer), read around each received message."""
        try:
            builder = engine.get_mib_builder()
            (counter,) = builder.import_symbols("__SNMPv2-MIB", "snmpInASNParseErrs")
            (unknown,) = builder.import_symbols("__SNMP-MPD-MIB", "snmpUnknownPDUHandlers")
            dispatcher = engine.message_dispatcher
            receive = dispatcher.receive_message
        except Exception as err:  # a pysnmp without these internals: no attribution, no harm
            log.debug("cannot watch SNMP parse errors: %s", err)
            return

        def counting(snmp_engine: Any, domain: Any, address: Any, whole: Any) -> Any:
            before = int(counter.syntax)
            before_unknown = int(unknown.syntax)
            key = (str(address[0]), int(address[1]))
            header = _v1v2c_header(bytes(whole))
            if header is not None and header[0] == _REPORT:
                # pysnmp takes a Report for an answer (a response-class PDU in SNMPv3); in
                # v1/v2c it is none: never handed over
                self._garble(key, "with a Report PDU, not a Response")
                return b""
            try:
                return receive(snmp_engine, domain, address, whole)
            finally:
                why = ("not with SNMP that could be decoded" if int(counter.syntax) != before
                       else "with a PDU that is not a Response"
                       if int(unknown.syntax) != before_unknown
                       else self._strange_request_id(key, bytes(whole)))
                if why is not None:
                    self._garble(key, why)

        dispatcher.receive_message = counting

    @classmethod
    async def create(cls, *, lean: bool = True, request_cache_size: int = REQUEST_CACHE_SIZE
                     ) -> SnmpClient:
        client = cls(None if lean else _v3arch().api.SnmpEngine(), lean=lean,
                     request_cache_size=request_cache_size)
        if lean:
            await client._lean_transport()
        return client

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close_dispatcher()
        self._prepared.clear()
        if self._lean is not None:
            self._lean.close()
            self._lean = None
        self._lean_targets.clear()

    @property
    def transport(self) -> LeanTransport | None:
        """The v1/v2c transport (its ``in_flight``, ``dropped``, ``slow`` and ``cache``), if
        open."""
        return self._lean

    async def _lean_transport(self) -> LeanTransport:
        async with self._lean_lock:
            if self._lean is None:
                self._lean = await LeanTransport.create(self.garbled, RCVBUF_BYTES,
                                                        self._request_cache_size,
                                                        self.garbled_reason)
            return self._lean

    def _uses_lean(self, target: SnmpTarget) -> bool:
        return self.lean and target.credentials.version != "3"

    async def _lean_target(self, target: SnmpTarget) -> tuple[tuple[str, int], int, bytes]:
        """(address, version number, community octets); resolves the host once, as pysnmp's
        UdpTransportTarget does (IPv4). Raises SnmpError("bad_address")."""
        known = self._lean_targets.get(target)
        if known is not None:
            return known
        try:
            host = str(ipaddress.IPv4Address(target.host))
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    target.host, target.port, family=socket.AF_INET, type=socket.SOCK_DGRAM,
                    proto=socket.IPPROTO_UDP)
            except (socket.gaierror, UnicodeError) as err:
                raise SnmpError("bad_address", f"cannot resolve {target.host}") from err
            host = str(infos[0][4][0])
        creds = target.credentials
        known = ((host, target.port), 0 if creds.version == "1" else 1,
                 bytes(univ.OctetString(creds.community.reveal()).asOctets()))
        self._lean_targets[target] = known
        return known

    async def prepare(self, target: SnmpTarget) -> None:
        """Register the target with the engine up front (FIELD-NOTES: lazy registration under
        load is slow). Raises SnmpError("bad_address") if the host does not resolve. A v1/v2c
        target on the lean path is only resolved: pysnmp's engine never sees it."""
        if self._uses_lean(target):
            await self._lean_target(target)
        else:
            await self._prepare(target)

    async def _prepare(self, target: SnmpTarget) -> tuple[Any, Any, Any]:
        cached = self._prepared.get(target)
        if cached is not None:
            return cached
        creds = target.credentials
        v3arch = _v3arch()
        hlapi, hl_auth = v3arch.api, v3arch.auth
        engine = self._engine_ready()
        auth: Any
        if creds.version == "3":
            auth = hlapi.UsmUserData(
                creds.user or "",
                authKey=creds.auth_key.reveal() if creds.auth_key else None,
                privKey=creds.priv_key.reveal() if creds.priv_key else None,
                authProtocol=getattr(hl_auth, AUTH_PROTOCOLS[creds.auth_protocol])
                if creds.auth_protocol else hl_auth.USM_AUTH_NONE,
                privProtocol=getattr(hl_auth, PRIV_PROTOCOLS[creds.priv_protocol])
                if creds.priv_protocol else hl_auth.USM_PRIV_NONE,
            )
        else:
            auth = hlapi.CommunityData(creds.community.reveal(),
                                       mpModel=0 if creds.version == "1" else 1)
        try:
            transport = await hlapi.UdpTransportTarget.create(
                (target.host, target.port), timeout=target.timeout, retries=0
            )
        except PySnmpError as err:
            raise SnmpError("bad_address", f"cannot resolve {target.host}") from err
        context = (hlapi.ContextData(contextName=creds.context) if creds.context
                   else hlapi.ContextData())
        # Register the target in the engine now: pysnmp would do it at the first request, under
        # traffic, where it is slow (FIELD-NOTES; first cycle of 1,000 printers 38 s → 26 s).
        v3arch.lcd.configure(engine, auth, transport, context.contextName)
        self._watch_transport()
        prepared = (auth, transport, context)
        self._prepared[target] = prepared
        return prepared

    def _garble(self, source: tuple[str, int], why: str) -> None:
        """Engine path: count a garbled answer of ``source`` and end the attempts waiting on
        it."""
        self.garbled[source] = self.garbled.get(source, 0) + 1
        self.garbled_reason[source] = why
        for waiter in self._engine_waiters.get(source, ()):
            if not waiter.done():
                waiter.set_result(None)

    def _strange_request_id(self, source: tuple[str, int], message: bytes) -> str | None:
        """The reason to count a v1/v2c Response from ``source`` as garbled: its request-id was
        never sent there lately (a late or duplicate answer's was; pysnmp drops both unseen).
        None for anything else, and for a source we sent nothing to."""
        try:
            _, _, _, rid, _ = ber.read_header(message)
        except ber.Refused:
            return None
        if (source[0], source[1], rid) in self._engine_sent:
            return None
        if source not in self._engine_waiters:
            return None
        return "with a request-id it was never sent"

    def _watch_transport(self) -> None:
        """Once the engine has its UDP transport: note the request-id of each v1/v2c request
        it sends (for :meth:`_strange_request_id`)."""
        if self._watched:
            return
        v3arch = _v3arch()
        transport = v3arch.config.get_transport(self._engine,
                                                v3arch.api.UdpTransportTarget.TRANSPORT_DOMAIN)
        send = getattr(transport, "send_message", None)
        if send is None:
            return
        self._watched = True
        sent = self._engine_sent

        def sending(message: Any, address: Any) -> Any:
            header = _v1v2c_header(bytes(message))
            if header is not None:
                rid = header[1]
                if len(sent) >= RECENT_IDS:
                    for old in list(itertools.islice(sent, RECENT_IDS // 2)):
                        del sent[old]
                sent[(str(address[0]), int(address[1]), rid)] = None
            return send(message, address)

        transport.send_message = sending

    def _grow_rcvbuf(self) -> None:
        """Once, on the engine's UDP transport: a 4 MiB receive buffer, and answers that arrive
        after :meth:`close` dropped quietly (pysnmp queues each datagram with ``call_soon``; one
        queued when the dispatcher closes raised CarrierError "Unregistered transport" with a
        traceback on stderr: a duplicated answer at the end of ``fleetwatch check``)."""
        if self._rcvbuf_set:
            return
        try:
            v3arch = _v3arch()
            transport = v3arch.config.get_transport(
                self._engine, v3arch.api.UdpTransportTarget.TRANSPORT_DOMAIN)
            if transport is not None and transport._callback_function is not None:
                transport._callback_function = _after_close_quiet(transport._callback_function)
            sock = transport.transport.get_extra_info("socket") if transport else None
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
                self._rcvbuf_set = True
        except (AttributeError, OSError) as err:  # best effort, never fatal
            log.debug("could not enlarge SNMP receive buffer: %s", err)
            self._rcvbuf_set = True

    async def _request(
        self, op: str, target: SnmpTarget, oids: Sequence[str], cost: Cost, max_rep: int = 0
    ) -> tuple[int, int, list[tuple[str, Any]]]:
        """One request with our retries. Returns (errorStatus, errorIndex, varbinds). An
        error-status outside RFC 3416's 0..18 raises SnmpError("malformed_answer")."""
        if self._uses_lean(target):
            answer = await self._lean_request(op, target, oids, cost, max_rep)
        else:
            answer = await self._engine_request(op, target, oids, cost, max_rep)
        if not 0 <= answer[0] <= MAX_ERROR_STATUS:
            raise SnmpError("malformed_answer", f"{target.host}:{target.port} answered with "
                            f"error-status {answer[0]}, which SNMP does not define")
        return answer

    async def _engine_request(
        self, op: str, target: SnmpTarget, oids: Sequence[str], cost: Cost, max_rep: int
    ) -> tuple[int, int, list[tuple[str, Any]]]:
        """_request through pysnmp's engine (SNMPv3, and v1/v2c with ``lean=False``)."""
        auth, transport, context = await self._prepare(target)
        hlapi = _v3arch().api
        varbinds = [_object_type(oid) for oid in oids]
        source = (str(transport.transport_address[0]), int(transport.transport_address[1]))
        garbled = self.garbled.get(source, 0)
        for attempt in range(target.retries + 1):
            if attempt:
                cost.retries += 1
            cost.pdus += 1
            if op == "get":
                call = hlapi.get_cmd(self._engine, auth, transport, context, *varbinds,
                               lookupMib=False)
            elif op == "next":
                call = hlapi.next_cmd(self._engine, auth, transport, context, *varbinds,
                                lookupMib=False)
            else:
                call = hlapi.bulk_cmd(self._engine, auth, transport, context, 0, max_rep, *varbinds,
                                lookupMib=False)
            task = asyncio.ensure_future(call)
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            waiters = self._engine_waiters.setdefault(source, set())
            waiters.add(waiter)
            try:
                async with asyncio.timeout(target.timeout + 1.0):
                    await asyncio.wait((task, waiter), return_when=asyncio.FIRST_COMPLETED)
                if not task.done():  # a garbled answer came from the target: next attempt
                    continue
                result = task.result()
            except TimeoutError:
                continue
            except PySnmpError as err:
                raise SnmpError("snmp_error", str(err)) from err
            finally:
                if not task.done():
                    task.cancel()
                waiters.discard(waiter)
                if not waiters:
                    self._engine_waiters.pop(source, None)
                self._grow_rcvbuf()
            error_indication, error_status, error_index, vbs = result
            if error_indication:
                if isinstance(error_indication, errind.RequestTimedOut):
                    continue
                if isinstance(error_indication, _AUTH_FAILURES):
                    raise SnmpAuthError("auth_failed", str(error_indication))
                raise SnmpError("snmp_error", str(error_indication))
            return int(error_status), int(error_index), [(str(o), v) for o, v in vbs]
        self._raise_silence(target, source, garbled)

    async def _lean_request(
        self, op: str, target: SnmpTarget, oids: Sequence[str], cost: Cost, max_rep: int
    ) -> tuple[int, int, list[tuple[str, Any]]]:
        """_request on the lean transport: the same retries, tally and errors."""
        address, version, community = await self._lean_target(target)
        lean = self._lean or await self._lean_transport()
        garbled = self.garbled.get(address, 0)
        for attempt in range(target.retries + 1):
            if attempt:
                cost.retries += 1
            cost.pdus += 1
            result = await lean.request(address, version, community, op, oids, max_rep,
                                        target.timeout)
            if result is not None:
                return result
        self._raise_silence(target, address, garbled)

    def _raise_silence(self, target: SnmpTarget, source: tuple[str, int], garbled: int
                       ) -> NoReturn:
        """Every attempt went unanswered: malformed_answer if the source sent something that
        could not be decoded meanwhile, else a timeout."""
        if self.garbled.get(source, 0) > garbled:
            why = self.garbled_reason.get(source, "not with SNMP that could be decoded")
            raise SnmpError("malformed_answer", f"{target.host}:{target.port} answered, but "
                            f"{why}")
        tries = target.retries + 1
        raise SnmpTimeout(
            f"no answer from {target.host}:{target.port} ({tries} × {target.timeout:g} s; "
            "device off, wrong address, or wrong community/credentials)"
        )

    async def get(self, target: SnmpTarget, oids: Sequence[str], cost: Cost | None = None
                  ) -> dict[str, Value]:
        """GET scalars. Absent objects are left out of the result (never an error). A request
        whose answer would be tooBig for the agent is asked in two halves."""
        cost = cost if cost is not None else Cost()
        oids = list(oids)
        out: dict[str, Value] = {}
        while oids:
            status, index, vbs = await self._request("get", target, oids, cost)
            if status == 2 and target.credentials.version == "1" and 0 < index <= len(oids):
                # v1 noSuchName: drop the missing OID and ask again for the rest.
                del oids[index - 1]
                continue
            if status == 1 and len(oids) > 1:  # tooBig
                half = len(oids) // 2
                out.update(await self.get(target, oids[:half], cost))
                out.update(await self.get(target, oids[half:], cost))
                break
            if status:
                raise SnmpError("snmp_error", f"error-status {status} at index {index}")
            for oid, value in vbs:
                converted = convert(value)
                if converted is not None:
                    out[oid] = converted
            break
        return out

    async def walk_columns(
        self, target: SnmpTarget, columns: Sequence[str], cost: Cost | None = None,
        max_repetitions: int | None = None,
    ) -> dict[str, Value]:
        """Walk several table columns at once (GETBULK on v2c/v3, GETNEXT on v1).

        Each column advances on its own and stops when it leaves its subtree or ends the MIB. A
        repeated or backwards OID restarts the walk once (a table that changed under it), and
        a second one is ``malformed_answer``. A
        truncated or "tooBig" GETBULK answer shrinks the repetitions. Never walks past a column.
        ``max_repetitions`` (at most the target's): fewer rows per GETBULK, for columns expected
        to be short — every repetition past a column's end is decoded for nothing.
        """
        cost = cost if cost is not None else Cost()
        out: dict[str, Value] = {}
        reps = target.max_repetitions if max_repetitions is None else min(
            max_repetitions, target.max_repetitions)
        try:
            await self._walk(target, {col: col for col in columns}, cost, out, reps)
        except _NotForward:
            # Once more from the start, counted as a retry: an agent whose table changed under
            # the walk (rows added or re-indexed between two GETBULKs, as snmpsim does when its
            # data file is rewritten) answers a repeated OID once, not on the next walk. A second
            # one is the agent's bug and the poll's malformed_answer.
            cost.retries += 1
            out.clear()
            await self._walk(target, {col: col for col in columns}, cost, out, reps)
        return out

    async def _walk(self, target: SnmpTarget, pending: dict[str, str], cost: Cost,
                    out: dict[str, Value], repetitions: int) -> None:
        """Walk the columns of ``pending`` ({column: last OID seen}) into ``out``. An agent
        whose answer to all of them at once is tooBig even at one repetition (or on v1) gets
        them in two halves, each walked on from where it stands (old printers have small
        message size limits)."""
        v1 = target.credentials.version == "1"
        max_rep = max(1, repetitions)
        while pending:
            if len(out) > MAX_WALK_ROWS:
                raise SnmpError("malformed_answer", f"{target.host}:{target.port}: the walk did "
                                f"not end after {MAX_WALK_ROWS:,} rows")
            cols = list(pending)
            request = [pending[c] for c in cols]
            if v1:
                status, index, vbs = await self._request("next", target, request, cost)
                if status == 2 and 0 < index <= len(cols):  # noSuchName: that column ended
                    del pending[cols[index - 1]]
                    continue
            else:
                status, index, vbs = await self._request("bulk", target, request, cost, max_rep)
                if status == 1 and max_rep > 1:  # tooBig
                    max_rep = max(1, max_rep // 2)
                    continue
            if status == 1 and len(cols) > 1:  # tooBig, and nothing left to shrink: split
                half = len(cols) // 2
                for group in (cols[:half], cols[half:]):
                    await self._walk(target, {c: pending[c] for c in group}, cost, out,
                                     repetitions)
                return
            if status:
                raise SnmpError("snmp_error", f"error-status {status} at index {index}")
            progressed = False
            done: set[str] = set()
            for position, (oid, value) in enumerate(vbs):
                col = cols[position % len(cols)]
                if col in done:
                    continue
                last = pending[col]
                if isinstance(value, rfc1905.EndOfMibView):
                    done.add(col)
                    continue
                if _oid_key(oid) <= _oid_key(last):
                    # GETNEXT/GETBULK answer with a later OID (RFC 3416 4.2.2), always: a
                    # repeated or backwards one would loop or hide rows.
                    raise _NotForward("malformed_answer", f"{target.host}:{target.port}: the walk "
                                      f"of {col} went from {last} to {oid}, not forward")
                if not oid.startswith(col + "."):
                    done.add(col)
                    continue
                pending[col] = oid
                progressed = True
                converted = convert(value)
                if converted is not None:
                    out[oid] = converted
            for col in done:
                pending.pop(col, None)
            if not progressed:
                break
            if not v1 and len(vbs) < len(cols) * max_rep:
                # The agent truncated the answer to fit its message size: ask for less.
                max_rep = max(1, len(vbs) // max(1, len(cols)))


class _NotForward(SnmpError):
    """A walk's answer did not go forward (:meth:`SnmpClient._walk`); walked once more."""


def _v1v2c_header(data: bytes) -> tuple[int, int] | None:
    """(PDU tag, request-id) of an encoded v1/v2c message (None for SNMPv3, which has no
    request-id in clear, or for bytes that do not parse)."""
    try:
        end = len(data)
        _, i = ber._length(data, 1, end)
        if data[i:i + 2] != b"\x02\x01" or data[i + 2] not in (0, 1):
            return None
        i += 3
        n, i = ber._length(data, i + 1, end)  # community
        tag = data[i + n]
        _, i = ber._length(data, i + n + 1, end)  # the PDU
        if data[i] != 0x02:
            return None
        n, i = ber._length(data, i + 1, end)
        return tag, int.from_bytes(data[i:i + n], "big", signed=True)
    except (ber.Refused, IndexError):
        return None


def _after_close_quiet(deliver: Any) -> Any:
    """pysnmp's per-datagram callback, minus the CarrierError of a datagram delivered after its
    transport was unregistered (the client closed): such an answer has nobody to go to."""
    def guarded(*args: Any) -> Any:
        try:
            return deliver(*args)
        except CarrierError as err:
            log.debug("SNMP answer after close dropped: %s", err)
            return None

    return guarded


@functools.lru_cache(maxsize=65536)
def _object_type(oid: str) -> Any:
    """One request varbind per OID, reused. pysnmp resolves a fresh ObjectType against its MIB
    tree on every send (27 % of a full poll's CPU, bench/printer_poll.py); a resolved one is not
    changed by sending it and skips that work. Bounded: a poll uses a few dozen distinct OIDs."""
    hlapi = _v3arch().api
    return hlapi.ObjectType(hlapi.ObjectIdentity(oid))


@functools.lru_cache(maxsize=16384)
def _oid_key(oid: str) -> tuple[int, ...]:
    """Numeric sort key of a dotted OID. Cached: a walk compares each OID it gets with the last
    one of its column, and polls ask for the same OIDs cycle after cycle (13 % of a full poll's
    CPU before the cache, bench/printer_poll.py --profile). Bounded: about 3 MB when full."""
    return tuple(int(p) for p in oid.split(".") if p)
