"""Compose's variable substitution, which YAML parsers leave to the caller.

`${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?error}`, `${NAME?error}`; `$$` is a
literal `$`. Used by the smoke test's stack driver and by the compose file's own tests.
"""

import re


VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(text: str, environment: dict[str, str]) -> str:
    """`text` with every variable replaced; ValueError names a required one that is unset."""

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        value = environment.get(name)
        unset_or_empty = not value if op and op.startswith(":") else value is None
        if op and op.endswith("-") and unset_or_empty:
            return arg
        if op and op.endswith("?") and unset_or_empty:
            raise ValueError(f"{name}: {arg}")
        return value or ""

    return VARIABLE.sub(substitute, text)
