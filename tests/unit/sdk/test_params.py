"""DAG params: schemas, defaults, run-conf overrides and the messages users see."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
from datetime import date

import pytest

from downwind.exceptions import DagDefinitionError, ParamValidationError
from downwind.sdk.params import NOTSET, Param, ParamsDict


def resolve_one(param: Param, value=NOTSET, name: str = "p"):
    return ParamsDict({name: param}).resolve({} if value is NOTSET else {name: value})[name]


def error_of(param: Param, value=NOTSET, name: str = "p") -> str:
    with pytest.raises(ParamValidationError) as info:
        resolve_one(param, value, name)
    return str(info.value)


# Param --------------------------------------------------------------------------------------


def test_param_without_schema_accepts_anything_serializable():
    assert Param(5).resolve() == 5
    assert Param().resolve({"a": [1, 2]}) == {"a": [1, 2]}
    assert Param(None).resolve() is None


def test_schema_is_built_from_the_keywords():
    param = Param(3, "how many", type="integer", minimum=1, maximum=10, multipleOf=1)
    assert param.schema == {"type": "integer", "minimum": 1, "maximum": 10, "multipleOf": 1}
    assert param.description == "how many"
    assert param.value == 3


def test_whole_schema_argument_as_in_airflow():
    param = Param("a", schema={"type": "string", "maxLength": 3})
    assert param.schema == {"type": "string", "maxLength": 3}
    assert "must be shorter than or equal to 3 characters" in error_of(param, "abcd")


def test_maximum_message_names_the_param_bound_and_value():
    assert error_of(Param(1, type="integer", maximum=10), 12, name="n") == (
        "param 'n': must be <= 10, got 12"
    )


def test_minimum():
    assert error_of(Param(5, minimum=0), -1, name="n") == "param 'n': must be >= 0, got -1"
    assert resolve_one(Param(5, minimum=0), 0) == 0


def test_exclusive_bounds():
    param = Param(5, exclusiveMinimum=0, exclusiveMaximum=10)
    assert error_of(param, 10) == "param 'p': must be < 10, got 10"
    assert error_of(param, 0) == "param 'p': must be > 0, got 0"
    assert resolve_one(param, 9.5) == 9.5


@pytest.mark.parametrize(
    ("type_", "good", "bad"),
    [
        ("integer", 3, "3"),
        ("integer", 3, 2.5),
        ("integer", 3, True),
        ("number", 2.5, "2.5"),
        ("string", "x", 1),
        ("boolean", False, 0),
        ("array", [1], {"a": 1}),
        ("object", {"a": 1}, [1]),
        ("null", None, 0),
        (["null", "string"], None, 3),
    ],
)
def test_type(type_, good, bad):
    param = Param(type=type_)
    assert resolve_one(param, good) == good
    message = error_of(param, bad)
    assert message.startswith("param 'p': must be ")
    assert message.endswith(f", got {bad!r}")


def test_type_error_message():
    assert error_of(Param(1, type="integer"), "5", name="n") == (
        "param 'n': must be integer, got '5'"
    )


def test_enum():
    param = Param("dev", enum=["dev", "prod"])
    assert resolve_one(param) == "dev"
    assert resolve_one(param, "prod") == "prod"
    assert error_of(param, "qa", name="env") == (
        "param 'env': must be one of ['dev', 'prod'], got 'qa'"
    )


def test_pattern():
    param = Param("abc", type="string", pattern="^[a-z]+$")
    assert resolve_one(param, "xyz") == "xyz"
    assert error_of(param, "ABC") == "param 'p': must match pattern ^[a-z]+$, got 'ABC'"


def test_min_and_max_length():
    param = Param("abc", type="string", minLength=2, maxLength=4)
    assert "must be longer than or equal to 2 characters" in error_of(param, "a")
    assert "must be shorter than or equal to 4 characters" in error_of(param, "abcde")


def test_items_and_nested_location():
    param = Param([1], type="array", items={"type": "integer", "maximum": 5}, minItems=1)
    assert resolve_one(param, [1, 2, 3]) == [1, 2, 3]
    assert error_of(param, [1, "x"], name="rows") == (
        "param 'rows': at [1]: must be integer, got 'x'"
    )
    assert error_of(param, [1, 9], name="rows") == "param 'rows': at [1]: must be <= 5, got 9"
    assert "must contain at least 1 items" in error_of(param, [])


def test_object_properties_and_required():
    param = Param(
        {"a": 1},
        type="object",
        properties={"a": {"type": "integer"}},
        required=["a"],
    )
    assert error_of(param, {"a": "x"}) == "param 'p': at a: must be integer, got 'x'"
    assert "must contain ['a'] properties" in error_of(param, {})


def test_object_schema_defaults_are_not_filled_into_the_value():
    conf = {"a": 1}
    param = Param(type="object", properties={"b": {"type": "integer", "default": 2}})
    assert resolve_one(param, conf) == {"a": 1}
    assert conf == {"a": 1}


def test_format_is_checked_when_supported_and_ignored_otherwise():
    assert resolve_one(Param("2026-01-01", type="string", format="date")) == "2026-01-01"
    assert "must be date" in error_of(Param(type="string", format="date"), "2026-13-01")
    # an unknown format (Airflow's UI uses "multiline") does not break validation
    assert resolve_one(Param("a\nb", type="string", format="multiline")) == "a\nb"


def test_required_param_without_default():
    assert error_of(Param(type="integer"), name="x") == "param 'x' is required and has no default"
    assert resolve_one(Param(type="integer"), 4) == 4


def test_default_is_validated_too():
    assert error_of(Param(20, maximum=10), name="n") == "param 'n': must be <= 10, got 20"


def test_none_is_a_value_not_a_missing_one():
    assert Param(None).resolve() is None
    assert error_of(Param(type="string"), None) == "param 'p': must be string, got None"
    assert resolve_one(Param(type=["null", "string"]), None) is None


def test_unserializable_value_is_rejected():
    message = error_of(Param(), object())
    assert message.startswith("param 'p': cannot serialize value of type 'object'")


def test_extra_serializer_types_are_fine_without_schema():
    assert Param(date(2026, 1, 1)).resolve() == date(2026, 1, 1)


def test_invalid_schema_is_a_definition_error():
    with pytest.raises(DagDefinitionError, match="param 'p' has an invalid schema"):
        resolve_one(Param(1, type="integr"))
    with pytest.raises(DagDefinitionError, match="invalid schema"):
        resolve_one(Param(1, minimum="zero"))


def test_long_values_are_shortened_in_messages():
    message = error_of(Param(type="integer"), "x" * 500)
    assert len(message) < 150
    assert message.endswith("...")


def test_resolve_does_not_change_the_default():
    param = Param(1, type="integer")
    assert param.resolve(2) == 2
    assert param.value == 1


def test_validators_are_compiled_once_and_cached():
    first, second = Param(1, maximum=3), Param(2, maximum=3)
    first.resolve()
    second.resolve()
    assert first._validator is second._validator


def test_param_pickles_and_deep_copies_after_validation():
    param = Param([1], type="array", description="d")
    param.resolve()
    clone = pickle.loads(pickle.dumps(param))
    assert clone == param
    assert clone.resolve() == [1]
    deep = copy.deepcopy(param)
    assert deep == param
    assert deep.value is not param.value
    assert pickle.loads(pickle.dumps(NOTSET)) is NOTSET
    assert copy.deepcopy(Param()).value is NOTSET


def test_repr():
    assert repr(Param(1, "n", type="integer")) == "Param(1, description='n', type='integer')"
    assert repr(NOTSET) == "NOTSET"


def test_importing_params_does_not_import_fastjsonschema():
    code = (
        "import sys, downwind.sdk.params as p; "
        "assert 'fastjsonschema' not in sys.modules; "
        "p.Param(1, type='integer').resolve(); "
        "assert 'fastjsonschema' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ParamsDict ---------------------------------------------------------------------------------


def test_plain_values_are_wrapped_and_named():
    params = ParamsDict({"a": 1, "b": Param(2, type="integer")})
    assert isinstance(params["a"], Param)
    assert params["a"].schema == {}
    assert params["a"].name == "a"
    assert params["b"].name == "b"
    assert params.get_param("b") is params["b"]
    assert dict(params.resolve()) == {"a": 1, "b": 2}


def test_the_same_param_under_two_names_keeps_both_names():
    shared = Param(type="integer")
    params = ParamsDict({"x": shared, "y": shared})
    assert error_of_dict(params, {"x": 1}) == "param 'y' is required and has no default"


def error_of_dict(params: ParamsDict, overrides=None) -> str:
    with pytest.raises(ParamValidationError) as info:
        params.resolve(overrides)
    return str(info.value)


def test_overrides_replace_defaults_and_are_validated():
    params = ParamsDict({"n": Param(5, type="integer", maximum=10), "name": "x"})
    assert params.resolve({"n": 7}) == {"n": 7, "name": "x"}
    assert params.resolve(None) == {"n": 5, "name": "x"}
    assert error_of_dict(params, {"n": 12}) == "param 'n': must be <= 10, got 12"


def test_override_keys_without_a_param_are_passed_through():
    params = ParamsDict({"n": 1})
    assert params.resolve({"extra": [1, 2]}) == {"n": 1, "extra": [1, 2]}


def test_every_bad_param_is_listed():
    params = ParamsDict(
        {"a": Param(type="integer"), "b": Param(1, maximum=0), "c": Param(1, type="integer")}
    )
    assert error_of_dict(params) == (
        "2 params are invalid: param 'a' is required and has no default; "
        "param 'b': must be <= 0, got 1"
    )


def test_assigning_a_plain_value_keeps_the_schema_and_validates():
    params = ParamsDict({"n": Param(5, "count", type="integer", maximum=10)})
    params["n"] = 7
    assert params["n"].value == 7
    assert params["n"].schema == {"type": "integer", "maximum": 10}
    assert params["n"].description == "count"
    with pytest.raises(ParamValidationError, match="param 'n': must be <= 10, got 11"):
        params["n"] = 11
    assert params["n"].value == 7


def test_update_and_copy_are_independent():
    base = ParamsDict({"a": 1, "b": Param(2, type="integer")})
    child = base.copy()
    child.update({"a": 10, "c": 3})
    child["b"] = 20
    assert base.resolve() == {"a": 1, "b": 2}
    assert child.resolve() == {"a": 10, "b": 20, "c": 3}
    assert isinstance(child, ParamsDict)
    child.update(ParamsDict({"d": Param(4)}))
    assert child["d"].name == "d"


def test_mapping_behaviour():
    params = ParamsDict({"a": 1, "b": 2})
    assert list(params) == ["a", "b"]
    assert len(params) == 2
    assert "a" in params
    del params["a"]
    assert list(params) == ["b"]
    assert params == ParamsDict({"b": 2})
    with pytest.raises(DagDefinitionError, match="param names must be str"):
        params[1] = 2  # type: ignore[index]


def test_dump_is_json_able_and_round_trips():
    import json

    params = ParamsDict(
        {
            "n": Param(5, "how many", type="integer", maximum=10),
            "req": Param(type="string"),
            "day": date(2026, 1, 1),
        }
    )
    dumped = params.dump()
    assert dumped["n"] == {
        "value": 5,
        "has_value": True,
        "schema": {"type": "integer", "maximum": 10},
        "description": "how many",
    }
    assert dumped["req"] == {
        "value": None,
        "has_value": False,
        "schema": {"type": "string"},
        "description": None,
    }
    assert dumped["day"]["value"] == {"__dw__": "date", "v": "2026-01-01"}
    restored = ParamsDict.from_dump(json.loads(json.dumps(dumped)))
    assert restored == params
    assert error_of_dict(restored, {"n": 11}).startswith("2 params are invalid: param 'n'")
