"""The JSON Schema of the collector's YAML file, for editors (yaml-language-server) and
``fleetwatch config schema``.

It is generated from :class:`~collector.config.model.ConfigFile`, so it names every key with its
type, default, bounds and description. It describes the file as an editor reads it (YAML 1.2):
``version: 3`` may be a number, durations may be text (``5m``). The loader stays the judge: it
also checks what a schema cannot (references between sections, secrets' sources, time zones).
Secrets' defaults show as ``<secret>``.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from collector.config.model import ConfigFile
from probes.secret import Secret


class _FileSchema(GenerateJsonSchema):
    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        # A key written without a value is an error (or an empty section): never "null".
        return self.generate_inner(schema["schema"])

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, Secret):
            return str(dft)  # "<secret>"
        if isinstance(dft, tuple) and hasattr(dft, "_fields"):  # a NamedTuple (Listen)
            return str(dft)
        return super().encode_default(dft)


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the whole config file."""
    schema = TypeAdapter(ConfigFile).json_schema(schema_generator=_FileSchema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema,
            "title": "Fleetwatch collector configuration"}
