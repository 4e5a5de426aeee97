"""``forge pull`` against a stand-in for the W&B public API; configuration: precedence, the
project root, and every bad value as one BadInput."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forge_cli.config import (NotAProject, environment_names, find_root, load_settings,
                              unknown_environment)
from forge_cli.errors import BadInput, ForgeError
from forge_cli.pull import pull_week
from forge_cli.store import RunStore


class FakeFile:
    def __init__(self, source: Path):
        self.source = source

    def download(self, root: str, replace: bool):
        target = Path(root) / self.source.name
        target.write_bytes(self.source.read_bytes())
        return open(target)


class FakeRun:
    """The attributes of ``wandb.apis.public.Run`` that pull reads."""

    def __init__(self, run_id: str, media: Path, state: str = "finished"):
        self.id, self.state, self.job_type, self.url = run_id, state, "pi-vs-vi", f"https://x/{run_id}"
        self.created_at = "2026-11-20T10:00:00"
        self.config = {"seed": 2, "profile": "cpu", "gamma": 0.9, "week": 1, "experiment": "pi-vs-vi"}
        self.summary = {"vi.sweeps": 120, "_runtime": 4.5, "table": {"_type": "table-file"}}
        (media / "t.table.json").write_text(json.dumps({"columns": ["a"], "data": [[1], [2]]}))
        (media / "f.png").write_bytes(b"\x89PNG fake")
        self.media = media

    def scan_history(self):
        # as forge's tracker logs: each series beside its own axis, media in their namespaces
        yield {"_step": 0, "charts/error": 1.0, "axes/sweep/charts/error": 3}
        yield {"_step": 1, "charts/error": 0.5, "axes/sweep/charts/error": 7}
        yield {"_step": 2, "tables/compare/table": {"_type": "table-file",
                                                    "path": "media/table/t.table.json"}}
        yield {"_step": 3, "figures/compare/curve": {"_type": "image-file",
                                                     "path": "media/images/f.png",
                                                     "caption": "Error by sweep."}}

    def file(self, name: str) -> FakeFile:
        return FakeFile(self.media / Path(name).name)


class FakeApi:
    def __init__(self, runs):
        self._runs, self.queries = runs, []

    def runs(self, path, filters):
        self.queries.append((path, filters))
        return self._runs


def test_pull_stores_new_finished_runs_once(project, tmp_path):
    api = FakeApi([FakeRun("abc123", tmp_path), FakeRun("running1", tmp_path, state="running")])
    settings = load_settings()
    (record,) = pull_week(1, settings, api=api)
    assert api.queries == [("forge", {"group": "week01"})]
    assert (record.experiment, record.seed, record.source) == ("pi-vs-vi", 2, "wandb")
    assert record.summary == {"vi.sweeps": 120} and record.duration_s == 4.5
    assert record.config == {"seed": 2, "profile": "cpu", "gamma": 0.9}
    assert record.history() == [{"step": 3, "x": "sweep", "charts/error": 1.0},
                                {"step": 7, "x": "sweep", "charts/error": 0.5}]
    assert record.table("compare/table")["rows"] == [[1], [2]]
    assert [(f.key, f.caption) for f in record.figures] == [("compare/curve", "Error by sweep.")]
    assert pull_week(1, settings, api=api) == []  # already stored
    assert [r.id for r in RunStore(settings.path("runs")).runs(1)] == ["abc123"]


def test_pull_failure_is_a_clear_error(project):
    class Broken:
        def runs(self, path, filters):
            raise ConnectionError("network unreachable")

    with pytest.raises(ForgeError, match="W&B API error: network unreachable"):
        pull_week(1, load_settings(), api=Broken())


def test_pull_without_credentials_says_so(project, monkeypatch):
    monkeypatch.setenv("FORGE_WANDB__MODE", "online")
    monkeypatch.setenv("HOME", str(project))
    with pytest.raises(ForgeError, match="no W&B credentials"):
        pull_week(1, load_settings())


def test_environment_overrides_file_and_file_overrides_defaults(project, monkeypatch):
    (project / "forge.toml").write_text('[wandb]\nproject = "mine"\n[llm]\nmodel = "m1"\n')
    settings = load_settings()
    assert (settings.wandb.project, settings.wandb.mode, settings.llm.model) == ("mine", "offline", "m1")
    monkeypatch.setenv("FORGE_LLM__MODEL", "m2")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-secret")
    settings = load_settings()
    assert settings.llm.model == "m2"
    assert settings.anthropic_api_key.get_secret_value() == "sk-secret"
    assert "sk-secret" not in repr(settings) and "sk-secret" not in settings.model_dump_json()


def test_paths_are_relative_to_the_root(project):
    (project / "forge.toml").write_text('[paths]\nruns = "elsewhere/runs"\n')
    assert load_settings().path("runs") == project / "elsewhere" / "runs"


@pytest.mark.parametrize("text, where", [('[wandb\n', "not valid TOML"),
                                         ('[wandb]\nmode = "sideways"\n', "wandb.mode"),
                                         ('[wandb]\ncolour = "red"\n', "wandb.colour")])
def test_bad_configuration_is_one_clear_error(project, text, where):
    (project / "forge.toml").write_text(text)
    with pytest.raises(ForgeError, match=where):
        load_settings()


@pytest.mark.parametrize("text, where", [("[llm]\nmax_retries = -1\n", "llm.max_retries"),
                                         ("[llm]\nmax_cost_usd = -1.0\n", "llm.max_cost_usd"),
                                         ("[llm]\ntimeout_s = 0\n", "llm.timeout_s"),
                                         ("[llm]\ntemperature = 3\n", "llm.temperature"),
                                         ('[llm.prices.m]\ninput = -1\noutput = 1\n', "input"),
                                         ('[paths]\nruns = "a\\u0000b"\n', "NUL")])
def test_values_forge_cannot_use_are_bad_input(project, text, where):
    (project / "forge.toml").write_text(text)
    with pytest.raises(BadInput, match=where):
        load_settings()


def test_a_non_utf8_file_or_non_json_variable_is_bad_input(project, monkeypatch):
    (project / "forge.toml").write_bytes(b"[wandb]\nproject = \"caf\xe9\"\n")
    with pytest.raises(BadInput, match=r"forge.toml is not UTF-8 text \(byte 0xE9"):
        load_settings()
    (project / "forge.toml").write_text("")
    monkeypatch.setenv("FORGE_LLM", "{bad")
    with pytest.raises(BadInput, match="FORGE_LLM is not valid JSON"):
        load_settings()


def test_a_project_is_a_forge_toml_or_forge_root(tmp_path, monkeypatch):
    (tmp_path / "inner").mkdir()
    monkeypatch.chdir(tmp_path / "inner")
    with pytest.raises(NotAProject, match="FORGE_ROOT"):
        find_root()
    (tmp_path / "forge.toml").write_text("")
    assert find_root() == tmp_path  # found upwards
    monkeypatch.setenv("FORGE_ROOT", str(tmp_path / "forge.toml"))
    with pytest.raises(BadInput, match="is not a folder"):
        find_root()
    monkeypatch.setenv("FORGE_ROOT", str(tmp_path / "not-yet"))
    assert find_root() == tmp_path / "not-yet"  # FORGE_ROOT may name a folder to be made


def test_unknown_forge_variables_are_named_with_the_nearest_known_one():
    known, open_prefixes = environment_names()
    assert {"FORGE_WANDB__MODE", "FORGE_LLM__MAX_RETRIES", "FORGE_ROOT"} <= known
    assert "FORGE_ANTHROPIC_API_KEY" not in known  # secrets come from their own variables
    assert open_prefixes == ("FORGE_LLM__PRICES__",)
    (warning,) = unknown_environment({"FORGE_WANDB_MODE": "online", "FORGE_LLM__MODEL": "m",
                                      "forge_llm__prices__x__input": "1", "HOME": "/"})
    assert "'FORGE_WANDB_MODE'" in warning and "did you mean FORGE_WANDB__MODE?" in warning
    (far,) = unknown_environment({"FORGE_XYZZY": "1"})
    assert "joined by __" in far
