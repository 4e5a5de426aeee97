"""Configuration: defaults < ``forge.toml`` at the project root < ``FORGE_*`` environment variables.

Nested keys use ``__`` in the environment: ``FORGE_WANDB__MODE=online`` sets ``[wandb] mode``.
Secrets (API keys) are read from their usual variables only and never written anywhere.
The project is the folder holding ``forge.toml`` (or ``$FORGE_ROOT``); a ``FORGE_*`` variable forge
does not read is reported by :func:`unknown_environment` rather than silently ignored.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import (AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError,
                      field_validator)
from pydantic_settings import (BaseSettings, SettingsConfigDict, SettingsError,
                               TomlConfigSettingsSource)

from forge_cli.errors import BadInput, ForgeError, not_utf8

CONFIG_FILE = "forge.toml"
ENV_PREFIX = "FORGE_"
ROOT_ENV = "FORGE_ROOT"
OTHER_ENVIRONMENT = (ROOT_ENV, "FORGE_INCLUDE_DRAFTS", "FORGE_SITE_URL")
"""``FORGE_*`` variables read outside the settings model: the project root here, and the two
that ``forge build``/``serve`` pass to mkdocs (site.py)."""
NAME_MAX = 255
"""The longest file or folder name common file systems take, in bytes."""


class WandbSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity: str | None = None
    """W&B entity (user or team); None uses the logged-in user's default."""
    project: str = "forge"
    mode: Literal["offline", "online", "disabled"] = "offline"
    """offline: runs are written under ``wandb/`` and can be synced later with ``wandb sync``."""


class ModelPrice(BaseModel):
    """US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write: float = Field(default=0.0, ge=0)
    cache_read: float = Field(default=0.0, ge=0)


class LLMSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: Literal["auto", "anthropic", "offline", "openai"] = "auto"
    """auto: anthropic when ANTHROPIC_API_KEY is set, else the offline drafter."""
    model: str = "claude-sonnet-4-6"
    base_url: str | None = None
    """anthropic: another Messages API endpoint; openai: any OpenAI-compatible server
    (Ollama, vLLM, llama.cpp), e.g. http://127.0.0.1:11434/v1."""
    max_tokens: int = Field(default=8000, ge=1)
    temperature: float = Field(default=0.7, ge=0, le=2)
    timeout_s: float = Field(default=600.0, gt=0)
    max_retries: int = Field(default=5, ge=0)
    """Retries on 429, 529, 5xx, timeouts and dropped connections, with exponential backoff."""
    max_cost_usd: float = Field(default=5.0, ge=0)
    """Refuse a draft whose estimated cost exceeds this: each request is estimated before it is
    sent, and what the draft's earlier rounds and tool calls spent counts against the same cap."""
    max_rounds: int = Field(default=3, ge=1)
    """Draft → check → revise rounds per post: forge checks each answer and hands the findings
    back to the model, at most this many times in all (1: no revision)."""
    prices: dict[str, ModelPrice] = {
        "claude-sonnet-4-6": ModelPrice(input=3.0, output=15.0, cache_write=3.75, cache_read=0.30),
        "claude-opus-4-6": ModelPrice(input=5.0, output=25.0, cache_write=6.25, cache_read=0.50),
        "claude-haiku-4-5": ModelPrice(input=1.0, output=5.0, cache_write=1.25, cache_read=0.10),
    }


class SiteSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    """Where the blog is published (canonical and RSS links); None: a local preview address."""
    remote: str | None = None
    """Default git remote (URL or path) whose gh-pages branch `forge publish` pushes to."""
    repo_url: str | None = None
    """The source repository's web page (GitHub/GitLab style): code excerpts in posts link to
    ``<repo_url>/blob/<commit>/<path>#L<a>-L<b>``; None: a plain "path, lines, commit" line."""


