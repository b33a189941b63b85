"""A hypothesis stateful test that drives random sequences of deposit,
withdraw, open round, stake, unstake, time travel, propose, veto, settle (random, overlapping
batches), refund, fundRewards and (v2) pause/unpause against the shared deployment, checks every
settlement to the wei against tournament/protocol/payout.py (pf from the signed scoredAtRisk), and
checks the protocol's invariants 1-6 (v2: SCORED settled <= scoredAtRisk) after every step, plus
the pause rule: while paused no deadline passes (no round turns Refunding, Proposed stays Proposed
unless vetoed, no refund becomes due).

Each hypothesis example is a whole sequence of steps (rule name and arguments), replayed against
a chain reverted to the same snapshot; hypothesis shrinks a failing sequence like any list.
Not brownie's `state_machine`: brownie 1.22.2's compiled (mypyc) `state_machine` rejects every
machine class ("TypeError: brownie.test.stateful._BrownieStateMachine object expected"), and
hypothesis 6.27's RuleBasedStateMachine spends a short run's examples on 0-3 steps, so
fixed-length step lists exercise far more of the lifecycle for the same time.

The default profile is quick; a soak run raises it with SOAK_STEPS (steps per run) and
SOAK_EXAMPLES (runs), e.g. `SOAK_STEPS=200 SOAK_EXAMPLES=200 brownie test tests/contracts/test_tournament_stateful.py`.
"""
from __future__ import annotations

import os
import random

from brownie import chain
from hypothesis import HealthCheck, given
from hypothesis import settings as hp_settings
from hypothesis import strategies as st
from tournament_testlib import (
    ACCEPTED,
    CLOSED,
    DAY,
    NMR_WEI,
    OPEN,
    PROPOSED,
    REFUNDING,
    RESOLVABLE,
    SETTLED,
    InvariantChecker,
    now,
    soak_steps,
    submission_hash,
    travel_to,
)

from tournament.protocol.payout import settle_amounts
from tournament.protocol.results import ResultsTree, build_leaves

MODELS_PER_PARTICIPANT = 2
ACTIONS: dict[str, int] = {}  # transactions per rule over the whole run (printed with -s)


def _count(action: str) -> None:
    ACTIONS[action] = ACTIONS.get(action, 0) + 1


