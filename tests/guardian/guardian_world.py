"""Rounds proposed on anvil for the watchtower's tests (imported by name: pytest puts this folder on sys.path).

Built on the shared `Harness` (tests/worlds.py): its participants, files and
stakes, driven through the real operator pipeline. `propose_rounds` is the ONE function that
knows how a round gets from nothing to Proposed; when the v2 contracts land (openRound with
liveIdsHash, Results with scoredAtRisk, RECEIPT_ROLE) only it (and the Operator it drives)
changes. Receipts are signed here with eth-account's own EIP-712 encoder, independently of the
watchtower's digest code, by a key the admin granted RECEIPT_ROLE.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_hash.auto import keccak

from tests.worlds import Harness, RoundPlan  # noqa: F401  (the shared round factory)
from tournament.chain.devchain import chain_now
from tournament.protocol.signing import DOMAIN_TYPE_FIELDS

RECEIPT_ROLE = keccak(b"RECEIPT_ROLE")
PROPOSED, RESOLVABLE = 4, 3


@dataclass
class RoundCase:
    """What to do wrong in one round (nothing: an honest round)."""

    kinds: list
    withhold: list = field(default_factory=list)      # positions of valid files the operator never collects
    wrong_targets: bool = False                       # score against other targets than the source's


@dataclass
class ProposedRound:
    plan: RoundPlan
    case: RoundCase
    receipts: list = field(default_factory=list)      # receipt JSON dicts of the withheld files
    withheld_models: list = field(default_factory=list)


class GuardianWorld:
    def __init__(self, harness: Harness, tmp: Path):
        self.h = harness
        self.tmp = tmp
        self.work = tmp / "operator-work"                 # rounds/<id>/artifacts: the published layout
        self.targets_dir = tmp / "targets-source"         # <round>/targets.csv: the targets source
        self.receipt_key = Account.from_key(keccak(b"guardian-test-receipt-signer"))
        self.outsider_key = Account.from_key(keccak(b"guardian-test-not-a-receipt-signer"))
        t = harness.t
        if not t.functions.hasRole(RECEIPT_ROLE, self.receipt_key.address).call():
            harness.admin.transact(t.functions.grantRole(RECEIPT_ROLE, self.receipt_key.address), "grant RECEIPT_ROLE")

    def operator(self):
        return self.h.operator(self.work)

    def sign_receipt(self, key, round_id: int, model_id: int, submission_hash: bytes, received_at: int) -> dict:
        _fields, name, version, chain_id, contract, _salt, _ext = self.h.t.functions.eip712Domain().call()
        typed = {
            "types": {"EIP712Domain": DOMAIN_TYPE_FIELDS,
                      "UploadReceipt": [{"name": "roundId", "type": "uint256"}, {"name": "modelId", "type": "uint256"},
                                        {"name": "submissionHash", "type": "bytes32"},
                                        {"name": "receivedAt", "type": "uint64"}]},
            "primaryType": "UploadReceipt",
            "domain": {"name": name, "version": version, "chainId": chain_id, "verifyingContract": contract},
            "message": {"roundId": round_id, "modelId": model_id, "submissionHash": submission_hash,
                        "receivedAt": received_at},
        }
        signature = Account.sign_message(encode_typed_data(full_message=typed), key.key).signature
        return {"round_id": round_id, "model_id": model_id, "submission_hash": "0x" + submission_hash.hex(),
                "received_at": received_at, "signature": "0x" + bytes(signature).hex()}

    def propose_rounds(self, cases: list[RoundCase]) -> list[ProposedRound]:
        """Opens, stakes, resolves, collects, scores and proposes one round per case, all at once
        (so every challenge window is open together). The only place that builds rounds."""
        h, op = self.h, self.operator()
        out = []
        for case in cases:
            plan = h.plan_round(case.kinds)
            h.open_and_stake(op, plan)
            (self.targets_dir / str(plan.round_id)).mkdir(parents=True, exist_ok=True)
            (self.targets_dir / str(plan.round_id) / "targets.csv").write_bytes(plan.targets_path.read_bytes())
            rnd = ProposedRound(plan, case)
            close_time = int(h.t.functions.getRound(plan.round_id).call()[0])
            for position in case.withhold:
                spec = plan.specs[position]
                assert spec.kind == "valid"
                digest = keccak(spec.raw)
                # The service received the file (and signed a receipt) before close; the operator then drops it.
                rnd.receipts.append(self.sign_receipt(self.receipt_key, plan.round_id, spec.model_id, digest,
                                                      min(chain_now(h.w3), close_time - 1)))
                rnd.withheld_models.append(spec.model_id)
            out.append(rnd)
        h.to_resolvable(out[-1].plan)
        for rnd in out:
            plan = rnd.plan
            stash = self.tmp / f"withheld-{plan.round_id}"
            stash.mkdir(exist_ok=True)
            for position in rnd.case.withhold:
                name = "0x" + keccak(plan.specs[position].raw).hex()
                if (h.source_dir / name).exists():
                    shutil.move(str(h.source_dir / name), str(stash / name))
            op.collect(plan.round_id)
            for name in [p.name for p in stash.iterdir()]:   # the store keeps it for later rounds' stakes
                shutil.move(str(stash / name), str(h.source_dir / name))
            targets = plan.targets_path
            if rnd.case.wrong_targets:
                targets = self.tmp / f"wrong-targets-{plan.round_id}.csv"
                header, *rows = plan.targets_path.read_text().splitlines()
                ids, values = [r.split(",")[0] for r in rows], [r.split(",")[1] for r in rows]
                shifted = values[1:] + values[:1]       # the same targets, each on its neighbour's id
                targets.write_text(header + "\n" + "".join(f"{i},{v}\n" for i, v in zip(ids, shifted)))
            op.score(plan.round_id, targets)
            op.propose(plan.round_id)
            assert h.t.functions.phase(plan.round_id).call() == PROPOSED
        return out

    def vetoes(self, round_id: int) -> list:
        return [dict(e["args"]) for e in self.h.t.events.ResultsVetoed().get_logs(
            from_block=0, argument_filters={"roundId": round_id})]

    def phase_attempt(self, round_id: int) -> tuple[int, int]:
        return int(self.h.t.functions.phase(round_id).call()), int(self.h.t.functions.getRound(round_id).call()[4])


def watch_settings(world: GuardianWorld, state: Optional[Path] = None, **overrides):
    from tournament.guardian.watch import WatchSettings

    values = dict(artifacts=str(world.work), targets_source=str(world.targets_dir),
                  receipts_dir=world.tmp / "receipts", state_dir=state, warn_before_s=3600, interval_s=0.2)
    values.update(overrides)
    return WatchSettings(**values)
