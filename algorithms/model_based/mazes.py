"""The deterministic gridworld mazes of Sutton & Barto (2nd ed., 2018), chapter 8.

* :func:`dyna_maze`: Example 8.1 / Figure 8.2, 6 × 9 cells, start (2, 0), goal (0, 8), seven
  wall cells; its shortest path is 14 steps.
* :func:`blocking_maze`: Example 8.2 / Figure 8.4, a wall on row 3 whose gap moves from the right
  end to the left end (the short path is blocked, a longer one opens).
* :func:`shortcut_maze`: Example 8.3 / Figure 8.5, the same wall with its left gap, and a second
  gap opening at the right end (a shortcut).
* :func:`scaled`: Example 8.4's mazes of increasing size: every cell becomes a k × k block.

States are flat cell indices ``row * cols + col``; the four actions move up, down, right, left.
A move into a wall or off the grid leaves the agent where it is. Reward 0 on every step except
+1 on the step that reaches the goal (a cell, or a block of cells in a scaled maze), which ends
the episode.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

ACTIONS = ((-1, 0), (1, 0), (0, 1), (0, -1))  # up, down, right, left as (Δrow, Δcol)
ACTION_NAMES = ("up", "down", "right", "left")


@dataclass(frozen=True)
class Maze:
    """A deterministic grid maze with one start cell and one goal (a cell or a k × k block)."""

    rows: int
    cols: int
    start: tuple[int, int]
    goal: tuple[int, int]
    walls: frozenset[tuple[int, int]]
    goal_block: int = 1  # the goal is the k × k block of cells whose top-left cell is ``goal``

    @property
    def n_states(self) -> int:
        return self.rows * self.cols

    @property
    def n_open(self) -> int:
        """Cells an agent can stand in (the book counts a maze's size this way: 47 for 8.1)."""
        return self.n_states - len(self.walls)

    def index(self, cell: tuple[int, int]) -> int:
        return cell[0] * self.cols + cell[1]

    def cell(self, state: int) -> tuple[int, int]:
        return divmod(int(state), self.cols)

    @property
    def start_state(self) -> int:
        return self.index(self.start)

    @property
    def goal_state(self) -> int:
        """The goal cell's index (the block's top-left cell where the goal is a block)."""
        return self.index(self.goal)

    @property
    def goal_states(self) -> frozenset[int]:
        """Every goal cell's index: reaching any of them ends the episode with reward +1."""
        k = self.goal_block
        return frozenset(self.index((self.goal[0] + i, self.goal[1] + j))
                         for i in range(k) for j in range(k))

    def is_goal(self) -> np.ndarray:
        """A boolean mask over states: True on the goal cells."""
        mask = np.zeros(self.n_states, dtype=bool)
        mask[list(self.goal_states)] = True
        return mask

    def transitions(self) -> tuple[np.ndarray, np.ndarray]:
        """The whole deterministic model as arrays: next state ``S'[s, a]`` and reward
        ``R[s, a]`` (+1 exactly on the moves into a goal cell)."""
        next_state = np.zeros((self.n_states, len(ACTIONS)), dtype=np.int64)
        for s in range(self.n_states):
            r, c = self.cell(s)
            for a, (dr, dc) in enumerate(ACTIONS):
                nr, nc = r + dr, c + dc
                off_grid = not (0 <= nr < self.rows and 0 <= nc < self.cols)
                blocked = off_grid or (nr, nc) in self.walls
                next_state[s, a] = s if blocked else nr * self.cols + nc
        reward = self.is_goal()[next_state].astype(float)
        return next_state, reward

    def shortest_path_length(self) -> int:
        """Steps on the shortest start → goal path, by breadth-first search."""
        next_state, _ = self.transitions()
        goals = self.goal_states
        dist = {self.start_state: 0}
        queue = deque([self.start_state])
        while queue:
            s = queue.popleft()
            if s in goals:
                return dist[s]
            for s_next in next_state[s]:
                if int(s_next) not in dist:
                    dist[int(s_next)] = dist[s] + 1
                    queue.append(int(s_next))
        raise ValueError("the goal cannot be reached from the start")


def dyna_maze() -> Maze:
    """Example 8.1: walls at column 2 rows 1–3, column 5 row 4, column 7 rows 0–2."""
    walls = {(1, 2), (2, 2), (3, 2), (4, 5), (0, 7), (1, 7), (2, 7)}
    return Maze(6, 9, start=(2, 0), goal=(0, 8), walls=frozenset(walls))


def blocking_maze(changed: bool) -> Maze:
    """Example 8.2: row 3 is a wall except column 8 (before the change) or column 0 (after)."""
    open_col = 0 if changed else 8
    walls = {(3, c) for c in range(9) if c != open_col}
    return Maze(6, 9, start=(5, 3), goal=(0, 8), walls=frozenset(walls))


def shortcut_maze(changed: bool) -> Maze:
    """Example 8.3: row 3 is a wall except column 0; after the change column 8 opens too."""
    walls = {(3, c) for c in range(1, 8 if changed else 9)}
    return Maze(6, 9, start=(5, 3), goal=(0, 8), walls=frozenset(walls))


SHORTCUT_CELL = (3, 8)
"""The cell the shortcut maze's change opens."""


def scaled(maze: Maze, k: int) -> Maze:
    """``maze`` at resolution ``k`` (Example 8.4): each cell becomes a k × k block of cells, the
    goal's block is all goal; the start is the top-left cell of its block."""
    walls = {(r * k + i, c * k + j) for r, c in maze.walls for i in range(k) for j in range(k)}
    return Maze(maze.rows * k, maze.cols * k, start=(maze.start[0] * k, maze.start[1] * k),
                goal=(maze.goal[0] * k, maze.goal[1] * k), walls=frozenset(walls), goal_block=k)
