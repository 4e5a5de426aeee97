"""The experiment contract every week plugs into.

An experiment is a plain function ``fn(config, tracker) -> summary``. It logs scalars, tables
and figures through the :class:`Tracker` it is given and returns a flat dict of summary numbers.
It never prints and never touches W&B: whoever runs it (``forge run``, a notebook, a test)
passes a tracker.

Experiments register themselves for a week with :func:`experiment`; :func:`experiments_for`
finds them by importing the week's package ``algorithms.weeks.weekNN``. This module must stay
light (no torch, numpy, matplotlib or wandb): the CLI imports it on start-up paths.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

Profile = Literal["smoke", "cpu", "gpu"]
PROFILES: tuple[str, ...] = ("smoke", "cpu", "gpu")


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` applied; nested dicts are merged key by key, not replaced."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


class InputError(ValueError):
    """An input an experiment was given cannot be used: a stored checkpoint that is corrupt or
    foreign, a tokenizer that does not fit a model, a configured corpus it cannot read. The
    message is one line; ``forge run`` reports it as bad input (exit 2) and keeps no partial
    run."""


class ExperimentConfig(BaseModel):
    """Base config of every experiment.

    Subclasses declare their hyperparameters as fields (defaults = the ``cpu`` profile) and put
    the values that change with the profile in ``profiles``, as explicit values:
    ``profiles = {"smoke": {"n_steps": 200}, "gpu": {"n_steps": 1_000_000}}``. A dict-valued
    field (say ``algo``, the keyword arguments passed through to an algorithm's own config) is
    merged key by key, so a profile names only what it changes.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: Profile = "cpu"
    seed: int = 0

    profiles: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def for_profile(cls, profile: str, seed: int = 0, **overrides: Any) -> ExperimentConfig:
        defaults = {name: field.get_default(call_default_factory=True)
                    for name, field in cls.model_fields.items()
                    if isinstance(field.get_default(call_default_factory=True), dict)}
        values = merge(merge(defaults, cls.profiles.get(profile, {})), overrides)
        return cls(profile=profile, seed=seed, **values)


class Tracker(Protocol):
    """What an experiment may do with its results and where it keeps what it makes
    (``forge_cli.tracking`` implements it for ``forge run``: the local run store and W&B)."""

    def log(self, metrics: dict[str, float], step: float | None = None, x: str = "step") -> None:
        """Scalars at ``x = step``. ``x`` names what the step counts (``sweep``, ``env_step``,
        ``gamma``, ``seq_len``): each series is drawn against its own axis, so a series may
        restart or run backwards without touching any other. Metric names follow
        ``section/name`` (``charts/value_error``)."""

    def log_table(self, key: str, columns: list[str], rows: list[list[Any]]) -> None:
        """A table (the post's result tables and W&B tables come from these)."""

    def log_figure(self, key: str, figure: Any, caption: str) -> None:
        """A matplotlib figure with a caption that says what it shows."""

    def track(self, iterable: Iterable[Any], total: int | None = None,
              description: str = "") -> Iterator[Any]:
        """Iterate with a per-step progress bar."""

    def artifact_dir(self, name: str) -> Path:
        """An empty folder inside this run for the artifact ``name`` (``lm:tinystories-base``),
        which the experiment declared in ``produces``: what is written there is stored with the
        run and logged to W&B as an artifact when the run finishes."""

    def use_artifact(self, name: str) -> Path:
        """The folder of artifact ``name`` (declared in ``needs``) from the newest finished run
        of this profile that made it; the runner makes it first when there is none."""

    def checkpoint_dir(self) -> Path:
        """This run's folder for training checkpoints: empty on a fresh run, holding the
        interrupted run's checkpoint when the run resumes one (``forge run --resume``)."""

    def cache_dir(self) -> Path:
        """A folder shared across runs for data derived from inputs (trained tokenizers,
        token arrays), which the experiment keys by the content it was derived from."""

    def data_file(self, name: str) -> Path | None:
        """The corpus file the user configured for ``name`` (``[data] tinystories`` in
        forge.toml), or None: use the excerpt shipped in ``algorithms/data``."""


ExperimentFn = Callable[[Any, Tracker], dict[str, float]]


@dataclass(frozen=True)
class Experiment:
    week: int
    name: str
    config: type[ExperimentConfig]
    fn: ExperimentFn
    description: str
    seeded: bool = True  # False: deterministic (e.g. dynamic programming); run once, seed 0
    units: tuple[tuple[str, str], ...] = ()
    """(glob over summary keys, unit) pairs, first match wins: (("*.wall_ms", "ms"),)."""
    covers: tuple[int, ...] = ()
    """Which of the study plan's named experiments for this week it covers (1-based)."""
    produces: tuple[str, ...] = ()
    """Artifacts (models) its runs store, by name: ``("lm:tinystories-base",)``."""
    needs: tuple[str, ...] = ()
    """Artifacts it loads; the runner makes each first when no finished run has it."""
    resumable: bool = False
    """It checkpoints through ``tracker.checkpoint_dir()``, so ``--resume`` can continue it."""

    def unit(self, metric: str) -> str:
        return next((unit for pattern, unit in self.units if fnmatch(metric, pattern)), "")


_REGISTRY: dict[int, dict[str, Experiment]] = {}

F = TypeVar("F", bound=ExperimentFn)


def experiment(week: int, name: str, config: type[ExperimentConfig], covers: tuple[int, ...],
               seeded: bool = True, units: dict[str, str] | None = None,
               produces: tuple[str, ...] = (), needs: tuple[str, ...] = (),
               resumable: bool = False) -> Callable[[F], F]:
    """Register ``fn`` as experiment ``name`` of ``week``; its docstring's first line describes it.

    ``covers`` lists the study plan's experiments for the week that this one implements, by
    their 1-based position in the plan's list. ``units`` maps globs over the summary's keys to
    units, used when results become a post's facts: ``{"*.wall_ms": "ms"}``. ``produces`` and
    ``needs`` name the artifacts it stores and loads (see :class:`Tracker`), ``resumable`` says
    that it checkpoints.
    """

    def register(fn: F) -> F:
        description = (fn.__doc__ or name).strip().splitlines()[0]
        _REGISTRY.setdefault(week, {})[name] = Experiment(
            week, name, config, fn, description, seeded, tuple((units or {}).items()),
            tuple(covers), tuple(produces), tuple(needs), resumable)
        return fn

    return register


def experiments_for(week: int) -> dict[str, Experiment]:
    """The experiments registered for ``week`` (importing ``algorithms.weeks.weekNN`` if any)."""
    module = f"algorithms.weeks.week{week:02d}"
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name != module:
            raise
    return dict(_REGISTRY.get(week, {}))


def producer_of(artifact: str) -> Experiment | None:
    """The registered experiment that declares ``artifact`` in its ``produces`` (the plan's 16
    weeks are imported to find it)."""
    for week in sorted(set(range(1, 17)) | set(_REGISTRY)):
        for candidate in experiments_for(week).values():
            if artifact in candidate.produces:
                return candidate
    return None
