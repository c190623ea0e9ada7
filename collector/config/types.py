"""The value types of the config file: how one YAML value becomes a Python value.

The loader (:mod:`collector.config.loader`) hands pydantic plain data in which every YAML scalar
is a :class:`Scalar` (the text as written plus its YAML 1.1 tag), so that a text key keeps what
was typed (``yes``, ``0123``, ``8:00``) and a number key takes YAML's number rules (``0x10``,
``1_000``). The ``Annotated`` types here turn such scalars into values, with the loader's
messages (``expected a whole number, got 'lots'``); values built in Python (``Secret(...)``,
``60.0``) pass through to pydantic's own checks, so code and tests construct the models as
plain dataclasses. Bounds stay on the fields (``Field(ge=..., le=...)``); the loader words
pydantic's bound errors.

Errors are :func:`problem` (one) or :func:`problems` (several, each with a location below the
value's); a message never quotes a secret.
"""

from __future__ import annotations

import datetime as dt
import difflib
import ipaddress
import math
import re
import zoneinfo
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    GetJsonSchemaHandler,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, InitErrorDetails, PydanticCustomError, ValidationError
from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode

from probes.secret import Secret

_CONSTRUCT = SafeConstructor()  # YAML 1.1 int/float/bool rules (0x10, 1_000, yes/no), no objects
_Y = "tag:yaml.org,2002:"

ERROR = "fleetwatch"  # the pydantic error type of every message written here
REPORTED = "fleetwatch_reported"  # a value the loader already reported (unsupported YAML tag)


class Scalar(str):
    """A YAML scalar as written; ``tag`` is its resolved YAML 1.1 type: ``str``, ``int``,
    ``float``, ``bool``, ``timestamp``, or ``bad`` (a tag we do not accept, already reported)."""

    tag: str

    def __new__(cls, text: str, tag: str = "str") -> Scalar:
        self = super().__new__(cls, text)
        self.tag = tag
        return self


# -- errors -------------------------------------------------------------------------------------


def problem(message: str, **ctx: Any) -> PydanticCustomError:
    """One error at the value being validated. ``ctx`` may carry ``ref``: a location (relative
    to the error's own, after dropping ``up`` parts) whose line replaces ``{line}``."""
    return PydanticCustomError(ERROR, "{message}", {"message": message, **ctx})


def detail(loc: tuple[str | int, ...], message: str, **ctx: Any) -> InitErrorDetails:
    return InitErrorDetails(type=problem(message, **ctx), loc=loc, input=None)


def problems(title: str, details: Iterable[InitErrorDetails],
             caught: ValidationError | None = None) -> ValidationError:
    """One ValidationError holding ``details`` and every error of ``caught``."""
    out = list(details)
    for e in caught.errors() if caught is not None else ():
        kind: Any = e["type"]
        if kind in (ERROR, REPORTED):
            kind = PydanticCustomError(kind, "{message}", e.get("ctx") or {"message": ""})
        item = InitErrorDetails(type=kind, loc=e["loc"], input=e.get("input"))
        if "ctx" in e and not isinstance(kind, PydanticCustomError):
            item["ctx"] = e["ctx"]
        out.append(item)
    return ValidationError.from_exception_data(title, out, hide_input=True)


def bound_message(error: Mapping[str, Any], metadata: list[Any]) -> str | None:
    """Words for pydantic's bound errors (``greater_than_equal`` ...), naming both bounds of a
    field that has two; None for other errors."""
    ctx, value = error.get("ctx") or {}, error.get("input")
    shown = f"{value:g}" if isinstance(value, int | float) else repr(value)
    lo = next((m.ge for m in metadata if hasattr(m, "ge")), None)
    hi = next((m.le for m in metadata if hasattr(m, "le")), None)
    kind = error.get("type")
    if kind in ("greater_than_equal", "less_than_equal") and lo is not None and hi is not None:
        return f"must be between {lo:g} and {hi:g}, not {shown}"
    words = {"greater_than": ("gt", "greater than"), "greater_than_equal": ("ge", "at least"),
             "less_than": ("lt", "less than"), "less_than_equal": ("le", "at most")}
    if kind in words:
        key, word = words[kind]
        return f"must be {word} {ctx[key]:g}, not {shown}"
    return None


