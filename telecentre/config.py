"""Loading a YAML config with environment overrides, strictly.

Both programs describe their config as pydantic models that forbid unknown keys, so a typo
stops the program at start instead of silently falling back to a default. Every key can be
overridden by `TELECENTRE_` + its upper-case dotted path joined with `__`
(`TELECENTRE_MQTT__HOST=broker`); the value is read as a YAML scalar (`8883`, `true`, `null`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

ENV_PREFIX = "TELECENTRE_"

Model = TypeVar("Model", bound=BaseModel)


class Strict(BaseModel):
    """Base of every config section: unknown keys are errors."""

    # A password of digits set from the environment arrives as a number: it is still text.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


#: Keys whose values never appear in an error message (they end up in logs and journald).
SECRET_WORDS = ("password", "token", "secret")


class ConfigError(Exception):
    """A config that cannot be used; the message is one line naming key, value and expectation."""


def _with_env_overrides(
    data: dict[str, Any], environ: Mapping[str, str], origins: dict[str, str]
) -> dict[str, Any]:
    """`data` with the environment's values set in; `origins` learns which dotted key came
    from which variable, so that an error about it names the variable, not the file."""
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        path = name.removeprefix(ENV_PREFIX).lower().split("__")
        origins[".".join(path)] = name
        node = data
        for key in path[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node = child
        try:
            node[path[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError:
            node[path[-1]] = raw
    return data


def _explain(error: ValidationError, source: str, origins: Mapping[str, str]) -> str:
    item = error.errors()[0]
    key = ".".join(str(part) for part in item["loc"]) or "(top level)"
    variable = next(
        (name for path, name in origins.items() if key == path or key.startswith(path + ".")), None
    )
    if variable is not None:
        source = f"environment variable {variable}"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    if item["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}'{more}"
    if item["type"] == "missing":
        return f"{source}: key '{key}' is required{more}"
    message = item["msg"].removeprefix("Value error, ")
    if any(word in key.lower() for word in SECRET_WORDS):
        return f"{source}: key '{_hide_tokens(key)}': {message}{more}"
    if not item["loc"]:
        # A check across keys (a model validator): its message names the keys; the input is
        # the whole config, which must not be dumped on one line (nor its credentials).
        return f"{source}: {message}{more}"
    return f"{source}: key '{key}' = {item.get('input')!r}: {message}{more}"


def _hide_tokens(key: str) -> str:
    """`api_tokens.s3cr3t…` names the token itself: keep only the key's first part."""
    first, _, rest = key.partition(".")
    return f"{first}.…" if rest and "token" in first else key


def load_or_exit(model: type[Model], path: str | Path | None, program: str) -> Model:
    """For a program's start: a bad config ends it with one line on stderr and status 2."""
    try:
        return load_config(model, path)
    except ConfigError as exc:
        print(f"{program}: bad config: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def load_config(
    model: type[Model], path: str | Path | None, environ: Mapping[str, str] | None = None
) -> Model:
    """The config in `path` (None: defaults only) with the environment's overrides applied."""
    source = str(path) if path is not None else "config"
    data: Any = {}
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read: {exc.strerror}") from None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ConfigError(f"{source}: not valid YAML{where}: {exc.problem}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML: {exc}".replace("\n", " ")) from None
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping of keys at the top level")
    origins: dict[str, str] = {}
    data = _with_env_overrides(data, os.environ if environ is None else environ, origins)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, source, origins)) from None
