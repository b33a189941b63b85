"""A whole settled round built without a chain: stakes, files, receipts, score_round, signatures, settlement.

The auditor's checks are pure, so most of its tests need no node: `build_pure_round` plays
every honest part (participants, submission service, operator, 2-of-3 signers, keeper) with
the protocol's own code and returns the `ChainView` a v2 chain reader would fill in and the
`ArtifactsView` the operator would publish. Tests tamper with deep copies of them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
from eth_account import Account
from eth_hash.auto import keccak

from tournament.auditor.views import ArtifactsView, ChainView, ProposalView, SettledView, SignerSetView, StakeView
from tournament.protocol import payout as payout_math
from tournament.protocol.constants import WEI_PER_NMR as NMR
from tournament.protocol.receipts import SignedReceipt
from tournament.protocol.round_scoring import RoundInputs, RoundScoring, StakeAtClose, score_round
from tournament.protocol.signing import Domain, Results, UploadReceipt, sign_receipt, sign_results

ROUND_ID = 5
N_IDS = 300
CHAIN_ID = 31337
TOURNAMENT = "0x" + "5a" * 20
CLOSE_TIME = 1_800_000_000
RESOLVE_TIME = CLOSE_TIME + 28 * 86_400
CONFIG = {"corrMultMin": 50, "corrMultMax": 300, "mmcMultMin": 0, "mmcMultMax": 0, "clipBps": 2500,
          "challengePeriod": 86_400, "resultsTimeout": 14 * 86_400, "settleTimeout": 14 * 86_400,
          "minResolutionDelay": 3600, "stakeThreshold": 72_000 * NMR, "minStake": NMR // 100}
# label, stake NMR, corr mult, file kind
PLAN = [("good_a", 10, 200, "good"), ("good_b", 50, 300, "anti"), ("good_c", 20, 100, "good"),
        ("constant", 5, 100, "constant"), ("missing", 7, 150, "missing"), ("swapped", 3, 50, "swapped")]


def key(label: str):
    """A deterministic test account per label (never a real key)."""
    return Account.from_key(keccak(f"pure-round test key {label}".encode()))


SIGNERS = [key(f"signer{i}") for i in range(3)]
RECEIPT_KEY = key("submission service")
OUTSIDER = key("outsider")


@dataclass
class PureRound:
    chain: ChainView
    artifacts: ArtifactsView
    scoring: RoundScoring
    inputs: RoundInputs
    model_ids: dict                       # label -> model id
    committed: dict                       # model id -> the committed file's bytes
    receipts: dict = field(default_factory=dict)   # model id -> SignedReceipt of its committed file
    domain: Domain = Domain(CHAIN_ID, TOURNAMENT)

    def copy(self) -> PureRound:
        return copy.deepcopy(self)


def csv_bytes(ids, values) -> bytes:
    return ("id,prediction\n" + "".join(f"{i},{float(v)!r}\n" for i, v in zip(ids, values))).encode()


def make_inputs(plan=PLAN, round_id: int = ROUND_ID, n_ids: int = N_IDS, seed: int = 7):
    rng = np.random.default_rng(seed)
    ids = [f"id{i:04d}" for i in range(n_ids)]
    targets = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=n_ids)
    signal = targets + rng.normal(0, 0.6, n_ids)
    domain = Domain(CHAIN_ID, TOURNAMENT)
    stakes, files, committed, receipts, model_ids = [], {}, {}, {}, {}
    for model_id, (label, stake_nmr, corr_mult, kind) in enumerate(plan, start=11):
        model_ids[label] = model_id
        if kind == "good":
            values = signal + rng.normal(0, 0.8, n_ids)
        elif kind == "oracle":     # ranks of the targets themselves: |MMC| can exceed 1 against a noise meta model
            values = targets + rng.normal(0, 0.01, n_ids)
        elif kind == "anti":
            values = -signal + rng.normal(0, 0.5, n_ids)
        elif kind == "constant":
            values = np.full(n_ids, 0.5)
        else:
            values = rng.normal(0, 1, n_ids)
        if kind != "constant":
            values = (np.argsort(np.argsort(values)) + 0.5) / n_ids
        raw = csv_bytes(ids, values)
        committed[model_id] = raw
        owner = key(f"owner {label}").address
        stakes.append(StakeAtClose(model_id, owner, stake_nmr * NMR, corr_mult, 0, keccak(raw)))
        if kind == "missing":
            files[model_id] = None
            continue
        files[model_id] = raw if kind != "swapped" else csv_bytes(ids, values[::-1])
        receipt = UploadReceipt(round_id, model_id, keccak(files[model_id]), CLOSE_TIME - 600 + model_id)
        receipts[model_id] = SignedReceipt(receipt, sign_receipt(RECEIPT_KEY.key, domain, receipt))
    live_raw = ("id\n" + "".join(f"{i}\n" for i in ids)).encode()
    targets_raw = ("id,target\n" + "".join(f"{i},{t}\n" for i, t in zip(ids, targets))).encode()
    inputs = RoundInputs(round_id, stakes, files, live_raw, targets_raw, list(receipts.values()))
    return inputs, model_ids, committed, receipts


def chain_view_for(inputs: RoundInputs, scoring: RoundScoring, *, signer_keys=SIGNERS[:2],
                   now: int = RESOLVE_TIME + 10 * 86_400) -> ChainView:
    """What a v2 chain reader would say once these results were proposed by 2-of-3 and settled."""
    domain = Domain(CHAIN_ID, TOURNAMENT)
    stakes = {s.model_id: StakeView(s.model_id, s.owner, s.amount_wei, s.corr_mult, s.mmc_mult,
                                    s.submission_hash, s.amount_wei, True, "0x" + "01" * 32)
              for s in inputs.stakes}
    total = sum(s.amount_wei for s in inputs.stakes)
    at_risk = scoring.scored_at_risk_wei
    pf = payout_math.payout_factor_wei(at_risk, CONFIG["stakeThreshold"])
    reserve = at_risk * CONFIG["clipBps"] // 10_000
    results = Results(inputs.round_id, 0, scoring.results_root, scoring.leaf_count, at_risk,
                      scoring.artifacts_hash, 1)
    proposal = ProposalView(0, scoring.results_root, scoring.artifacts_hash, scoring.leaf_count, pf, reserve,
                            RESOLVE_TIME + 3600 + CONFIG["challengePeriod"], 1, "0x" + "02" * 32, 100,
                            sign_results(domain, results, [k.key for k in signer_keys]),
                            dict(zip(["roundId", "attempt", "resultsRoot", "leafCount", "scoredAtRisk",
                                      "artifactsHash", "signerSetVersion"], results.as_tuple())),
                            at_risk)
    settled, rewards, burns = {}, 0, 0
    for leaf in scoring.leaves:
        s = stakes[leaf.model_id]
        credit, burned, reward = payout_math.settle_amounts(s.stake_wei, leaf.status, leaf.corr_nanos,
                                                            leaf.mmc_nanos, s.corr_mult, s.mmc_mult, pf,
                                                            CONFIG["clipBps"])
        settled[leaf.model_id] = [SettledView(leaf.model_id, s.owner, s.stake_wei, int(leaf.status),
                                              leaf.corr_nanos, leaf.mmc_nanos, credit - s.stake_wei, burned,
                                              "0x" + "03" * 32)]
        rewards, burns = rewards + reward, burns + burned
    initial = 11_000_000 * NMR
    return ChainView(
        round_id=inputs.round_id, chain_id=CHAIN_ID, tournament=TOURNAMENT, now=now, phase="Settled",
        close_time=CLOSE_TIME, resolve_time=RESOLVE_TIME, config=dict(CONFIG), staked_count=len(stakes),
        total_at_risk_wei=total, stakes=stakes, proposals=[proposal],
        signer_sets={1: SignerSetView(1, sorted((k.address for k in SIGNERS), key=lambda a: int(a, 16)), 2)},
        settled=settled, round_settled={"rewards": rewards, "burned": burns,
                                        "reserveReleased": reserve - rewards, "tx_hash": "0x" + "04" * 32},
        initial_supply_wei=initial, total_supply_wei=initial - burns, tournament_burns_wei=burns,
        other_burns_wei=0, live_ids_hash=keccak(inputs.live_ids_raw), receipt_signers=[RECEIPT_KEY.address])


def build_pure_round(plan=PLAN, **kwargs) -> PureRound:
    inputs, model_ids, committed, receipts = make_inputs(plan, **kwargs)
    scoring = score_round(inputs)
    chain = chain_view_for(inputs, scoring)
    return PureRound(chain, ArtifactsView(dict(scoring.artifact_files), "pure"), scoring, inputs, model_ids,
                     committed, receipts)


def republish(pure: PureRound, inputs: RoundInputs, signer_keys=SIGNERS[:2]) -> PureRound:
    """The (dishonest) operator re-scores other inputs, publishes them, re-signs and settles consistently."""
    scoring = score_round(inputs)
    chain = chain_view_for(inputs, scoring, signer_keys=signer_keys)
    chain.live_ids_hash = pure.chain.live_ids_hash       # committed at open: the operator cannot change it
    return PureRound(chain, ArtifactsView(dict(scoring.artifact_files), "pure"), scoring, inputs,
                     pure.model_ids, pure.committed, pure.receipts)