def from_yaml(info: ValidationInfo | None) -> bool:
    """Whether the value comes from a config file (the loader passes a context)."""
    return info is not None and isinstance(info.context, dict) and "base" in info.context


def context(info: ValidationInfo) -> dict[str, Any]:
    return info.context if isinstance(info.context, dict) else {}


def describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "nothing"
    tag = getattr(value, "tag", "str")
    return {"bool": "true/false", "int": "a number", "float": "a number",
            "timestamp": "a date"}.get(tag, "text")


def show(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def suggest(word: str, choices: Collection[str], *, listing: bool = True) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; expected one of: {', '.join(choices)}" if listing else ""


def scalar(value: Any, info: ValidationInfo | None, what: str) -> Scalar | None:
    """``value`` as a YAML scalar, None when it was built in Python (left to pydantic)."""
    if isinstance(value, Scalar):
        if value.tag == "bad":
            raise PydanticCustomError(REPORTED, "{message}", {"message": ""})
        return value
    if isinstance(value, dict | list):
        raise problem(f"expected {what}, got {describe(value)}")
    if value is None and from_yaml(info):
        raise problem(f"has no value; expected {what}")
    return None


def _node(value: Scalar, kind: str) -> ScalarNode:
    return ScalarNode(_Y + kind, str(value))


# -- scalars ------------------------------------------------------------------------------------


def to_text(value: Any, info: ValidationInfo, *, empty: bool = False) -> Any:
    s = scalar(value, info, "text")
    if s is None:
        return value
    if not empty and not s.strip():
        raise problem("must not be empty")
    return str(s)


def to_int(value: Any, info: ValidationInfo) -> Any:
    s = scalar(value, info, "a whole number")
    if s is None:
        return value
    if s.tag != "int":
        raise problem(f"expected a whole number, got {show(s)}")
    return _CONSTRUCT.construct_yaml_int(_node(s, "int"))


def to_number(value: Any, info: ValidationInfo) -> Any:
    s = scalar(value, info, "a number")
    if s is None:
        return value
    if s.tag == "int":
        number = float(_CONSTRUCT.construct_yaml_int(_node(s, "int")))
    elif s.tag == "float":
        number = _CONSTRUCT.construct_yaml_float(_node(s, "float"))
    else:
        raise problem(f"expected a number, got {show(s)}")
    if not math.isfinite(number):
        raise problem("must be a finite number")
    return number


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*)+$"


def to_duration(value: Any, info: ValidationInfo) -> Any:
    """Seconds: a number, or text like ``30s``, ``5m``, ``1h30m``, ``250ms``, ``1d``."""
    s = scalar(value, info, "a duration")
    if s is None:
        return value
    if s.tag in ("int", "float"):
        return to_number(s, info)
    text = s.replace(" ", "").lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    if text and re.fullmatch(f"(?:{_DURATION_PART.pattern})+", text):
        return sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(text))
    raise problem(f"expected seconds or a duration like 30s, 5m, 1h, got {show(s)}")


