"""Multi-agent learning on matrix games (numpy only).

* ``matrix_games.py``: two-player normal-form games (rock–paper–scissors, matching pennies,
  prisoner's dilemma, a coordination game), best responses, NashConv and exploitability, and
  three learning dynamics — fictitious play (Brown 1951), multiplicative weights / Hedge
  (Freund & Schapire 1999) and independent Q-learning with Boltzmann exploration (Claus &
  Boutilier 1998) — whose strategies are recorded every iteration.
"""