class TournamentMachine:
    """Rules act only when their preconditions hold on-chain, so every transaction should succeed."""

    @classmethod
    def configure(cls, tournament, nmr, harness, participants, treasury, guardian, model_ids, admin=None):
        cls.t = tournament
        cls.nmr = nmr
        cls.h = harness
        cls.participants = participants
        cls.treasury = treasury
        cls.guardian = guardian
        cls.admin = admin
        cls.model_ids = model_ids
        cls.checker = InvariantChecker(nmr, tournament, participants)
        cls.min_stake = tournament.config()[10]

    def __init__(self):
        chain.revert()  # back to the snapshot taken before the first example
        self.rounds = []
        self.trees = {}
        self.paused_phases = None  # {round: phase} when the pause started

    # ---------------------------------------------------------- helpers
    def _rounds_in(self, *phases):
        return [r for r in self.rounds if self.t.phase(r) in phases]

    def _staked_models(self, round_id):
        return sorted(m for (r, m), amount in self.checker.stakes.items() if r == round_id and amount > 0)

    def _model(self, who, pick):
        return self.model_ids[who][pick % MODELS_PER_PARTICIPANT]

    # ---------------------------------------------------------- rules
    def start_with_a_staked_round(self, seed):
        rng = random.Random(seed)
        round_id = self.h.open_round(close_in=2 * DAY)
        self.rounds.append(round_id)
        for who, owner in enumerate(self.participants):
            _count("stake")
            self.t.stake(round_id, self._model(who, rng.randint(0, 1)), rng.randint(1, 100) * NMR_WEI,
                         rng.choice([50, 100, 300]), 0, submission_hash(f"init/{who}"), {"from": owner})

    def _running(self):
        """Unpause first (rules that need a running tournament call this)."""
        if self.t.paused():
            self.rule_unpause()

    def rule_pause(self):
        if not self.t.paused():
            _count("pause")
            self.t.pause({"from": self.guardian})
            self.paused_phases = {r: self.t.phase(r) for r in self.rounds}

    def rule_unpause(self):
        if self.t.paused():
            _count("unpause")
            self.t.unpause({"from": self.admin})
            self.paused_phases = None

    def rule_advance(self, pick, seed):
        """Move one round to its next phase: the lifecycle gets somewhere even in short runs."""
        self._running()
        if not self.rounds:
            return self.rule_open_round(DAY)
        round_id = self.rounds[pick % len(self.rounds)]
        current = self.t.phase(round_id)
        r = self.h.round(round_id)
        if current == OPEN:
            travel_to(r["closeTime"])
        elif current == CLOSED:
            travel_to(r["resolveTime"])
        elif current == RESOLVABLE:
            self.rule_propose(0, seed, round_id)
        elif current == PROPOSED:
            if seed % 4 == 1:
                _count("veto")
                self.t.veto(round_id, "advance veto", {"from": self.guardian})
            else:
                self.h.to_accepted(round_id)
        elif current == ACCEPTED:
            self.rule_settle(0, seed, round_id)
        elif current == REFUNDING:
            self.rule_refund(0, seed, round_id)
        elif current == SETTLED:
            self.rule_open_round(DAY)

    def rule_deposit(self, who, amount_centi):
        self._running()
        _count("deposit")
        self.t.deposit(amount_centi * NMR_WEI // 100, {"from": self.participants[who]})

    def rule_withdraw(self, who, percent):
        owner = self.participants[who]
        balance = self.t.balanceOf(owner)
        if balance:
            _count("withdraw")
            self.t.withdraw(max(1, balance * percent // 100), {"from": owner})

    def rule_open_round(self, seconds):
        self._running()
        self.rounds.append(self.h.open_round(close_in=seconds + 600))

    def rule_stake(self, who, pick, percent, corr_mult):
        open_rounds = self._rounds_in(OPEN)
        owner = self.participants[who]
        balance = self.t.balanceOf(owner)
        if not open_rounds or balance < self.min_stake or self.t.paused():
            return
        round_id = open_rounds[pick % len(open_rounds)]
        model = self._model(who, pick // 7)
        amount = max(self.min_stake, balance * percent // 100)
        _count("stake")
        self.t.stake(round_id, model, amount, corr_mult, 0, submission_hash(f"{round_id}/{model}/{pick}"),
                     {"from": owner})

    def rule_unstake(self, who, pick, percent):
        owner = self.participants[who]
        for round_id in self._rounds_in(OPEN):
            model = self._model(who, pick)
            staked = self.t.getStake(round_id, model)[0][0]
            if staked:
                amount = staked * percent // 100 or staked
                if 0 < staked - amount < self.min_stake:
                    amount = staked
                _count("unstake")
                self.t.unstake(round_id, model, amount, {"from": owner})
                return

    def rule_sleep(self, seconds):
        travel_to(now() + seconds)

    def rule_propose(self, pick, seed, round_id=None):
        candidates = [round_id] if round_id else self._rounds_in(RESOLVABLE)
        if not candidates:
            return
        self._running()
        round_id = candidates[pick % len(candidates)]
        rng = random.Random(seed)
        scores = {m: None if rng.random() < 0.15 else
                  (rng.randint(-150_000_000, 150_000_000), rng.randint(-10**9, 10**9))
                  for m in self._staked_models(round_id)}
        r = self.h.round(round_id)
        reserve = r["totalAtRisk"] * r["config"][4] // 10_000  # at least the v2 reserve (scored only)
        if self.t.rewardPool() < reserve:
            self.t.fundRewards(reserve - self.t.rewardPool(), {"from": self.treasury})
        tree = ResultsTree(build_leaves(round_id, list(scores), scores), round_id)
        _count("propose")
        self.h.propose(round_id, tree)
        self.trees[round_id] = tree

    def rule_veto(self, pick):
        candidates = self._rounds_in(PROPOSED)
        if candidates:
            _count("veto")
            self.t.veto(candidates[pick % len(candidates)], "stateful veto", {"from": self.guardian})

    def rule_settle(self, pick, seed, round_id=None):
        candidates = [round_id] if round_id else self._rounds_in(ACCEPTED)
        if not candidates:
            return
        self._running()
        round_id = candidates[pick % len(candidates)]
        tree = self.trees[round_id]
        rng = random.Random(seed)
        leaves = [leaf for leaf in tree.leaves if rng.random() < 0.6] or [tree.leaves[0]]
        r = self.h.round(round_id)
        expected = {}
        for leaf in leaves:
            position, closed = self.t.getStake(round_id, leaf.model_id)
            if not closed:
                expected[leaf.model_id] = settle_amounts(position[0], leaf.status, leaf.corr_nanos, leaf.mmc_nanos,
                                                         position[1], position[2], r["payoutFactor"],
                                                         r["config"][4])
        _count("settle")
        for tx in self.h.settle(round_id, tree, leaves, batch_size=rng.randint(1, 6)):
            for event in tx.events["StakeSettled"] if "StakeSettled" in tx.events else []:
                credit, burned, reward = expected.pop(event["modelId"])
                assert event["payout"] == reward - burned and event["burned"] == burned
        assert not expected, f"stakes {sorted(expected)} were not settled"

    def rule_refund(self, pick, seed, round_id=None):
        candidates = [round_id] if round_id else [
            r for r in self._rounds_in(REFUNDING, ACCEPTED)
            if self.t.phase(r) == REFUNDING or self.t.tournamentTime() >= self.t.refundableAt(r)]
        if not candidates:
            return
        round_id = candidates[pick % len(candidates)]
        rng = random.Random(seed)
        models = [m for m in self._staked_models(round_id) if rng.random() < 0.7]
        if models:
            _count("refund")
            self.t.refund(round_id, models, {"from": self.h.keeper})

    def rule_fund(self, amount_centi):
        self._running()
        _count("fund")
        self.t.fundRewards(amount_centi * NMR_WEI // 100, {"from": self.treasury})

    # ---------------------------------------------------------- invariants
    def invariant_protocol(self):
        self.checker.check()
        if self.paused_phases is not None:
            # a pause delays outcomes and never changes them: no deadline passes while paused
            allowed = {PROPOSED: {PROPOSED, RESOLVABLE}, RESOLVABLE: {RESOLVABLE, PROPOSED},
                       ACCEPTED: {ACCEPTED, SETTLED}, CLOSED: {CLOSED, RESOLVABLE},
                       REFUNDING: {REFUNDING, SETTLED}, SETTLED: {SETTLED}, OPEN: {OPEN, CLOSED, RESOLVABLE, SETTLED}}
            for round_id, before in self.paused_phases.items():
                after = self.t.phase(round_id)
                assert after in allowed[before], f"round {round_id} went {before} -> {after} while paused"


# "advance" first: hypothesis' simplest sequence (all first choices) then walks whole lifecycles.
RULES = ["advance", "stake", "deposit", "withdraw", "open_round", "unstake", "sleep", "propose", "veto",
         "settle", "refund", "fund", "advance", "advance", "pause", "unpause"]
SECONDS = [3_600, DAY, 3 * DAY, 8 * DAY, 15 * DAY]
CORR_MULTS = [50, 100, 175, 300]
STEP = st.tuples(st.sampled_from(RULES), st.integers(0, 2**16), st.integers(0, 2**32), st.integers(1, 100))


def _run_step(machine: TournamentMachine, name: str, pick: int, seed: int, percent: int) -> None:
    who = pick % len(machine.participants)
    amount_centi = seed % 20_000 + 1
    if name == "deposit":
        machine.rule_deposit(who, amount_centi)
    elif name == "withdraw":
        machine.rule_withdraw(who, percent)
    elif name == "open_round":
        machine.rule_open_round(SECONDS[pick % len(SECONDS)])
    elif name == "stake":
        machine.rule_stake(who, pick // 4, percent, CORR_MULTS[seed % len(CORR_MULTS)])
    elif name == "unstake":
        machine.rule_unstake(who, pick // 4, percent)
    elif name == "sleep":
        machine.rule_sleep(SECONDS[pick % len(SECONDS)])
    elif name in ("propose", "veto", "settle", "refund", "advance"):
        method = getattr(machine, f"rule_{name}")
        method(pick) if name == "veto" else method(pick, seed)
    elif name == "fund":
        machine.rule_fund(amount_centi)
    elif name == "pause":
        machine.rule_pause()
    elif name == "unpause":
        machine.rule_unpause()


def test_random_sequences_keep_invariants(tournament, nmr, h, participants, treasury, guardian, admin):
    model_ids = [[h.create_model(p, f"sm{i}-{k}") for k in range(MODELS_PER_PARTICIPANT)]
                 for i, p in enumerate(participants)]
    for p in participants:
        tournament.deposit(500 * NMR_WEI, {"from": p})
    TournamentMachine.configure(tournament, nmr, h, participants, treasury, guardian, model_ids, admin)
    chain.snapshot()
    steps = soak_steps(20)

    @hp_settings(max_examples=int(os.environ.get("SOAK_EXAMPLES", 6)), deadline=None, database=None,
                 suppress_health_check=list(HealthCheck))
    @given(sequence=st.lists(STEP, min_size=steps, max_size=steps), start_seed=st.integers(0, 2**32))
    def run(sequence, start_seed):
        machine = TournamentMachine()
        machine.start_with_a_staked_round(start_seed)
        machine.invariant_protocol()
        for name, pick, seed, percent in sequence:
            _run_step(machine, name, pick, seed, percent)
            machine.invariant_protocol()

    run()
    print("stateful transactions per rule:", dict(sorted(ACTIONS.items())))
    assert ACTIONS.get("stake", 0) > 0 and ACTIONS.get("propose", 0) > 0 and ACTIONS.get("pause", 0) > 0
