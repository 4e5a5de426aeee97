"""The dynamic-programming algorithms week 1 compares, by name: from value iteration (modified
policy iteration with k = 1) through MPI with k evaluation sweeps per improvement to policy
iteration (k = ∞), each with synchronous and with in-place sweeps.

Names: ``vi``, ``mpi<k>``, ``pi``, with ``_inplace`` appended for in-place sweeps. Summary keys,
metric keys and table rows use these names; :func:`label` is what a reader sees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from algorithms.mdp import (
    DPResult,
    TabularMDP,
    modified_policy_iteration,
    policy_iteration,
    value_iteration,
)

IN_PLACE = "_inplace"


def contenders(ks: Sequence[int], theta: float) -> dict[str, Callable[[TabularMDP], DPResult]]:
    """VI, MPI for every k of ``ks`` and PI, synchronous then in place; each stops at θ and
    records V after every sweep."""
    algorithms = {}
    for suffix, in_place in (("", False), (IN_PLACE, True)):
        algorithms["vi" + suffix] = partial(value_iteration, theta=theta, in_place=in_place,
                                            record_values=True)
        for k in ks:
            algorithms[f"mpi{k}{suffix}"] = partial(modified_policy_iteration, k=k, theta=theta,
                                                    in_place=in_place, record_values=True)
        algorithms["pi" + suffix] = partial(policy_iteration, theta_eval=theta,
                                            in_place=in_place, record_values=True)
    return algorithms


def family(name: str) -> str:
    """The algorithm without its sweep order: ``mpi5_inplace`` → ``mpi5``."""
    return name.removesuffix(IN_PLACE)


def in_place(name: str) -> bool:
    return name.endswith(IN_PLACE)


def label(name: str) -> str:
    """``vi`` → "VI", ``mpi5`` → "MPI k=5", ``pi_inplace`` → "PI (in-place)"."""
    base = family(name)
    text = {"vi": "VI", "pi": "PI"}.get(base, f"MPI k={base.removeprefix('mpi')}")
    return text + (" (in-place)" if in_place(name) else "")
