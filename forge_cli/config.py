"""Configuration: defaults < ``forge.toml`` at the project root < ``FORGE_*`` environment variables.

Nested keys use ``__`` in the environment: ``FORGE_WANDB__MODE=online`` sets ``[wandb] mode``.
Secrets (API keys) are read from their usual variables only and never written anywhere.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict, TomlConfigSettingsSource

from forge_cli.errors import ForgeError

CONFIG_FILE = "forge.toml"


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

    input: float
    output: float
    cache_write: float = 0.0
    cache_read: float = 0.0


class LLMSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: Literal["auto", "anthropic", "offline", "openai"] = "auto"
    """auto: anthropic when ANTHROPIC_API_KEY is set, else the offline drafter."""
    model: str = "claude-sonnet-4-6"
    base_url: str | None = None
    """anthropic: another Messages API endpoint; openai: any OpenAI-compatible server
    (Ollama, vLLM, llama.cpp), e.g. http://127.0.0.1:11434/v1."""
    max_tokens: int = 8000
    temperature: float = 0.7
    timeout_s: float = 600.0
    max_retries: int = 5
    """Retries on 429, 529, 5xx, timeouts and dropped connections, with exponential backoff."""
    max_cost_usd: float = 5.0
    """Refuse a draft whose estimated cost (before the call) exceeds this."""
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


class PathSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    runs: Path = Path("runs")
    notes: Path = Path("notes")
    templates: Path = Path("templates")
    blog: Path = Path("blog")
    wandb: Path = Path(".")
    """W&B writes its ``wandb/`` folder inside this directory."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FORGE_", env_nested_delimiter="__",
                                      extra="forbid")

    root: Path = Path(".")
    wandb: WandbSettings = WandbSettings()
    llm: LLMSettings = LLMSettings()
    site: SiteSettings = SiteSettings()
    paths: PathSettings = PathSettings()

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


def find_root(start: Path | None = None) -> Path:
    """The project root: ``$FORGE_ROOT``, else the nearest folder upwards holding ``forge.toml``,
    else the current directory."""
    if env_root := os.environ.get("FORGE_ROOT"):
        return Path(env_root).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    return here


def load_settings(root: Path | None = None) -> Settings:
    root = (root or find_root()).resolve()
    config_file = root / CONFIG_FILE
    # A subclass per call carries the file to read, so no global state is shared between
    # projects (or threads) that load their settings.
    project_settings = type("ProjectSettings", (Settings,),
                            {"_toml_file": config_file if config_file.is_file() else None})
    try:
        return project_settings(root=root)
    except tomllib.TOMLDecodeError as error:
        raise ForgeError(f"{config_file}: not valid TOML ({error})") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ForgeError(f"bad configuration {where!r}: {first['msg']} "
                         f"(check {CONFIG_FILE} and FORGE_* variables)") from None
