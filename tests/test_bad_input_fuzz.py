"""Random bytes and random values in every file and option forge reads (issue 11, point 6).

Whatever the input, a command either succeeds or fails with exactly one ``error:`` line on stderr
(warnings aside), no traceback, and the project unchanged: it never half-applies bad input.
Each example runs in a fresh copy of a small week-1 project (one stored run, notes, drafted
posts); the whole file stays well under a minute.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forge_cli.config import ROOT_ENV, environment_names
from forge_cli.errors import BadInput
from forge_cli.runner import MAX_SEED, MAX_SEEDS, parse_seeds
from forge_cli.store import RunRecord, RunStore, now_iso
from forge_cli_harness import Outcome, forge, tree_fingerprint

REPO = Path(__file__).resolve().parents[1]
POST = Path("blog/docs/posts/week01-post1-scientist.md")
NOTES = Path("notes/week01.md")

# The autouse fixture that clears FORGE_* variables runs once per test, not per example, which
# is all it needs to do; every example builds its own project folder.
fuzz = settings(max_examples=30, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# ---- the project every example starts from ----------------------------------------------------

def _store_run(root: Path, seed: int) -> RunRecord:
    writer = RunStore(root / "runs").writer()
    writer.write_table("results/values", ["state", "value"], [["s0", 1.5], ["s1", 2.5]])
    return writer.finish(RunRecord(
        id=writer.run_id, week=1, experiment="pi-vs-vi", seed=seed, profile="cpu",
        started_at=now_iso(), finished_at=now_iso(), duration_s=0.1, config={"gamma": 0.9},
        summary={"gridworld.vi.sweeps": 7.0 + seed}))


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("base")
    (root / "forge.toml").write_text('[wandb]\nmode = "disabled"\n')
    shutil.copytree(REPO / "notes", root / "notes")
    shutil.copytree(REPO / "blog", root / "blog",
                    ignore=shutil.ignore_patterns("site", ".cache", "posts", "assets"))
    for seed in (0, 1):
        _store_run(root, seed)
    drafted = forge("draft", "week1", "--provider", "offline", env={ROOT_ENV: str(root)})
    assert drafted.code == 0, drafted.stderr
    return root


@contextmanager
def project_copy(base: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "project"
        shutil.copytree(base, root)
        yield root


def run_json(root: Path, seed: int) -> Path:
    return next(p for p in (root / "runs").glob("week01/pi-vs-vi/*/run.json")
                if json.loads(p.read_text())["seed"] == seed)


def check_outcome(outcome: Outcome, root: Path, before: dict[str, str],
                  ok: tuple[int, ...] = (0,), failing: tuple[int, ...] = (2,),
                  quiet: tuple[int, ...] = ()) -> None:
    """``ok`` codes may change files; a ``failing`` code comes with one error line and no change;
    a ``quiet`` code (``forge check`` finding problems) changes nothing and prints no error."""
    assert "Traceback" not in outcome.stderr, outcome.stderr
    assert outcome.code in ok + failing + quiet, (outcome.code, outcome.stderr)
    lines = outcome.error_lines
    errors = [line for line in lines if line.startswith("error:")]
    assert all(line.startswith(("error:", "warning:")) for line in lines), outcome.stderr
    if outcome.code in failing:
        assert len(errors) == 1, outcome.stderr
    if outcome.code in failing + quiet:
        assert tree_fingerprint(root) == before
    if outcome.code in ok + quiet:
        assert not errors, outcome.stderr


# ---- strategies --------------------------------------------------------------------------------

@st.composite
def mutated(draw, original: bytes) -> bytes:
    """``original`` with a random slice cut, replaced or padded with random bytes."""
    start = draw(st.integers(0, len(original)))
    end = draw(st.integers(start, min(len(original), start + 40)))
    junk = draw(st.one_of(st.binary(max_size=12),
                          st.text(max_size=12).map(lambda text: text.encode("utf-8")),
                          st.sampled_from([b"\xe9", b"\xff", b"\x00", b"---\n", b": [", b"\r\n"])))
    return original[:start] + junk + original[end:]


def file_contents(original: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=600), st.text(max_size=300).map(str.encode),
                     mutated(original))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)

env_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                   max_size=30)
known_names = sorted(environment_names()[0] - {ROOT_ENV})


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return "[" + ", ".join(toml_value(item) for item in value) + "]"


toml_scalars = st.one_of(st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
                         st.text(max_size=15), st.lists(st.integers(-5, 5), max_size=3))


@st.composite
def forge_toml(draw) -> bytes:
    """A forge.toml whose keys mostly exist and whose values are anything."""
    lines = []
    for section, keys in (("wandb", ["mode", "project", "entity", "colour"]),
                          ("llm", ["provider", "model", "max_tokens", "temperature", "timeout_s",
                                   "max_retries", "max_cost_usd", "base_url"]),
                          ("site", ["url", "remote"]), ("paths", ["runs", "notes", "blog"])):
        chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=3))
        if chosen:
            lines.append(f"[{section}]")
            lines += [f"{key} = {toml_value(draw(toml_scalars))}" for key in chosen]
    return ("\n".join(lines) + "\n").encode("utf-8")


# ---- files -------------------------------------------------------------------------------------

@fuzz
@given(data=st.data())
def test_any_forge_toml(base, data):
    with project_copy(base) as root:
        content = data.draw(st.one_of(forge_toml(), file_contents((root / "forge.toml").read_bytes())))
        (root / "forge.toml").write_bytes(content)
        before = tree_fingerprint(root)
        check_outcome(forge("doctor", env={ROOT_ENV: str(root)}), root, before)


@fuzz
@given(variables=st.dictionaries(
    st.one_of(st.sampled_from(known_names), st.from_regex(r"FORGE_[A-Z_]{1,16}", fullmatch=True)),
    st.one_of(env_text, json_values.map(json.dumps)), max_size=3))
def test_any_forge_environment(base, variables):
    variables.pop(ROOT_ENV, None)  # the root decides which folder is the project
    with project_copy(base) as root:
        before = tree_fingerprint(root)
        outcome = forge("doctor", env={**variables, ROOT_ENV: str(root)})
        check_outcome(outcome, root, before)


@fuzz
@given(data=st.data())
def test_any_notes(base, data):
    with project_copy(base) as root:
        original = (root / NOTES).read_bytes()
        picks = st.builds(lambda key, value: f"---\n{key}: {json.dumps(value)}\n---\n".encode()
                          + original,
                          st.sampled_from(["headline_facts", "headline_figures", "headline_tables"]),
                          json_values)
        (root / NOTES).write_bytes(data.draw(st.one_of(file_contents(original), picks)))
        before = tree_fingerprint(root)
        outcome = forge("draft", "week1", "--post", "1", "--edition", "scientist",
                        "--provider", "offline", env={ROOT_ENV: str(root)})
        check_outcome(outcome, root, before)


@fuzz
@given(data=st.data(), command=st.sampled_from([
    ("check", "week1"), ("review",), ("weeks",),
    ("approve", "week1", "--post", "1", "--edition", "scientist"),
    ("draft", "week1", "--post", "1", "--edition", "scientist", "--provider", "offline")]))
def test_any_post(base, data, command):
    with project_copy(base) as root:
        original = (root / POST).read_bytes()
        draft_values = st.one_of(json_values.map(json.dumps), st.sampled_from(
            ['"true"', "yes", "1", "~", "[]", "True", "false"]))
        with_draft = draft_values.map(lambda value: original.replace(b"draft: true",
                                                                     f"draft: {value}".encode()))
        (root / POST).write_bytes(data.draw(st.one_of(file_contents(original), with_draft)))
        before = tree_fingerprint(root)
        outcome = forge(*command, env={ROOT_ENV: str(root)})
        if command[0] == "check":  # exit 1: the problems it found, in a table on stdout
            check_outcome(outcome, root, before, failing=(2,), quiet=(1,))
        else:
            check_outcome(outcome, root, before, failing=(1, 2))


@fuzz
@given(data=st.data(), command=st.sampled_from([("results", "week1"), ("facts", "week1"),
                                                ("weeks",)]))
def test_any_run_record(base, data, command):
    with project_copy(base) as root:
        path = run_json(root, seed=1)
        original = path.read_bytes()
        record = json.loads(original)
        one_field = st.builds(lambda key, value: json.dumps({**record, key: value}).encode(),
                              st.sampled_from(sorted(record)), json_values)
        path.write_bytes(data.draw(st.one_of(file_contents(original), one_field)))
        before = tree_fingerprint(root)
        check_outcome(forge(*command, env={ROOT_ENV: str(root)}), root, before)


@fuzz
@given(data=st.data())
def test_any_table(base, data):
    with project_copy(base) as root:
        (table,) = run_json(root, seed=0).parent.glob("tables/*.json")
        original = table.read_bytes()
        as_json = json_values.map(lambda value: json.dumps(value).encode())
        table.write_bytes(data.draw(st.one_of(file_contents(original), as_json)))
        before = tree_fingerprint(root)
        outcome = forge("draft", "week1", "--post", "1", "--edition", "scientist",
                        "--provider", "offline", env={ROOT_ENV: str(root)})
        check_outcome(outcome, root, before)


# ---- options -----------------------------------------------------------------------------------

option_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                      max_size=25)


@fuzz
@given(seeds=st.one_of(option_text, st.from_regex(r"-?[0-9]{1,25}(-[0-9]{1,12}|(,[0-9]{1,12}){0,3})",
                                                  fullmatch=True)),
       profile=st.one_of(st.sampled_from(["smoke", "cpu", "gpu"]), option_text))
def test_any_run_options(base, seeds, profile):
    try:
        parsed = parse_seeds(seeds)
    except BadInput as error:
        assert "\n" not in str(error)
    else:
        assert 1 <= len(parsed) <= MAX_SEEDS and all(0 <= seed <= MAX_SEED for seed in parsed)
        assert len(set(parsed)) == len(parsed)
    with project_copy(base) as root:
        before = tree_fingerprint(root)
        # An experiment that does not exist: whatever the other options, nothing may run.
        outcome = forge("run", "week1", "--seeds", seeds, "--profile", profile, "--only",
                        "no-such-experiment", env={ROOT_ENV: str(root)})
        check_outcome(outcome, root, before, ok=())


@fuzz
@given(week=option_text, post=option_text, edition=st.one_of(
    st.sampled_from(["scientist", "manager", "all"]), option_text))
def test_any_week_post_and_edition(base, week, post, edition):
    with project_copy(base) as root:
        env = {ROOT_ENV: str(root)}
        before = tree_fingerprint(root)
        check_outcome(forge("facts", week, env=env), root, before, failing=(1, 2))
        check_outcome(forge("approve", week, "--post", post, "--edition", edition, env=env),
                      root, before, failing=(1, 2))


@fuzz
@given(address=st.one_of(option_text, st.from_regex(r"[a-z0-9.:\[\]]{0,12}:[0-9]{0,7}",
                                                    fullmatch=True)))
def test_any_serve_address(base, address):
    from forge_cli.site import serve_command

    try:
        command = serve_command(base / "blog", address)
    except BadInput as error:
        assert "\n" not in str(error) and "--address" in str(error)
    else:
        host, _, port = address.rpartition(":")
        assert host and 1 <= int(port) <= 65535 and command[-1] == address
