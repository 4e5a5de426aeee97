"""Finite MDPs and dynamic programming (week 1): Sutton & Barto (2nd ed., 2018), chapters 3–4."""

from algorithms.mdp.dynamic_programming import (
    DPResult,
    bellman_residual,
    exact_policy_value,
    greedy_actions,
    greedy_policy,
    modified_policy_iteration,
    optimal_values,
    policy_evaluation,
    policy_iteration,
    q_from_v,
    uniform_random_policy,
    value_errors,
    value_iteration,
)
from algorithms.mdp.environments import (
    ENVIRONMENTS,
    cliff_walking,
    frozen_lake,
    gamblers_problem,
    gridworld_4x4,
    gridworld_5x5,
)
from algorithms.mdp.mdp import TabularMDP

__all__ = [
    "DPResult", "ENVIRONMENTS", "TabularMDP", "bellman_residual", "cliff_walking",
    "exact_policy_value", "frozen_lake", "gamblers_problem", "greedy_actions", "greedy_policy",
    "gridworld_4x4", "gridworld_5x5", "modified_policy_iteration", "optimal_values",
    "policy_evaluation", "policy_iteration", "q_from_v", "uniform_random_policy",
    "value_errors", "value_iteration",
]
