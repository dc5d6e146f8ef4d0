"""One declared schema per artifact file kind, validated on load (pydantic): a module set's
``manifest.json``, a run's ``config.json``, ``vocab.json`` and ``metrics.json``. Fields rnnmod
does not know are kept (newer writers may add some); every known field has a declared type, and
a violation is one line naming the file and the field."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from .choices import RULES, UNIT_SEMANTICS
from .errors import RnnmodError

MODULESET_KIND = "rnnmod.moduleset"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SOURCE_ID = re.compile(r"[A-Za-z0-9_-]+")


def _inside(rel: str) -> str:
    """A relative path inside the artifact (no absolute path, no ``..``, no drive letter)."""
    p = PurePosixPath(rel)
    if (
        not rel
        or "\\" in rel
        or ":" in rel
        or "\0" in rel
        or p.is_absolute()
        or ".." in p.parts
        or "." in rel.split("/")
    ):
        raise ValueError("is not a file inside the module set")
    return rel


def _sha256(digest: str) -> str:
    if not _SHA256.fullmatch(digest):
        raise ValueError("is not a sha256 hex digest")
    return digest


def _source_id(sid: str) -> str:
    if not _SOURCE_ID.fullmatch(sid):
        raise ValueError("is not a source id (letters, digits, _ and -)")
    return sid


InsidePath = Annotated[StrictStr, AfterValidator(_inside)]
Sha256 = Annotated[StrictStr, AfterValidator(_sha256)]
SourceId = Annotated[StrictStr, AfterValidator(_source_id)]
Number = StrictInt | StrictFloat


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ModuleEntry(_Open):
    label: StrictStr
    source: StrictStr
    file: InsidePath
    class_index: StrictInt
    bytes: StrictInt | None = Field(default=None, ge=0)
    retained_units: Number | None = None
    warnings: list[StrictStr] = []


class SourceMeta(_Open):
    model_sha256: Sha256 | None = None
    model_bytes: StrictInt | None = Field(default=None, ge=0)
    task: StrictStr | None = None
    io_type: StrictStr | None = None


class ManifestConfig(_Open):
    module_output: Literal["binary", "softmax"] = "binary"
    unit_semantics: Literal[UNIT_SEMANTICS] = "dead"  # type: ignore[valid-type]
    preset: StrictStr | None = None
    mode: StrictStr | None = None


class Manifest(_Open):
    kind: Literal["rnnmod.moduleset"]
    format_version: StrictInt = 0
    checksums: dict[InsidePath, Sha256]
    modules: list[ModuleEntry] = Field(min_length=1)
    sources: dict[SourceId, SourceMeta]
    config: ManifestConfig = ManifestConfig()
    task: StrictStr | None = None
    io_type: StrictStr | None = None
    mode: StrictStr | None = None
    rule: Literal[RULES] = "probability"  # type: ignore[valid-type]
    calibration: dict[StrictStr, tuple[Number, Number]] | None = None
    calibration_level: Literal["texts", "positions"] = "texts"
    composed_from: list[StrictStr] | None = None
    warnings: list[StrictStr] = []
    reused: StrictBool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        labels = [e.label for e in self.modules]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ValueError(f"duplicate module label(s) {', '.join(map(repr, dup))}")
        for e in self.modules:
            if e.source not in self.sources:
                raise ValueError(f"module {e.label!r} names an unknown source {e.source!r}")
        if self.rule == "calibrated" and self.calibration is None:
            raise ValueError("a calibrated module set needs a 'calibration' object")
        if self.calibration_level == "positions" and self.rule != "calibrated":
            raise ValueError("'calibration_level' positions needs the calibrated rule")
        return self


def _field(loc: tuple) -> str:
    return ".".join(str(x) for x in loc if x != "[key]")


_EXPECTED = {
    "dict_type": "an object",
    "list_type": "a list",
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "model_type": "an object",
    "tuple_type": "a pair",
}


class RunConfig(_Open):
    """A run's ``config.json`` (the ``model`` object is its family's config class's to check)."""

    task: StrictStr
    format_version: StrictInt = 0
    io_type: StrictStr | None = None
    model: dict
    data_options: dict = {}
    pad_label: StrictInt | None = None
    seed: StrictInt | None = None


class VocabFile(_Open):
    """A run's ``vocab.json``: the source vocabulary, a translator's target one, the labels."""

    source: dict
    target: dict | None = None
    labels: list[StrictStr]


class Metrics(_Open):
    """A run's ``metrics.json``: numbers and objects of numbers, keyed by name."""


SCHEMAS: dict[str, type[BaseModel]] = {
    "manifest.json": Manifest,
    "config.json": RunConfig,
    "vocab.json": VocabFile,
    "metrics.json": Metrics,
}


def describe(err: ValidationError) -> str:
    """The first violation as one line: which field, what was wrong."""
    e = err.errors(include_url=False)[0]
    field, kind, value = _field(e["loc"]), e["type"], e.get("input")
    if kind == "missing":
        return f"missing field '{field}'"
    if kind in _EXPECTED:
        return f"field '{field}' must be {_EXPECTED[kind]}, got {type(value).__name__}"
    if kind == "literal_error":
        return f"field '{field}' must be {e['ctx']['expected']}, got {value!r}"
    if kind == "too_short" and field == "modules":
        return "lists no modules"
    msg = e["msg"].removeprefix("Value error, ")
    if not field:
        return msg
    return (
        f"field '{field}' ({value!r}) {msg}" if kind == "value_error" else f"field '{field}': {msg}"
    )


def validate(obj: Any, where: Path, schema: type[BaseModel]) -> dict:
    """``obj`` checked against ``schema``; returns the JSON object unchanged."""
    if not isinstance(obj, dict):
        raise RnnmodError(f"{where}: expected a JSON object")
    try:
        schema.model_validate(obj)
    except ValidationError as e:
        raise RnnmodError(f"{where}: {describe(e)}") from None
    return obj


def validate_manifest(obj: Any, where: Path) -> dict:
    """A module set manifest checked against :class:`Manifest`; returns the JSON object."""
    if not isinstance(obj, dict) or obj.get("kind") != MODULESET_KIND:
        raise RnnmodError(f"{where} is not an rnnmod module set manifest")
    return validate(obj, where, Manifest)
