"""``forge sweep``: a W&B sweep over the search space an experiment declares.

An experiment declares ``search_space`` (W&B's sweep ``parameters``, keyed by fields of its
config; ``algo.learning_rate`` names a key of the dict field ``algo``) and ``search_metric`` (a
key of the summary it returns, and whether to minimise or maximise it) in its ``@experiment``.
:func:`build_sweep_config` turns that into a sweep config, checked before anything is created
or written: against W&B's sweep-config format (:mod:`forge_cli.sweep_schema`) and against the
experiment's own config class, which must accept every value the sweep can propose.

Which week, experiment and profile a sweep runs travels in the sweep config, as the constant
parameters ``forge_week``, ``forge_experiment`` and ``forge_profile``, so ``forge agent
SWEEP_ID`` (:mod:`forge_cli.sweep_agent`) works on any machine with the repository. A trial
maps its ``wandb.config`` onto config overrides with :func:`params_to_overrides`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from algorithms.experiment import (PROFILES, Experiment, ExperimentConfig, experiments_for,
                                   search_key)
from forge_cli.config import Settings
from forge_cli.errors import BadInput, ForgeError
from forge_cli.store import RunStore, write_text_atomic
from forge_cli.sweep_schema import check_sweep_config, distribution_of

FIXED = ("forge_week", "forge_experiment", "forge_profile")
"""The constant parameters that say what a sweep runs; never config overrides."""
SWEEP_METHODS = ("random", "bayes", "grid")
SWEEP_PATH = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}$")
SWEEPS_FOLDER = "sweeps"
"""``runs/sweeps/<sweep-id>/``: each sweep's trials, a run store of their own (see
:func:`sweep_store`)."""


@dataclass(frozen=True)
class SweepTarget:
    """What a sweep runs: read from its fixed parameters."""

    week: int
    experiment: str
    profile: str


@dataclass(frozen=True)
class SweepPath:
    """``ENTITY/PROJECT/ID``; entity None: the W&B account's default entity."""

    entity: str | None
    project: str
    id: str

    def __str__(self) -> str:
        return "/".join(part for part in (self.entity, self.project, self.id) if part)


# ----------------------------------------------------------------------------- the sweep config

def sweepable(week: int) -> list[str]:
    """The names of ``week``'s experiments that declare a search space."""
    return [name for name, found in experiments_for(week).items() if found.search_space]


def sweep_experiment(week: int, name: str | None) -> Experiment:
    """Experiment ``name`` of ``week``, which must declare a search space (BadInput otherwise,
    naming those that do)."""
    registered = experiments_for(week)
    names = sweepable(week)
    if names:
        offer = f"week {week}'s experiments with a search space: {', '.join(names)}"
    else:
        elsewhere = [f"week{other} {found}" for other in range(1, 17) if other != week
                     for found in sweepable(other)]
        offer = (f"week {week} has no experiment with a search space (sweepable: "
                 f"{', '.join(elsewhere) or 'none yet'}; an experiment declares one with "
                 "search_space= in its @experiment)")
    if name is None or not name.strip():
        raise BadInput(f"a sweep runs one experiment: name it with --only ({offer})")
    if name not in registered:
        raise BadInput(f"week {week} has no experiment {name!r}: {offer}")
    if not registered[name].search_space:
        raise BadInput(f"{name} declares no search space, so there is nothing to sweep: {offer}")
    return registered[name]


