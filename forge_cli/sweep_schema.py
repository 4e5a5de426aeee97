"""W&B's sweep-config format, checked offline, before a sweep is created or written.

The installed ``wandb`` validates sweep configs only through the optional ``sweeps`` package
(``wandb[sweeps]``: ``sweeps.schema_violations_from_proposed_config``, which runs jsonschema over
its ``config/schema.json``), and otherwise on the server when the sweep is created. That package
pins ``numpy<2``, which forge's numpy rules out, so forge carries the format itself: this module
is W&B's ``schema.json`` (draft-07, ``sweeps`` 0.3.0) written out as tables, with the checks
W&B's own engines add on top of the schema: ``min < max``, probabilities that match the values
and sum to 1, a metric for bayes search, only discrete parameters for grid search, and the
deprecated ``log_uniform`` family (whose bounds are exponents) refused in favour of
``log_uniform_values``.

:func:`sweep_violations` lists every violation, one line each; :func:`check_sweep_config`
raises the first as BadInput.
"""

from __future__ import annotations

import math
import re
from typing import Any

from forge_cli.errors import BadInput

METHODS = ("grid", "random", "bayes", "custom")
GOALS = ("minimize", "maximize")
PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")

TOP_LEVEL: dict[str, type | tuple[type, ...]] = {
    "apiVersion": str, "kind": str, "controller": dict, "description": str, "program": str,
    "job": str, "image_uri": str, "entity": str, "project": str, "method": str,
    "command": list, "name": str, "run_cap": int, "metric": dict, "metrics": list,
    "scheduler": dict, "early_terminate": dict, "parameters": dict}
"""Every top-level key W&B's schema allows (``additionalProperties: false``) and its type."""

METRIC_KEYS = {"name": str, "goal": GOALS, "target": "number",
               "impute": ("latest", "best", "worst"),
               "impute_while_running": ("latest", "best", "worst", "false")}

# distribution -> {key: kind}; kinds: "any", "array", "number", "integer", "positive" (> 0),
# "nonnegative" (>= 0). REQUIRED: the keys each one must have (W&B's defaults fill the rest).
DISTRIBUTIONS: dict[str, dict[str, str]] = {
    "categorical": {"values": "array"},
    "categorical_w_probabilities": {"values": "array", "probabilities": "array"},
    "constant": {"value": "any"},
    "int_uniform": {"min": "integer", "max": "integer"},
    "uniform": {"min": "number", "max": "number"},
    "q_uniform": {"min": "number", "max": "number", "q": "positive"},
    "log_uniform_values": {"min": "positive", "max": "number"},
    "inv_log_uniform_values": {"min": "positive", "max": "number"},
    "q_log_uniform_values": {"min": "positive", "max": "number", "q": "positive"},
    "normal": {"mu": "number", "sigma": "nonnegative"},
    "log_normal": {"mu": "number", "sigma": "nonnegative"},
    "q_normal": {"mu": "number", "sigma": "nonnegative", "q": "positive"},
    "q_log_normal": {"mu": "number", "sigma": "nonnegative", "q": "positive"},
    "beta": {"a": "nonnegative", "b": "nonnegative"},
    "q_beta": {"a": "nonnegative", "b": "nonnegative", "q": "positive"},
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "categorical": ("values",), "categorical_w_probabilities": ("values", "probabilities"),
    "constant": ("value",), "int_uniform": ("min", "max"), "uniform": ("min", "max")}
"""Distributions that may be left implicit; every other one needs ``distribution`` and, where it
has them, ``min`` and ``max`` (``mu``, ``sigma``, ``a``, ``b`` and ``q`` have defaults)."""
DEPRECATED = {"log_uniform": "log_uniform_values", "inv_log_uniform": "inv_log_uniform_values",
              "q_log_uniform": "q_log_uniform_values"}
GRID_DISTRIBUTIONS = ("categorical", "constant", "int_uniform", "q_uniform")
"""What W&B's grid search accepts (it refuses anything continuous, and probabilities)."""


def sweep_violations(config: Any) -> list[str]:
    """Every way ``config`` breaks W&B's sweep-config format, one line each; [] when valid."""
    if not isinstance(config, dict):
        return ["a sweep config is a mapping (method, metric, parameters, ...)"]
    out = []
    for key, value in config.items():
        if key not in TOP_LEVEL:
            out.append(f"unknown key {key!r}: W&B's sweep config allows {', '.join(TOP_LEVEL)}")
        elif not _is(value, TOP_LEVEL[key]):
            out.append(f"{key}: expected {_type_name(TOP_LEVEL[key])}, got {value!r}")
    method = config.get("method")
    if method is None:
        out.append("method is required: one of " + ", ".join(METHODS))
    elif method not in METHODS:
        out.append(f"method {method!r}: expected one of {', '.join(METHODS)}")
    if isinstance(config.get("run_cap"), int) and not config["run_cap"] > 0:
        out.append(f"run_cap: expected a count above 0, got {config['run_cap']!r}")
    if config.get("kind") not in (None, "sweep"):
        out.append(f"kind: expected 'sweep', got {config['kind']!r}")
    if isinstance(config.get("metric"), dict):
        out += _metric_violations(config["metric"])
    if "metric" in config and "metrics" in config:
        out.append("metric and metrics cannot both be set")
    if method == "bayes" and "metric" not in config:
        out.append("bayes search needs a metric to optimise")
    if "parameters" not in config and not (config.get("scheduler") or {}).get("search_space"):
        out.append("parameters is required")
    elif isinstance(config.get("parameters"), dict):
        kinds: dict[str, str] = {}
        out += _parameters_violations(config["parameters"], "parameters", kinds)
        if method == "grid":
            out += [f"{name}: grid search takes only discrete parameters (values, value, "
                    f"int_uniform, q_uniform), not {kind}: use --method random or bayes"
                    for name, kind in kinds.items() if kind not in GRID_DISTRIBUTIONS]
    return out


