"""DAG params: named values with an optional JSON schema, overridable by a run's conf.

As in Airflow, ``DAG(params={"n": Param(5, type="integer", maximum=10), "name": "x"})``
declares params; a run's conf overrides them, and :meth:`ParamsDict.resolve` validates the
result before the run starts. Validation uses ``fastjsonschema``, imported (and each schema
compiled) only when something is validated, so that importing a DAG file stays cheap.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, Final

from downwind.exceptions import DagDefinitionError, ParamValidationError, SerializationError
from downwind.runtime import serde

__all__ = ["NOTSET", "ArgNotSet", "Param", "ParamsDict"]

_MAX_REPR = 80


class ArgNotSet:
    """Type of :data:`NOTSET`: "no value given", where ``None`` is a legitimate value."""

    _instance: ArgNotSet | None = None

    def __new__(cls) -> ArgNotSet:  # one instance, also after copy or pickle
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOTSET"

    def __reduce__(self) -> str:
        return "NOTSET"


NOTSET: Final = ArgNotSet()


class Param:
    """A param's default value and the JSON schema its value must satisfy.

    ``type``, ``enum``, ``minimum``, ``maximum``, ``pattern`` and any other keyword argument
    (``minLength``, ``items``, ``format``, ...) are JSON schema keywords; ``schema={...}``
    gives a whole schema at once (as Airflow allows). A param without a default must get a
    value from the run conf.
    """

    __slots__ = ("_validator", "description", "name", "schema", "value")

    def __init__(
        self,
        default: Any = NOTSET,
        description: str | None = None,
        *,
        type: str | list[str] | None = None,  # shadows the builtin: it is the JSON schema keyword
        enum: list[Any] | None = None,
        minimum: float | None = None,
        maximum: float | None = None,
        pattern: str | None = None,
        **schema: Any,
    ) -> None:
        whole = schema.pop("schema", None)
        if whole is not None and not isinstance(whole, Mapping):
            raise DagDefinitionError(f"Param schema must be a mapping, got {whole!r}")
        full: dict[str, Any] = dict(whole or {})
        named = {
            "type": type,
            "enum": enum,
            "minimum": minimum,
            "maximum": maximum,
            "pattern": pattern,
        }
        full.update({key: val for key, val in named.items() if val is not None})
        full.update(schema)
        self.value: Any = default
        self.description: str | None = description
        self.schema: dict[str, Any] = full
        self.name: str | None = None  # set by the ParamsDict that holds it
        self._validator: Callable[[Any], Any] | None = None

    @property
    def has_value(self) -> bool:
        """Whether the param has a default value."""
        return self.value is not NOTSET

    def resolve(self, value: Any = NOTSET) -> Any:
        """Return ``value`` (or the default if not given) after validating it.

        Raises :class:`~downwind.exceptions.ParamValidationError` naming the param and the
        reason, and :class:`~downwind.exceptions.DagDefinitionError` if the schema itself
        is invalid.
        """
        final = self.value if value is NOTSET else value
        label = self._label()
        if final is NOTSET:
            raise ParamValidationError(f"{label} is required and has no default")
        try:
            serde.encode(final)
        except SerializationError as err:
            raise ParamValidationError(f"{label}: {err}") from None
        if self.schema:
            import fastjsonschema  # validation only: keep `import downwind.sdk.params` cheap

            validate = self._get_validator()
            try:
                validate(final)
            except fastjsonschema.JsonSchemaValueException as err:
                raise ParamValidationError(f"{label}: {_describe(err)}") from None
        return final

    def dump(self) -> dict[str, Any]:
        """A JSON-able description: ``{"value", "has_value", "schema", "description"}``.

        ``value`` is the default encoded with :func:`downwind.runtime.serde.encode` (plain
        JSON values stay as they are), or ``None`` without a default.
        """
        return {
            "value": serde.encode(self.value) if self.has_value else None,
            "has_value": self.has_value,
            "schema": copy.deepcopy(self.schema),
            "description": self.description,
        }

    @classmethod
    def from_dump(cls, data: Mapping[str, Any]) -> Param:
        """Rebuild a param from :meth:`dump` output (e.g. from a serialized DAG)."""
        has_value = data.get("has_value", data.get("value") is not None)
        default = serde.decode(data.get("value")) if has_value else NOTSET
        return cls(default, data.get("description"), schema=dict(data.get("schema") or {}))

    def _label(self) -> str:
        return f"param {self.name!r}" if self.name is not None else "param"

    def _get_validator(self) -> Callable[[Any], Any]:
        if self._validator is None:
            try:
                key = json.dumps(self.schema, sort_keys=True)
            except (TypeError, ValueError) as err:
                raise DagDefinitionError(f"{self._label()} has an invalid schema: {err}") from None
            try:
                self._validator = _compile(key)
            except Exception as err:  # fastjsonschema.JsonSchemaDefinitionException, bad regex
                raise DagDefinitionError(f"{self._label()} has an invalid schema: {err}") from None
        return self._validator

    def _copy(self, name: str | None = None, value: Any = NOTSET) -> Param:
        new = Param.__new__(Param)
        new.value = self.value if value is NOTSET else value
        new.description = self.description
        new.schema = self.schema
        new.name = name if name is not None else self.name
        new._validator = self._validator
        return new

    def __getstate__(self) -> dict[str, Any]:
        # The compiled validator is generated code and cannot be pickled; it is rebuilt lazily.
        return {slot: getattr(self, slot) for slot in self.__slots__ if slot != "_validator"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, val in state.items():
            setattr(self, key, val)
        self._validator = None

    def __deepcopy__(self, memo: dict[int, Any]) -> Param:
        new = self._copy()
        new.value = copy.deepcopy(self.value, memo)
        new.schema = copy.deepcopy(self.schema, memo)
        return new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Param):
            return NotImplemented
        return (self.value, self.description, self.schema) == (
            other.value,
            other.description,
            other.schema,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dict it describes

    def __repr__(self) -> str:
        parts = [repr(self.value)]
        if self.description is not None:
            parts.append(f"description={self.description!r}")
        parts.extend(f"{key}={val!r}" for key, val in self.schema.items())
        return f"Param({', '.join(parts)})"


class ParamsDict(MutableMapping[str, Param]):
    """The params of a DAG or task: a mapping of name to :class:`Param`.

    Plain values are wrapped in a schema-less ``Param``. Assigning a plain value to a name
    that already holds a ``Param`` keeps its schema and description, changes its default,
    and validates the new default at once (as Airflow does).
    """

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self._params: dict[str, Param] = {}
        if params:
            self.update(params)

    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __setitem__(self, name: str, value: Any) -> None:
        if not isinstance(name, str):
            raise DagDefinitionError(f"param names must be str, got {name!r}")
        if isinstance(value, Param):
            param = value._copy(name=name)
        elif name in self._params:
            param = self._params[name]._copy(value=value)
            param.resolve()
        else:
            param = Param(value)
            param.name = name
        self._params[name] = param

    def __delitem__(self, name: str) -> None:
        del self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        return f"ParamsDict({self._params!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ParamsDict):
            return self._params == other._params
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def get_param(self, name: str) -> Param:
        """The :class:`Param` called ``name`` (Airflow's spelling of ``params[name]``)."""
        return self._params[name]

    def copy(self) -> ParamsDict:
        """A new ``ParamsDict`` with the same params (changing one leaves the other alone)."""
        new = ParamsDict()
        new._params = {name: param._copy() for name, param in self._params.items()}
        return new

    def resolve(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The validated plain values, with ``overrides`` (a run's conf) applied.

        Override keys without a declared param are passed through, as Airflow's run conf
        does. Raises :class:`~downwind.exceptions.ParamValidationError` listing every param
        that is invalid.
        """
        overrides = overrides or {}
        values: dict[str, Any] = {}
        errors: list[str] = []
        for name, param in self._params.items():
            try:
                values[name] = param.resolve(overrides.get(name, NOTSET))
            except ParamValidationError as err:
                errors.append(str(err))
        for name, value in overrides.items():
            if name not in self._params:
                values[name] = value
        if len(errors) == 1:
            raise ParamValidationError(errors[0])
        if errors:
            raise ParamValidationError(f"{len(errors)} params are invalid: " + "; ".join(errors))
        return values

    def dump(self) -> dict[str, dict[str, Any]]:
        """A JSON-able description of every param (see :meth:`Param.dump`)."""
        return {name: param.dump() for name, param in self._params.items()}

    @classmethod
    def from_dump(cls, data: Mapping[str, Mapping[str, Any]]) -> ParamsDict:
        """Rebuild from :meth:`dump` output, e.g. to validate a run conf in the API server."""
        return cls({name: Param.from_dump(item) for name, item in data.items()})


@functools.lru_cache(maxsize=256)
def _compile(schema_json: str) -> Callable[[Any], Any]:
    """Compile a schema once per process (many params, and re-parsed DAGs, share schemas)."""
    import fastjsonschema

    # use_default=False: never fill defaults into (and so mutate) the user's value.
    return fastjsonschema.compile(json.loads(schema_json), use_default=False)


_BOUNDS = {"maximum": "<=", "minimum": ">=", "exclusiveMaximum": "<", "exclusiveMinimum": ">"}


def _describe(err: Any) -> str:
    """``must be <= 10, got 12`` from a fastjsonschema error (``at [0]: ...`` when nested)."""
    rule, definition = err.rule, err.definition
    bound = definition.get(rule) if isinstance(definition, Mapping) else None
    if rule in _BOUNDS and isinstance(bound, (int, float)) and not isinstance(bound, bool):
        reason = f"must be {_BOUNDS[rule]} {bound!r}"
    else:
        reason = err.message.removeprefix(err.name).strip()
    where = err.name.removeprefix("data").removeprefix(".")
    prefix = f"at {where}: " if where else ""
    return f"{prefix}{reason}, got {_short_repr(err.value)}"


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."