def build_sweep_config(experiment: Experiment, profile: str = "cpu", method: str = "random",
                       count: int | None = None) -> dict[str, Any]:
    """The W&B sweep config of ``experiment`` at ``profile``; BadInput when it would not
    validate or its config class refuses a value the sweep can propose."""
    if profile not in PROFILES:
        raise BadInput(f"unknown profile {profile!r}: expected one of {', '.join(PROFILES)}")
    if method not in SWEEP_METHODS:
        raise BadInput(f"unknown --method {method!r}: expected one of {', '.join(SWEEP_METHODS)}")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise BadInput(f"bad --count {count!r}: the most trials the sweep runs, 1 or more")
    metric, goal = experiment.search_metric or ("", "")
    config: dict[str, Any] = {
        "name": f"week{experiment.week:02d}-{experiment.name}-{profile}",
        "description": (f"forge: week {experiment.week} {experiment.name}, {profile} profile; "
                        "run its trials with `forge agent SWEEP_ID`"),
        "program": "forge",
        "method": method,
        "metric": {"name": metric, "goal": goal},
        "parameters": {"forge_week": {"value": experiment.week},
                       "forge_experiment": {"value": experiment.name},
                       "forge_profile": {"value": profile},
                       **deepcopy(experiment.search_space or {})},
    }
    if count is not None:
        config["run_cap"] = count
    check_sweep_config(config)
    check_values(experiment, profile, experiment.search_space or {})
    return config


def check_values(experiment: Experiment, profile: str, space: Mapping[str, Any]) -> None:
    """Build the config with each value the sweep can propose for each parameter (the values,
    or a range's ends and middle): BadInput naming the first one the config class refuses."""
    for name, spec in space.items():
        for value in _candidates(spec):
            try:
                trial_config(experiment, profile, {name: value})
            except BadInput as error:
                raise BadInput(f"search space of {experiment.name}: {name} = {value!r} is "
                               f"refused: {str(error).removeprefix(experiment.name + ': ')}"
                               ) from None


def _candidates(spec: dict[str, Any]) -> list[Any]:
    kind = distribution_of(spec)
    if kind in ("categorical", "categorical_w_probabilities"):
        return list(spec["values"])
    if kind == "constant":
        return [spec["value"]]
    if kind is None or "min" not in spec or "max" not in spec:
        return []  # nested, or normal/beta: unbounded, nothing to try at the edges
    low, high = spec["min"], spec["max"]
    if kind == "int_uniform" or kind.startswith("q_"):
        return [low, high]
    middle = math.sqrt(low * high) if "log" in kind else (low + high) / 2
    return [low, middle, high]


def params_to_overrides(experiment: Experiment,
                        params: Mapping[str, Any]) -> tuple[int | None, dict[str, Any]]:
    """``(seed, overrides)`` for ``experiment.config.for_profile`` from a trial's parameters
    (its ``wandb.config``): ``seed`` sets the seed (None: not swept), ``name`` a config field,
    ``name.key`` one key of the dict field ``name``, and a dict given for a dict field is merged
    into it key by key. The fixed ``forge_*`` parameters and W&B's own ``_`` keys are skipped.
    BadInput naming a parameter that names no config field."""
    seed, overrides = None, {}
    for key, value in params.items():
        if key in FIXED or key.startswith("_"):
            continue
        try:
            field, inner = search_key(experiment.config, key)
        except ValueError as error:
            raise BadInput(f"{experiment.name}: sweep parameter {error}") from None
        if field == "seed":
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not float(value).is_integer() or value < 0:
                raise BadInput(f"{experiment.name}: sweep parameter seed = {value!r}: seeds are "
                               "integers from 0")
            seed = int(value)
            continue
        current = overrides.get(field)
        if inner is None:
            if isinstance(value, dict) and isinstance(current, dict):
                overrides[field] = {**current, **value}
            else:
                overrides[field] = value
        elif current is None or isinstance(current, dict):
            overrides[field] = {**(current or {}), inner: value}
        else:
            raise BadInput(f"{experiment.name}: sweep parameters {field} and {key} both set "
                           f"{field}")
    return seed, overrides


def trial_config(experiment: Experiment, profile: str, params: Mapping[str, Any],
                 seed: int = 0) -> ExperimentConfig:
    """The config a trial runs: ``profile``'s, with the trial's parameters applied."""
    swept_seed, overrides = params_to_overrides(experiment, params)
    try:
        return experiment.config.for_profile(
            profile, seed=seed if swept_seed is None else swept_seed, **overrides)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = " ".join(str(first["msg"]).split())
        raise BadInput(f"{experiment.name}: {where + ': ' if where else ''}{message}") from None