class DataSettings(BaseModel):
    """Corpora the user downloaded, used instead of the excerpts shipped in ``algorithms/data``
    (the gpu profile of the LM weeks wants the full TinyStories, ~2 GB of text)."""

    model_config = ConfigDict(extra="forbid")

    tinystories: Path | None = None
    """A TinyStories training file (``TinyStoriesV2-GPT4-train.txt``: stories separated by
    ``<|endoftext|>``); the shipped validation excerpt stays the held-out set."""
    preferences: Path | None = None
    """A preference file in forge's format (``pairs.jsonl`` with its ``meta.json`` beside it:
    ``algorithms.preference.pairs``), trained on instead of ``preference-data``'s pairs."""

    def configured(self) -> dict[str, Path]:
        return {name: value for name, value in self.model_dump().items() if value is not None}


class PathSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    runs: Path = Path("runs")
    cache: Path = Path(".cache")
    """Data derived from inputs and shared across runs (trained tokenizers, token arrays)."""
    notes: Path = Path("notes")
    templates: Path = Path("templates")
    blog: Path = Path("blog")
    wandb: Path = Path(".")
    """W&B writes its ``wandb/`` folder inside this directory."""

    @field_validator("*")
    @classmethod
    def _usable(cls, value: Path) -> Path:
        """A path the file system can take: otherwise the first ``exists()`` on it raises."""
        try:
            encoded = os.fsencode(value)
        except UnicodeEncodeError:
            raise ValueError("the path cannot be encoded for the file system") from None
        if b"\0" in encoded:
            raise ValueError("a path cannot contain a NUL character")
        if any(len(part) > NAME_MAX for part in encoded.split(b"/")):
            raise ValueError(f"a folder name is longer than {NAME_MAX} bytes")
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__",
                                      extra="forbid")

    root: Path = Path(".")
    wandb: WandbSettings = WandbSettings()
    llm: LLMSettings = LLMSettings()
    site: SiteSettings = SiteSettings()
    paths: PathSettings = PathSettings()
    data: DataSettings = DataSettings()

    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY"), exclude=True)
    wandb_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("WANDB_API_KEY"), exclude=True)

    _toml_file: ClassVar[Path | None] = None
    """Set on the per-project subclass that :func:`load_settings` makes; None reads no file."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings,
                                   dotenv_settings, file_secret_settings):
        toml = TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_file)
        return init_settings, env_settings, toml

    def path(self, name: str) -> Path:
        """A configured folder, absolute (relative paths are taken from the project root)."""
        value = getattr(self.paths, name)
        return value if value.is_absolute() else self.root / value

    def data_files(self) -> dict[str, Path]:
        """The configured corpora, absolute; BadInput when one is not a readable file."""
        files = {}
        for name, value in self.data.configured().items():
            path = value.expanduser()
            path = path if path.is_absolute() else self.root / path
            if not path.is_file():
                raise BadInput(f"[data] {name} = {str(value)!r} in {CONFIG_FILE}: no such file")
            if name == "preferences":
                _check_preferences(path)
            files[name] = path
        return files


def _check_preferences(path: Path) -> None:
    """BadInput naming the first malformed record (or missing metadata) of a preference file,
    before anything runs on it."""
    from algorithms.preference.pairs import read_meta, read_pairs

    try:
        read_pairs(path)
        read_meta(path.parent)
    except ValueError as error:
        raise BadInput(f"[data] preferences in {CONFIG_FILE}: {error}") from None


class NotAProject(BadInput):
    """Neither ``$FORGE_ROOT`` nor a ``forge.toml`` here or above: commands would scatter
    ``runs/`` and ``wandb/`` into whatever folder they were started in."""


def find_root(start: Path | None = None) -> Path:
    """The project root: ``$FORGE_ROOT``, else the nearest folder upwards holding ``forge.toml``;
    raises NotAProject when there is neither."""
    if env_root := os.environ.get(ROOT_ENV):
        try:
            root = Path(env_root).expanduser().resolve()
            usable = root.is_dir() or not root.exists()
        except (OSError, ValueError):  # a name too long, a NUL byte
            usable = False
        if not usable:
            raise BadInput(f"{ROOT_ENV}={env_root!r} is not a folder")
        return root
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise NotAProject(f"not a forge project: no {CONFIG_FILE} in {here} or any folder above it "
                      f"(create one there, or set {ROOT_ENV})")


def load_settings(root: Path | None = None) -> Settings:
    """Settings of the project at ``root`` (default: :func:`find_root`). Every problem with
    ``forge.toml`` or a ``FORGE_*`` variable is a one-line BadInput naming where it is."""
    root = (root or find_root()).resolve()
    config_file = root / CONFIG_FILE
    # A subclass per call carries the file to read, so no global state is shared between
    # projects (or threads) that load their settings.
    project_settings = type("ProjectSettings", (Settings,),
                            {"_toml_file": config_file if config_file.is_file() else None})
    try:
        return project_settings(root=root)
    except UnicodeDecodeError as error:
        raise BadInput(not_utf8(config_file, error)) from None
    except tomllib.TOMLDecodeError as error:
        raise BadInput(f"{config_file}: not valid TOML ({error})") from None
    except SettingsError as error:
        raise BadInput(_environment_error(error)) from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")  # pydantic's prefix for validators
        raise BadInput(f"bad configuration {where!r}: {message} "
                       f"(check {CONFIG_FILE} and {ENV_PREFIX}* variables)") from None
    except OSError as error:
        raise ForgeError(f"cannot read {config_file}: {error.strerror or error}") from None


def _environment_error(error: SettingsError) -> str:
    """pydantic-settings only names the field whose environment value is not JSON; name the
    variable too."""
    match = re.search(r'field "(\w+)"', str(error))
    field = match.group(1) if match else ""
    prefix = f"{ENV_PREFIX}{field}".upper()
    for name, value in os.environ.items():
        if name.upper().startswith(prefix) and name.upper() not in OTHER_ENVIRONMENT:
            try:
                json.loads(value)
            except ValueError:
                return (f"bad configuration: {name} is not valid JSON (set one key at a time, "
                        f"e.g. {ENV_PREFIX}WANDB__MODE=online)")
    return f"bad configuration from the environment: {error}"


def environment_names() -> tuple[set[str], tuple[str, ...]]:
    """(every ``FORGE_*`` variable forge reads, prefixes below which any name is read).

    A section holding a mapping (``[llm.prices]``) takes any key under its prefix:
    ``FORGE_LLM__PRICES__MY_MODEL__INPUT``.
    """
    names, open_prefixes = set(OTHER_ENVIRONMENT), []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for field_name, info in model.model_fields.items():
            if info.validation_alias is not None:  # secrets: read from their own variables
                continue
            name = f"{prefix}{field_name.upper()}"
            names.add(name)
            annotation = info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, name + "__")
            elif getattr(annotation, "__origin__", None) is dict:
                open_prefixes.append(name + "__")

    walk(Settings, ENV_PREFIX)
    return names, tuple(open_prefixes)


def unknown_environment(environ: Mapping[str, str]) -> list[str]:
    """One warning per ``FORGE_*`` variable forge does not read, naming the nearest one it does
    (a misspelled ``FORGE_WANDB_MODE`` is otherwise silently ignored)."""
    candidates = [name for name in environ if name.upper().startswith(ENV_PREFIX)]
    if not candidates:
        return []
    names, open_prefixes = environment_names()
    warnings = []
    for name in sorted(candidates):
        upper = name.upper()
        if upper in names or upper.startswith(open_prefixes):
            continue
        # Compared without the shared prefix, which would make every name look close.
        nearest = difflib.get_close_matches(upper.removeprefix(ENV_PREFIX),
                                            [known.removeprefix(ENV_PREFIX) for known in sorted(names)],
                                            n=1, cutoff=0.6)
        hint = (f"did you mean {ENV_PREFIX}{nearest[0]}?" if nearest else
                f"sections and keys are joined by __, e.g. {ENV_PREFIX}WANDB__MODE")
        warnings.append(f"unknown environment variable {name!r} is ignored ({hint})")
    return warnings
