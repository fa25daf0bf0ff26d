"""One module per theorem ID of THEORY.md; each simulates instances and returns the
simulated quantity next to the bound (ready to plot), and prints both when run:
``python -m simulations.checks.<module>``.

=====  ====================================
ID     module
=====  ====================================
A1     a1_coupling_identity
A2     a2_second_order_onset
P1     p1_sft_then_rl
P2     p2_rl_then_sft
P3     p3_optimal_rl_duration
P4     p4_nondecoupling_threshold
P5     p5_discrete_time
K1     k1_any_policy_pays
K2     k2_tilted_policy
K3     k3_reward_ceiling
S1     s1_spectral_concentration
X1     x1_interleaving
V1     v1_sft_after_kl_rl (paper Thm 3.1)
V2     v2_reward_change (paper Prop. 1, in THEORY.md's form)
V3     v3_reward_drop (paper Thm 4.1, false as stated; corrected)
P1-P5  tight_regimes (each branch of a min/max bound in its own regime)
=====  ====================================
"""