def target_from_sweep_config(config: Any, sweep: str) -> SweepTarget:
    """What the sweep runs, from its fixed parameters; BadInput for a sweep `forge sweep` did
    not make."""
    parameters = config.get("parameters") if isinstance(config, dict) else None
    parameters = parameters if isinstance(parameters, dict) else {}

    def fixed(key: str) -> Any:
        spec = parameters.get(key)
        return spec.get("value") if isinstance(spec, dict) else None

    week, name, profile = (fixed(key) for key in FIXED)
    if (isinstance(week, bool) or not isinstance(week, int) or not isinstance(name, str)
            or profile not in PROFILES):
        raise BadInput(f"sweep {sweep} was not made by `forge sweep`: its parameters lack the "
                       f"constant {', '.join(FIXED)} that say what it runs")
    return SweepTarget(week, name, profile)


# ----------------------------------------------------------------------------- W&B

def why_no_sweeps(settings: Settings, action: str) -> str | None:
    """Why ``action`` ("creating a sweep") cannot reach W&B here, or None."""
    from forge_cli.pull import wandb_credentials_present

    if settings.wandb.mode != "online":
        return (f"{action} needs W&B online ([wandb] mode = \"online\" in forge.toml, or "
                f"FORGE_WANDB__MODE=online, and WANDB_API_KEY); W&B is {settings.wandb.mode} "
                "here")
    if not wandb_credentials_present(settings):
        return f"{action} needs W&B credentials: set WANDB_API_KEY or run `wandb login`"
    return None


def create_sweep(config: dict[str, Any], settings: Settings) -> SweepPath:
    """Create the sweep in forge's W&B project (the one ``forge run`` logs to)."""
    import wandb

    try:
        sweep_id = wandb.sweep(config, entity=settings.wandb.entity,
                               project=settings.wandb.project)
    except Exception as error:  # the SDK raises many types for network, auth and server errors
        raise ForgeError(f"cannot create the sweep: W&B: {' '.join(str(error).split())}") from None
    return SweepPath(settings.wandb.entity, settings.wandb.project, str(sweep_id))


def parse_sweep_path(text: str, settings: Settings) -> SweepPath:
    """``ID``, ``PROJECT/ID`` or ``ENTITY/PROJECT/ID``; what is left out comes from forge.toml's
    ``[wandb]``."""
    text = text.strip()
    if not SWEEP_PATH.match(text):
        raise BadInput(f"bad sweep id {text!r}: expected the id `forge sweep` printed, or "
                       "ENTITY/PROJECT/ID")
    parts = text.split("/")
    if len(parts) == 3:
        return SweepPath(*parts)
    if len(parts) == 2:
        return SweepPath(settings.wandb.entity, parts[0], parts[1])
    return SweepPath(settings.wandb.entity, settings.wandb.project, parts[0])


def sweep_store(settings: Settings, sweep_id: str) -> RunStore:
    """The run store of one sweep's trials: ``runs/sweeps/<sweep-id>/``, laid out like
    ``runs/``. Apart, because results, facts and drafts read the newest run per (experiment,
    seed) of ``runs/``: a trial there would replace the week's result with one point of a
    search."""
    return RunStore(settings.path("runs") / SWEEPS_FOLDER / sweep_id)


# ----------------------------------------------------------------------------- files

def sweep_config_text(config: dict[str, Any], path: Path | None = None) -> str:
    """The config as W&B's CLI reads it: YAML, or JSON for a ``.json`` path."""
    if path is not None and path.suffix.lower() == ".json":
        return json.dumps(config, indent=2) + "\n"
    import yaml

    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=1000)


def check_out_path(path: Path) -> None:
    """BadInput before anything is written, for a path the config cannot be written to."""
    if path.is_dir():
        raise BadInput(f"--out {path} is a folder: name the file to write")
    if not path.parent.is_dir():
        raise BadInput(f"--out {path}: no folder {path.parent}")


def write_sweep_config(config: dict[str, Any], path: Path) -> Path:
    check_out_path(path)
    write_text_atomic(path, sweep_config_text(config, path))
    return path
