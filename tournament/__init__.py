"""Off-chain half of the tournament: scoring, results, signing, operator, participant, audit.

Pure modules (scoring, payout, merkle, signing, submissions validation) have no I/O and no
chain; the edges (chain, operator, participant, audit, web, cli) do the I/O.
"""
