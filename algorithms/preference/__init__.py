"""Models of preferences between items, the synthetic annotators who produce them (week 9), and
the losses that optimise a policy on them (weeks 4 and 10).

===================  ======================================================  =====================
module               contents                                                paper
===================  ======================================================  =====================
``bradley_terry.py`` P(i ≻ j) = σ(θ_i − θ_j); the (L2-penalised) MLE by      Bradley & Terry 1952;
                     Newton's method on the win counts; sampling             Hunter 2004
``plackett_luce.py`` rankings as repeated Luce choices; the MLE from full    Plackett 1975;
                     or top-k rankings; sampling by Gumbel noise             Luce 1959
``elo.py``           E = 1/(1 + 10^{(R_j − R_i)/400}), R ← R + K(S − E);     Elo 1978
                     Elo ↔ BT scale; dependence on the order of games
``annotators.py``    labels by BT on a gold reward with temperature,         Cohen 1960;
                     length and position biases and flips; Cohen's and       Fleiss 1971
                     Fleiss' κ; the length bias by logistic regression
``losses.py``        DPO, conservative DPO, IPO, SimPO, KTO, ORPO on         Rafailov 2023; Azar
                     sequence log-probs                                      2023; Meng 2024;
                                                                             Ethayarajh 2024;
                                                                             Hong 2024
``grpo.py``          group-relative advantages, the clipped surrogate with   Shao 2024; Liu 2025
                     k3 KL, the grpo / bnpo / dr_grpo normalisations
``best_of_n.py``     best-of-n selection and its KL, log n − (n − 1)/n       Stiennon 2020;
                                                                             Beirami 2024
``calibration.py``  reliability and ECE of P(a ≻ b); preference strength   Guo 2017; Wang 2024
                     over an ensemble and its AUROC at finding flipped
                     labels
``gold_reward.py``  VADER's compound sentiment: the fixed judge that       Hutto & Gilbert 2014;
                     annotators label by and policies are scored on          Ziegler 2019
``reward_model.py`` a scalar head on the LM backbone, the pairwise loss      Ouyang 2022; Touvron
                     −log σ(r_w − r_l − m), ensembles (mean, worst case,     2023; Coste 2024
                     uncertainty-weighted)
``reward_training``  fitting reward models: a fine-tuned tower, a linear     Ouyang 2022
                     head on frozen features
``pairs.py``         the preference file format, read strictly
``sequences.py``     prompt ⧺ completion batches and log π(y_t | x, y_<t)
                     of their tokens: what every trainer below reads
``offline.py``       training DPO / IPO / SimPO / KTO on pairs; a policy's   Rafailov 2023
                     gold reward and KL from sampled completions
``grpo_training``    GRPO's loop: groups, scores, clipped steps              Shao 2024
``ppo_text.py``      PPO for text: value head, per-token KL penalty,         Ziegler 2019;
                     adaptive KL controller, GAE over tokens                 Ouyang 2022
``constitution.py``  a constitution of principles; the offline rule judge    Bai 2022; Lee 2023
                     (a stand-in for an LLM judge) and the LLM judge
===================  ======================================================  =====================

Items are integers 0..n−1 and comparisons are [winner, loser] rows; strengths θ are natural-log
and centred (mean 0); the penalty ``alpha`` is choix's ``opt_pairwise``/``opt_rankings``
convention, −ℓ(θ) + α Σθ². The package namespace is numpy, scipy and VADER only; the torch modules
(losses, grpo, best_of_n, reward_model, reward_training, sequences, offline, grpo_training,
ppo_text) are imported by their own paths.
"""

from algorithms.preference.annotators import (Annotations, LengthBias, agreement_rate, annotate,
                                              cohen_kappa, fleiss_kappa, length_bias)
from algorithms.preference.bradley_terry import (fit_bradley_terry, pairwise_log_likelihood,
                                                 sample_comparisons, win_matrix, win_probability)
from algorithms.preference.calibration import (Reliability, label_noise_auroc,
                                               preference_strength, reliability)
from algorithms.preference.elo import (OrderDependence, elo_ratings, elo_to_bradley_terry,
                                       expected_score, order_dependence)
from algorithms.preference.gold_reward import gold_reward
from algorithms.preference.plackett_luce import (fit_plackett_luce, ranking_log_likelihood,
                                                 ranking_probability, sample_rankings)

__all__ = [
    "Annotations", "LengthBias", "OrderDependence", "Reliability", "agreement_rate", "annotate",
    "cohen_kappa", "elo_ratings", "elo_to_bradley_terry", "expected_score", "fit_bradley_terry",
    "fit_plackett_luce", "fleiss_kappa", "gold_reward", "label_noise_auroc", "length_bias",
    "order_dependence", "pairwise_log_likelihood", "preference_strength", "ranking_log_likelihood",
    "ranking_probability", "reliability", "sample_comparisons", "sample_rankings", "win_matrix",
    "win_probability",
]