def check_sweep_config(config: Any) -> None:
    """BadInput naming the first violation of W&B's sweep-config format, if any."""
    if violations := sweep_violations(config):
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        raise BadInput(f"invalid W&B sweep config: {violations[0]}{more}")


def distribution_of(spec: dict[str, Any]) -> str | None:
    """The distribution W&B reads ``spec`` as (explicit, or implied by its keys); None for a
    nested ``{"parameters": ...}``."""
    if "distribution" in spec:
        return spec["distribution"]
    if "parameters" in spec:
        return None
    if "values" in spec:
        return "categorical_w_probabilities" if "probabilities" in spec else "categorical"
    if "value" in spec:
        return "constant"
    if _is(spec.get("min"), "integer") and _is(spec.get("max"), "integer"):
        return "int_uniform"
    return "uniform"


def _metric_violations(metric: dict[str, Any]) -> list[str]:
    out = [] if isinstance(metric.get("name"), str) else ["metric.name is required: a summary key"]
    for key, value in metric.items():
        allowed = METRIC_KEYS.get(key)
        if allowed is None:
            out.append(f"metric.{key}: unknown key (expected {', '.join(METRIC_KEYS)})")
        elif isinstance(allowed, tuple) and value not in allowed:
            out.append(f"metric.{key} {value!r}: expected one of {', '.join(allowed)}")
        elif not isinstance(allowed, tuple) and not _is(value, allowed):
            out.append(f"metric.{key}: expected {_type_name(allowed)}, got {value!r}")
    return out


def _parameters_violations(parameters: dict[str, Any], where: str,
                           kinds: dict[str, str]) -> list[str]:
    if not parameters:
        return [f"{where}: at least one parameter is needed"]
    out = []
    for name, spec in parameters.items():
        path = f"{where}.{name}"
        if not isinstance(name, str) or not PARAMETER_NAME.match(name):
            out.append(f"{where}: bad parameter name {name!r} (letters, digits, _ . -)")
        elif not isinstance(spec, dict):
            out.append(f"{path}: expected a parameter dict such as {{'values': [...]}}")
        elif not set(spec) & {"distribution", "values", "value", "min", "max", "parameters"}:
            out.append(f"{path}: not a W&B parameter (keys {', '.join(map(str, spec))}): expected "
                       "values, value, min and max, a distribution, or nested parameters")
        elif (kind := distribution_of(spec)) is None:  # nested: {"parameters": {...}}
            extra = sorted(set(spec) - {"parameters"})
            if extra or not isinstance(spec["parameters"], dict):
                out.append(f"{path}: a nested parameter holds only 'parameters': a dict")
            else:
                out += _parameters_violations(spec["parameters"], path, kinds)
        else:
            kinds[path.removeprefix("parameters.")] = str(kind)
            out += _spec_violations(path, kind, spec)
    return out


def _spec_violations(path: str, kind: Any, spec: dict[str, Any]) -> list[str]:
    if kind in DEPRECATED:
        return [f"{path}: W&B deprecated {kind} (its bounds are exponents): use "
                f"{DEPRECATED[kind]}, whose min and max are the values themselves"]
    if kind not in DISTRIBUTIONS:
        return [f"{path}: unknown distribution {kind!r}: expected one of "
                f"{', '.join(DISTRIBUTIONS)}"]
    keys = DISTRIBUTIONS[kind]
    out = [f"{path}: {kind} takes no {key!r} (it takes {', '.join(keys)})"
           for key in spec if key not in keys and key != "distribution"]
    required = REQUIRED.get(kind, tuple(key for key in ("min", "max") if key in keys))
    out += [f"{path}: {kind} needs {key!r}" for key in required if key not in spec]
    for key, value in spec.items():
        if key in keys and not _is(value, keys[key]):
            out.append(f"{path}.{key}: expected {_type_name(keys[key])}, got {value!r}")
    if out:
        return out
    if "values" in spec and not spec["values"]:
        out.append(f"{path}.values: at least one value is needed")
    if _is(spec.get("min"), "number") and _is(spec.get("max"), "number") \
            and not spec["min"] < spec["max"]:
        out.append(f"{path}: min {spec['min']!r} is not less than max {spec['max']!r}")
    if kind == "categorical_w_probabilities":
        values, probabilities = spec["values"], spec["probabilities"]
        if len(values) != len(probabilities):
            out.append(f"{path}: {len(values)} values but {len(probabilities)} probabilities")
        elif not all(_is(p, "nonnegative") for p in probabilities) \
                or not math.isclose(sum(probabilities), 1.0, abs_tol=1e-9):
            out.append(f"{path}.probabilities: expected numbers ≥ 0 that sum to 1")
    return out


def _is(value: Any, kind: Any) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "any":
        return True
    if kind == "array":
        return isinstance(value, list)
    if kind == "number":
        return number and math.isfinite(value)
    if kind == "integer" or kind is int:  # W&B's format checker: a Python int, 1.0 is not
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "positive":
        return number and math.isfinite(value) and value > 0
    if kind == "nonnegative":
        return number and math.isfinite(value) and value >= 0
    return isinstance(value, kind)


def _type_name(kind: Any) -> str:
    names = {"array": "a list", "number": "a number", "integer": "an integer",
             "positive": "a number above 0", "nonnegative": "a number ≥ 0", str: "a string",
             int: "an integer", dict: "a mapping", list: "a list"}
    return names.get(kind, str(kind))
