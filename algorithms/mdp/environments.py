"""The finite MDPs of week 1, built from their definitions (no gymnasium at run time).

Grid states are numbered row by row, ``s = row * n_cols + col`` with row 0 at the top, as in
gymnasium's toy-text environments. CliffWalking and FrozenLake reproduce gymnasium's
``CliffWalking-v1`` and ``FrozenLake-v1`` transition tables exactly (tests/test_mdp.py checks).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from algorithms.mdp.mdp import TabularMDP

Cell = tuple[int, int]
Outcome = tuple[float, int, float]  # (probability, next state, reward)
GridOutcome = tuple[float, Cell, float]  # (probability, next cell, reward)

UP, RIGHT, DOWN, LEFT = (-1, 0), (0, 1), (1, 0), (0, -1)
COMPASS = {"up": UP, "right": RIGHT, "down": DOWN, "left": LEFT}


def _tabulate(n_states: int, n_actions: int, outcomes: Callable[[int, int], Sequence[Outcome]],
              terminal: np.ndarray, gamma: float, **metadata) -> TabularMDP:
    """P and R from ``outcomes(s, a)``, summing repeated next states; terminal states absorb."""
    P = np.zeros((n_states, n_actions, n_states))
    R = np.zeros((n_states, n_actions))
    for s in range(n_states):
        for a in range(n_actions):
            if terminal[s]:
                P[s, a, s] = 1.0
                continue
            for prob, next_state, reward in outcomes(s, a):
                P[s, a, next_state] += prob
                R[s, a] += prob * reward
    return TabularMDP(P, R, gamma, terminal=terminal, **metadata)


def _step(cell: Cell, move: Cell, shape: tuple[int, int]) -> tuple[Cell, bool]:
    """The cell one move away, or the same cell if the move leaves the grid (and whether it did)."""
    row, col = cell[0] + move[0], cell[1] + move[1]
    if 0 <= row < shape[0] and 0 <= col < shape[1]:
        return (row, col), False
    return cell, True


def _grid(layout: Sequence[str], action_names: Sequence[str],
          outcomes: Callable[[Cell, Cell], Sequence[GridOutcome]], terminal_cells: str,
          gamma: float, name: str) -> TabularMDP:
    """A grid world: ``outcomes(cell, move)`` lists ``(probability, next cell, reward)``."""
    shape = (len(layout), len(layout[0]))
    cells = [divmod(s, shape[1]) for s in range(shape[0] * shape[1])]
    moves = [COMPASS[a] for a in action_names]

    def state_outcomes(s: int, a: int) -> list[Outcome]:
        return [(p, r * shape[1] + c, reward) for p, (r, c), reward in outcomes(cells[s], moves[a])]

    terminal = np.array([layout[r][c] in terminal_cells for r, c in cells])
    return _tabulate(len(cells), len(moves), state_outcomes, terminal, gamma, name=name,
                     shape=shape, layout=tuple(layout), action_names=tuple(action_names))


def gridworld_4x4(gamma: float = 1.0) -> TabularMDP:
    """S&B Example 4.1 (Figure 4.1): the 4×4 gridworld.

    Two terminal corners (shaded in the book, ``T`` here), reward −1 on every transition,
    undiscounted; actions that would leave the grid leave the state unchanged.
    """
    layout = ("T...", "....", "....", "...T")

    def outcomes(cell: Cell, move: Cell) -> list[GridOutcome]:
        return [(1.0, _step(cell, move, (4, 4))[0], -1.0)]

    return _grid(layout, ("up", "right", "down", "left"), outcomes, "T", gamma,
                 "Gridworld 4×4 (Example 4.1)")


def gridworld_5x5(gamma: float = 0.9) -> TabularMDP:
    """S&B Example 3.5 (Figures 3.2 and 3.5): the 5×5 gridworld with special states A and B.

    Every action in A = (0, 1) moves to A′ = (4, 1) with reward +10, every action in B = (0, 3)
    to B′ = (2, 3) with reward +5; a move off the grid leaves the state unchanged with reward −1;
    every other move has reward 0. Continuing task, γ = 0.9. (``a``/``b`` in the layout mark
    A′/B′.)
    """
    layout = (".A.B.", ".....", "...b.", ".....", ".a...")
    jumps = {(0, 1): ((4, 1), 10.0), (0, 3): ((2, 3), 5.0)}

    def outcomes(cell: Cell, move: Cell) -> list[GridOutcome]:
        if cell in jumps:
            return [(1.0, *jumps[cell])]
        next_cell, off_grid = _step(cell, move, (5, 5))
        return [(1.0, next_cell, -1.0 if off_grid else 0.0)]

    return _grid(layout, ("up", "right", "down", "left"), outcomes, "", gamma,
                 "Gridworld 5×5 (Example 3.5)")


def cliff_walking(gamma: float = 1.0) -> TabularMDP:
    """S&B Example 6.6: cliff walking on a 4×12 grid, as gymnasium's ``CliffWalking-v1``.

    Reward −1 per step; stepping into the cliff (bottom row between start and goal) gives −100
    and sends the agent back to the start; the goal is terminal; undiscounted. Like gymnasium we
    keep the cliff cells as (unreachable) states, so the table has all 48 cells.
    """
    layout = ("............", "............", "............", "SCCCCCCCCCCG")
    start = (3, 0)

    def outcomes(cell: Cell, move: Cell) -> list[GridOutcome]:
        next_cell, _ = _step(cell, move, (4, 12))
        if layout[next_cell[0]][next_cell[1]] == "C":
            return [(1.0, start, -100.0)]
        return [(1.0, next_cell, -1.0)]

    return _grid(layout, ("up", "right", "down", "left"), outcomes, "G", gamma,
                 "Cliff walking (Example 6.6)")


# gymnasium's FrozenLake-v1 maps (gymnasium/envs/toy_text/frozen_lake.py):
# S start, F frozen, H hole, G goal.
FROZEN_LAKE_MAPS = {
    "4x4": ("SFFF", "FHFH", "FFFH", "HFFG"),
    "8x8": ("SFFFFFFF", "FFFFFFFF", "FFFHFFFF", "FFFFFHFF",
            "FFFHFFFF", "FHHFFFHF", "FHFFHFHF", "FFFHFFFG"),
}


def frozen_lake(map_name: str = "4x4", slippery: bool = True, gamma: float = 0.99,
                success_rate: float = 1.0 / 3.0) -> TabularMDP:
    """FrozenLake as gymnasium's ``FrozenLake-v1`` (Brockman et al. 2016), built from its map.

    Reward 1 for reaching G, 0 otherwise; holes and the goal end the episode. On slippery ice
    the agent moves in the intended direction with probability ``success_rate`` (1/3) and in
    each perpendicular direction with the rest split evenly; moves off the grid stay put.

    gymnasium fixes no discount; we default to γ = 0.99. With γ = 1, v*(s) would be the
    probability of ever reaching the goal, and on the 8×8 map a patient agent reaches it almost
    surely from most cells, so v* ≈ 1 there and nearly every action is optimal: discounting is
    what makes reaching the goal *soon* matter.
    """
    layout = FROZEN_LAKE_MAPS[map_name]
    shape = (len(layout), len(layout[0]))
    action_names = ("left", "down", "right", "up")  # gymnasium's action order
    # gymnasium's own arithmetic, so that the probabilities match it bit for bit
    slip_rate = (1.0 - success_rate) / 2.0

    def outcomes(cell: Cell, move: Cell) -> list[GridOutcome]:
        # the two perpendicular moves, in gymnasium's order ((a - 1) % 4, a, (a + 1) % 4)
        tries = [((move[1], -move[0]), slip_rate), (move, success_rate),
                 ((-move[1], move[0]), slip_rate)] if slippery else [(move, 1.0)]
        result = []
        for direction, prob in tries:
            (row, col), _ = _step(cell, direction, shape)
            result.append((prob, (row, col), 1.0 if layout[row][col] == "G" else 0.0))
        return result

    kind = "slippery" if slippery else "deterministic"
    return _grid(layout, action_names, outcomes, "HG", gamma, f"FrozenLake {map_name} ({kind})")


def gamblers_problem(p_heads: float = 0.4, goal: int = 100, gamma: float = 1.0) -> TabularMDP:
    """S&B Example 4.3 (Figure 4.3): the gambler's problem.

    States are the capital 0..goal, with 0 and ``goal`` terminal; action a stakes a + 1 dollars,
    allowed only while the stake is at most min(s, goal − s) (an action mask, so no algorithm can
    choose a stake it cannot afford). Heads (probability ``p_heads``) wins the stake; reward +1
    on reaching the goal, 0 otherwise; undiscounted. The book also allows a stake of 0; it never
    helps, and leaving it out makes every policy end its episodes, which keeps policy evaluation
    well defined for γ = 1.
    """
    if not 0.0 <= p_heads <= 1.0:
        raise ValueError(f"p_heads must lie in [0, 1], got {p_heads}")
    n_stakes = goal // 2
    stakes = np.arange(1, n_stakes + 1)
    capital = np.arange(goal + 1)
    allowed = stakes[None, :] <= np.minimum(capital, goal - capital)[:, None]

    def outcomes(s: int, a: int) -> list[Outcome]:
        stake = stakes[a]
        if not allowed[s, a]:
            return [(1.0, s, 0.0)]  # never used; P only needs a valid row here
        return [(p_heads, s + stake, float(s + stake == goal)), (1.0 - p_heads, s - stake, 0.0)]

    terminal = (capital == 0) | (capital == goal)
    return _tabulate(goal + 1, n_stakes, outcomes, terminal, gamma, action_mask=allowed,
                     name=f"Gambler's problem (p_h = {p_heads})",
                     action_names=tuple(f"stake {stake}" for stake in stakes))


ENVIRONMENTS: dict[str, Callable[[], TabularMDP]] = {
    "gridworld4x4": gridworld_4x4,
    "gridworld5x5": gridworld_5x5,
    "cliffwalking": cliff_walking,
    "frozenlake4x4": lambda: frozen_lake("4x4"),
    "frozenlake8x8": lambda: frozen_lake("8x8"),
    "gambler": gamblers_problem,
}