_SIZE = re.compile(r"(\d+)\s*([kmgt]i?b|b)?", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def to_size(value: Any, info: ValidationInfo) -> Any:
    """Bytes: a whole number, or text like ``512MiB``, ``2GB``."""
    s = scalar(value, info, "a size")
    if s is None:
        return value
    if s.tag == "int":
        return to_int(s, info)
    match = _SIZE.fullmatch(s.strip())
    if match is None:
        raise problem(f"expected bytes or a size like 256MiB, 1GB, got {show(s)}")
    return int(match[1]) * _SIZE_UNITS[(match[2] or "b").lower()]


def to_bool(value: Any, info: ValidationInfo) -> Any:
    s = scalar(value, info, "true or false")
    if s is None:
        return value
    if s.tag != "bool":
        raise problem(f"expected true or false, got {show(s)}")
    return _CONSTRUCT.construct_yaml_bool(_node(s, "bool"))


def to_path(value: Any, info: ValidationInfo) -> Any:
    """Relative paths are relative to the config file's directory."""
    text = to_text(value, info)
    if not isinstance(text, str) or not from_yaml(info):
        return text
    return Path(context(info)["base"]) / Path(text).expanduser()


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def host_problem(text: str) -> str | None:
    """Why ``text`` is not an IP address or a DNS host name (syntax only, no DNS), or None."""
    try:
        ipaddress.ip_address(text)
        return None
    except ValueError:
        pass
    if ":" in text:
        return "is not a valid address (put the port under port:, IPv6 without brackets)"
    labels = text[:-1].split(".") if text.endswith(".") else text.split(".")
    if len(text) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return "is not a valid host name or IP address"
    if all(label.isdigit() for label in labels):
        return "is not a valid IP address"
    return None


def to_host(value: Any, info: ValidationInfo) -> Any:
    text = to_text(value, info)
    if isinstance(text, str) and (why := host_problem(text)):
        raise problem(f"{show(text)} {why}")
    return text


def to_url(value: Any, info: ValidationInfo) -> Any:
    text = to_text(value, info)
    if not isinstance(text, str):
        return text
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 -- raises ValueError when out of range
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise problem(f"expected an http:// or https:// URL with a host, got {show(text)}")
    return text


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
NAME_PATTERN = "^" + _NAME.pattern + "$"


def name_of(what: str) -> Callable[[Any, ValidationInfo], Any]:
    def check(value: Any, info: ValidationInfo) -> Any:
        text = to_text(value, info)
        if isinstance(text, str) and from_yaml(info) and not _NAME.fullmatch(text):
            raise problem(f"{what} {show(text)} may only use letters, digits, '.', '_' and '-' "
                          "(start with a letter or digit; at most 128)")
        return text
    return check


def choice_of(noun: str, choices: Collection[str], *,
              fold: bool = False) -> Callable[[Any, ValidationInfo], Any]:
    def check(value: Any, info: ValidationInfo) -> Any:
        text = to_text(value, info)
        if not isinstance(text, str):
            return text
        text = text.lower() if fold else text
        if text not in choices:
            raise problem(f"unknown {noun} {text!r}" + suggest(text, choices))
        return text
    return check


def tzinfo(name: str) -> dt.tzinfo:
    return dt.UTC if name == "UTC" else zoneinfo.ZoneInfo(name)


def to_timezone(value: Any, info: ValidationInfo) -> Any:
    text = to_text(value, info)
    if not isinstance(text, str):
        return text
    try:
        tzinfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(text, zoneinfo.available_timezones(), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise problem(f"unknown time zone {text!r} (IANA names like Europe/Berlin){hint}") \
            from None
    return text


_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def time_of_day(*, end: bool) -> Callable[[Any, ValidationInfo], Any]:
    """``08:00``; an end may be ``24:00`` ("until midnight", :data:`datetime.time.max`)."""
    def check(value: Any, info: ValidationInfo) -> Any:
        text = to_text(value, info)
        if not isinstance(text, str):
            return text
        match = _TIME.fullmatch(text.strip())
        hour, minute, second = (int(g or 0) for g in match.groups()) if match else (99, 0, 0)
        if end and (hour, minute, second) == (24, 0, 0):
            return dt.time.max
        if hour > 23 or minute > 59 or second > 59:
            raise problem(f"expected a time like 08:00 or 17:30, got {text!r}")
        return dt.time(hour, minute, second)
    return check


def to_timestamp(value: Any, info: ValidationInfo) -> Any:
    text = to_text(value, info)
    if not isinstance(text, str):
        return text
    try:
        return dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise problem("expected a date and time like 2024-06-01 08:00 or "
                      f"2024-06-01T08:00:00+02:00, got {text!r}") from None


_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _day(token: str) -> int | None:
    if token in _FULL_DAY_NAMES:
        return _FULL_DAY_NAMES.index(token)
    return _DAY_NAMES.index(token) if token in _DAY_NAMES else None


def to_days(value: Any, info: ValidationInfo) -> Any:
    """``mon-fri``, ``mon,wed,fri``, ``sat-sun`` or a list of such; 0 = Monday."""
    if isinstance(value, dict):
        raise problem("expected text, got a mapping")
    if not isinstance(value, Scalar | list) and not (value is None and from_yaml(info)):
        return value
    items = value if isinstance(value, list) else [value]
    if not items:
        raise problem("needs at least one day")
    out: set[int] = set()
    errors: list[InitErrorDetails] = []
    for i, item in enumerate(items):
        loc: tuple[str | int, ...] = (i,) if isinstance(value, list) else ()
        try:
            text = to_text(item, info)
        except PydanticCustomError as err:
            errors.append(InitErrorDetails(type=err, loc=loc, input=None))
            continue
        for token in text.split(","):
            first, _, last = token.strip().lower().partition("-")
            a, b = _day(first), (_day(last) if last else _day(first))
            if a is None or b is None:
                errors.append(detail((), f"unknown day {token.strip()!r}; use mon, tue, wed, "
                                     "thu, fri, sat, sun or a range like mon-fri"))
                continue
            out.update((a + n) % 7 for n in range((b - a) % 7 + 1))  # fri-mon wraps
    if errors:
        raise problems("days", errors)
    return frozenset(out)


_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+")


def to_address(value: Any, info: ValidationInfo) -> Any:
    text = to_text(value, info)
    if isinstance(text, str) and not _EMAIL.fullmatch(text.strip()):
        raise problem(f"expected an e-mail address like it@example.org, got {text!r}")
    return text.strip() if isinstance(text, str) else text


def to_addresses(value: Any, info: ValidationInfo) -> Any:
    if (isinstance(value, list) and not value) or (value is None and from_yaml(info)):
        raise problem("needs at least one address")
    return value


# -- secrets ------------------------------------------------------------------------------------

_SECRET_KINDS = "expected a secret: text, {env: NAME} or {file: PATH}"


def to_secret(value: Any, info: ValidationInfo) -> Secret:
    """Plain text, ``{env: NAME}`` or ``{file: PATH}`` (relative to the config file).
    Never quotes the value."""
    if isinstance(value, Secret):
        return value
    if isinstance(value, str) and not isinstance(value, Scalar):
        return Secret(value)
    if isinstance(value, dict):
        return _secret_source(value, info)
    if not isinstance(value, Scalar) or value.tag == "bad":
        if isinstance(value, Scalar):
            raise PydanticCustomError(REPORTED, "{message}", {"message": ""})
        raise problem(_SECRET_KINDS)
    if not value:
        raise problem("must not be empty")
    return Secret(str(value))


def _secret_source(value: dict[str, Any], info: ValidationInfo) -> Secret:
    unknown = [detail((k,), "unknown key" + suggest(k, ("env", "file")))
               for k in value if k not in ("env", "file")]
    if unknown:
        raise problems("secret", unknown)
    if len(value) > 1:
        raise problem("a secret takes either env: or file:, not both")
    if not value:
        raise problem(_SECRET_KINDS)
    env: Mapping[str, str] = context(info).get("env", {})
    if "env" in value:
        try:
            name = to_text(value["env"], info)
        except PydanticCustomError as err:
            raise problems("secret", [InitErrorDetails(type=err, loc=("env",), input=None)]) \
                from None
        text = env.get(name)
        if text is None:
            raise problem(f"environment variable {name} is not set")
        if not text:
            raise problem(f"environment variable {name} is empty")
        return Secret(text)
    try:
        file = to_path(value["file"], info)
    except PydanticCustomError as err:
        raise problems("secret", [InitErrorDetails(type=err, loc=("file",), input=None)]) \
            from None
    try:
        text = Path(file).read_text(encoding="utf-8").rstrip("\r\n")
    except FileNotFoundError:
        raise problem(f"secret file {file} not found") from None
    except UnicodeDecodeError:
        raise problem(f"secret file {file} is not UTF-8 text") from None
    except OSError as err:
        raise problem(f"cannot read secret file {file}: {err.strerror}") from None
    if not text:
        raise problem(f"secret file {file} is empty")
    return Secret(text)


SECRET_SCHEMA = {
    "description": "a secret: text, {env: NAME} or {file: PATH}; never printed",
    "anyOf": [
        {"type": "string", "minLength": 1},
        {"type": "object", "properties": {"env": {"type": "string", "minLength": 1}},
         "required": ["env"], "additionalProperties": False},
        {"type": "object", "properties": {"file": {"type": "string", "minLength": 1}},
         "required": ["file"], "additionalProperties": False},
    ],
}


def _mask(value: Secret) -> str:
    return str(value)  # "<secret>": dumps and JSON Schema defaults never show the value


# -- the types ----------------------------------------------------------------------------------

def _v(fn: Callable[[Any, ValidationInfo], Any]) -> BeforeValidator:
    return BeforeValidator(fn)


class OrText:
    """JSON Schema of a number that may also be written as text (``5m``, ``256MiB``): the
    number's own schema (with its bounds) or a string matching ``pattern``."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def __get_pydantic_json_schema__(self, schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        number = dict(handler(schema))
        outer: dict[str, Any] = {k: number.pop(k) for k in ("default", "description", "title")
                                 if k in number}
        return {**outer, "anyOf": [number, {"type": "string", "pattern": self.pattern}]}


SIZE_PATTERN = r"^\s*\d+\s*([kKmMgGtT][iI]?[bB]|[bB])?\s*$"


Text = Annotated[str, _v(to_text)]
AnyText = Annotated[str, _v(lambda v, i: to_text(v, i, empty=True))]
Int = Annotated[int, _v(to_int)]
Number = Annotated[float, _v(to_number)]
Bool = Annotated[bool, _v(to_bool)]
Duration = Annotated[float, _v(to_duration), OrText(DURATION_PATTERN)]
Size = Annotated[int, _v(to_size), OrText(SIZE_PATTERN)]
FilePath = Annotated[Path, _v(to_path)]
Host = Annotated[str, _v(to_host)]
Url = Annotated[str, _v(to_url), WithJsonSchema({"type": "string", "pattern": "^https?://"})]
TimeZone = Annotated[str, _v(to_timezone)]
StartTime = Annotated[dt.time, _v(time_of_day(end=False)),
                      WithJsonSchema({"type": "string", "pattern": r"^\d{1,2}:\d{2}(:\d{2})?$"})]
EndTime = Annotated[dt.time, _v(time_of_day(end=True)),
                    WithJsonSchema({"type": "string", "pattern": r"^\d{1,2}:\d{2}(:\d{2})?$"})]
Timestamp = Annotated[dt.datetime, _v(to_timestamp),
                      WithJsonSchema({"type": "string", "format": "date-time"})]
Days = Annotated[frozenset[int], _v(to_days), WithJsonSchema({"anyOf": [
    {"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]})]
Address = Annotated[str, _v(to_address)]
SecretValue = Annotated[Secret, PlainValidator(to_secret), PlainSerializer(_mask),
                        WithJsonSchema(SECRET_SCHEMA)]


NAME_SCHEMA = WithJsonSchema({"type": "string", "pattern": NAME_PATTERN})


def enum_schema(choices: Collection[str]) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "enum": list(choices)})
