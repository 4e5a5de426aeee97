"""The layers run one way (``forge_cli → algorithms``), and moving code never changes what an
experiment reports."""

import ast
import json
from pathlib import Path

import pytest

from algorithms.experiment import experiments_for
from recording_tracker import week_smoke_runs

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = json.loads((Path(__file__).parent / "data" / "smoke_summary_keys.json").read_text())
# keys whose presence depends on the machine's timings (where two methods' costs cross)
TIMING_DEPENDENT = ("crossover.",)


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "algorithms").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_algorithms_never_import_the_cli_or_wandb(path):
    bad = {name for name in imported_modules(path)
           if name.split(".")[0] in ("forge_cli", "wandb")}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


WEEKS = sorted({int(key[4:6]) for key in SNAPSHOT})


@pytest.mark.parametrize("week", WEEKS)
def test_smoke_summaries_keep_the_keys_recorded_before_the_layout_move(week):
    recorded = {key.split("/", 1)[1]: set(keys) for key, keys in SNAPSHOT.items()
                if key.startswith(f"week{week:02d}/")}
    runs = week_smoke_runs(week)
    assert set(runs) == set(recorded) == set(experiments_for(week))
    for name, (summary, _) in runs.items():
        stable = {key for key in summary if not key.startswith(TIMING_DEPENDENT)}
        expected = {key for key in recorded[name] if not key.startswith(TIMING_DEPENDENT)}
        assert stable == expected, (name, sorted(stable ^ expected))


MAX_MODULE_LINES = 420  # "no module over ~400 lines": small, exact modules read in one sitting


@pytest.mark.parametrize("package", ["algorithms", "forge_cli"])
def test_no_module_is_longer_than_a_sitting(package):
    long = {str(path.relative_to(ROOT)): n for path in sorted((ROOT / package).rglob("*.py"))
            if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, long
