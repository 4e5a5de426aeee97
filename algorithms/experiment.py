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
from copy import deepcopy
from dataclasses import dataclass, field
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

    def llm_judge(self) -> Callable[[str, str, str], str] | None:
        """The configured LLM as a function (system, shared context, prompt) → its answer, with
        ``name`` (which model), ``calls``, ``retries`` and ``cost_usd`` attributes; None when no
        provider is configured (no key): the experiment then uses its offline stand-in and names
        it as such in its results. Failures are retried by the runner's backend; one that does
        not recover raises."""


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
    search_space: dict[str, dict[str, Any]] | None = field(default=None, compare=False)
    """W&B sweep ``parameters`` over config fields (``forge sweep``): ``{"lr": {"values": [...]}}``
    or ``{"algo.learning_rate": {"distribution": "log_uniform_values", "min": ..., "max": ...}}``;
    a dotted key names a key of a dict-valued field."""
    search_metric: tuple[str, str] | None = None
    """The summary key a sweep optimises and its goal: ``("eval_return", "maximize")``."""

    def unit(self, metric: str) -> str:
        return next((unit for pattern, unit in self.units if fnmatch(metric, pattern)), "")


_REGISTRY: dict[int, dict[str, Experiment]] = {}

F = TypeVar("F", bound=ExperimentFn)


def experiment(week: int, name: str, config: type[ExperimentConfig], covers: tuple[int, ...],
               seeded: bool = True, units: dict[str, str] | None = None,
               produces: tuple[str, ...] = (), needs: tuple[str, ...] = (),
               resumable: bool = False, search_space: dict[str, dict[str, Any]] | None = None,
               search_metric: tuple[str, str] | None = None) -> Callable[[F], F]:
    """Register ``fn`` as experiment ``name`` of ``week``; its docstring's first line describes it.

    ``covers`` lists the study plan's experiments for the week that this one implements, by
    their 1-based position in the plan's list. ``units`` maps globs over the summary's keys to
    units, used when results become a post's facts: ``{"*.wall_ms": "ms"}``. ``produces`` and
    ``needs`` name the artifacts it stores and loads (see :class:`Tracker`), ``resumable`` says
    that it checkpoints. ``search_space`` (W&B sweep ``parameters`` keyed by config fields) and
    ``search_metric`` (a summary key and ``"minimize"`` or ``"maximize"``) make it sweepable with
    ``forge sweep``; a key that names no config field is a ValueError here, at registration.
    """
    _check_search(name, config, search_space, search_metric)

    def register(fn: F) -> F:
        description = (fn.__doc__ or name).strip().splitlines()[0]
        _REGISTRY.setdefault(week, {})[name] = Experiment(
            week, name, config, fn, description, seeded, tuple((units or {}).items()),
            tuple(covers), tuple(produces), tuple(needs), resumable,
            deepcopy(search_space), tuple(search_metric) if search_metric else None)
        return fn

    return register


SEARCH_GOALS = ("minimize", "maximize")


def search_key(config: type[ExperimentConfig], key: str) -> tuple[str, str | None]:
    """``key`` of a search space as (field, key inside that dict-valued field or None):
    ``"lr"`` -> ``("lr", None)``, ``"train.lr"`` -> ``("train", "lr")``. A ValueError naming
    ``key`` when it names no field of ``config`` (``profile`` is chosen per sweep, not swept)."""
    head, dot, tail = key.partition(".")
    fields = [name for name in config.model_fields if name != "profile"]
    if head not in fields:
        raise ValueError(f"{key!r} is not a field of {config.__name__}: expected one of "
                         f"{', '.join(fields)}")
    if not dot:
        return head, None
    default = config.model_fields[head].get_default(call_default_factory=True)
    if not isinstance(default, dict):
        raise ValueError(f"{key!r}: {config.__name__}.{head} is not a dict-valued field, so it "
                         "has no keys to sweep")
    if not tail.isidentifier():
        raise ValueError(f"{key!r}: expected {head}.NAME, one key of the dict {head}")
    return head, tail


def _check_search(name: str, config: type[ExperimentConfig],
                  space: dict[str, dict[str, Any]] | None,
                  metric: tuple[str, str] | None) -> None:
    if space is None:
        if metric is not None:
            raise ValueError(f"{name}: search_metric without a search_space")
        return
    if not isinstance(space, dict) or not space:
        raise ValueError(f"{name}: search_space must be a non-empty dict of config fields")
    for key, spec in space.items():
        try:
            search_key(config, key)
        except ValueError as error:
            raise ValueError(f"{name}: search_space key {error}") from None
        if not isinstance(spec, dict) or not spec:
            raise ValueError(f"{name}: search_space[{key!r}] must be a W&B parameter dict such "
                             'as {"values": [...]}')
    if (not isinstance(metric, tuple | list) or len(metric) != 2 or not isinstance(metric[0], str)
            or not metric[0] or metric[1] not in SEARCH_GOALS):
        raise ValueError(f"{name}: a search_space needs search_metric=(SUMMARY_KEY, "
                         f"'minimize' | 'maximize'), got {metric!r}")


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
