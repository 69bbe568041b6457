"""The JSON Schema declares exactly the rule `check_env` enforces on variable names and
values, so a client that follows the OpenAPI document (or the .builder.yml schema) is never
refused by it (schemathesis found `{"": ""}` valid by the schema and refused by the API)."""

from __future__ import annotations

import jsonschema
from hypothesis import example, given
from hypothesis import strategies as st

from activities.analysis.repo_config import ENV_SCHEMA, MAX_ENV_VALUE, check_env

NAMES = st.text(alphabet="abcAZ_09-. tokenTOKENgh$", max_size=14)


def schema_accepts(env: dict[str, str]) -> bool:
    try:
        jsonschema.validate(env, {"type": "object", **ENV_SCHEMA})
    except jsonschema.ValidationError:
        return False
    return True


def rule_accepts(env: dict[str, str]) -> bool:
    try:
        check_env(env)
    except ValueError:
        return False
    return True


@given(NAMES)
@example("")
@example("GH_PAGES")
@example("my_token_x")
@example("PGPASSWORD")
@example("PGPASSWORDX")
@example("PYTHONPATH")
@example("_9")
def test_a_name_is_valid_by_the_schema_exactly_when_the_rule_accepts_it(name: str) -> None:
    env = {name: "v"}
    assert schema_accepts(env) == rule_accepts(env), name


def test_sizes_are_declared_as_the_rule_checks_them() -> None:
    for env in ({"A": "x" * MAX_ENV_VALUE}, {"A": "x" * (MAX_ENV_VALUE + 1)},
                {f"V{i}": "" for i in range(100)}, {f"V{i}": "" for i in range(101)}):  # fmt: skip
        assert schema_accepts(env) == rule_accepts(env)
