"""Attacks on the Tournament contract (issue 9) that the other contract test files do not cover:
a full roles-misuse matrix (every restricted function against every other role, a participant,
a keeper and an outsider), model-owner and wallet ownership against every other account,
front-running a stake change around close (transactions landing exactly at closeTime - 1 and
closeTime, alone or together in one block), settlement griefing with a batch that turns bad
in its last leaf, two keepers settling overlapping batches in the same block, refund griefing,
and a hypothesis property that settlement neither creates nor loses a wei of NMR.

Every test pins an exact outcome: the custom error with its arguments, the events, and the
balances; the autouse invariant checker of conftest.py replays invariants 1-6 afterwards.
"""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from brownie import chain, web3
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hp_settings
from hypothesis import strategies as st
from tournament_testlib import (
    ACCEPTED,
    CLOSED,
    DAY,
    DEFAULT_ADMIN_ROLE,
    GUARDIAN_ROLE,
    NMR_WEI,
    OPEN,
    OPERATOR_ROLE,
    PROPOSED,
    RESOLVABLE,
    SEED_PRESET,
    SETTLED,
    SIGNER_KEYS,
    InvariantChecker,
    config_tuple,
    error_data,
    live_ids_hash,
    now,
    reverts_with,
    submission_hash,
    travel_to,
)
from web3.logs import DISCARD

from tournament.protocol.results import ResultsTree

SCORED, INVALID = 1, 2
GAS = 3_000_000  # explicit gas limit: no estimate against a block with another timestamp

ROLE_BY_NAME = {"admin": DEFAULT_ADMIN_ROLE, "operator": OPERATOR_ROLE, "guardian": GUARDIAN_ROLE}
CALLERS = ["admin", "operator", "guardian", "participant", "keeper", "outsider"]


def _set_next_timestamp(timestamp: int) -> None:
    response = web3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])
    assert "error" not in response, response


def _block_time(tx) -> int:
    return web3.eth.get_block(tx.block_number)["timestamp"]


@contextmanager
def _one_block():
    """Transactions sent inside (with required_confs=0) wait in the mempool; leaving mines them
    all in a single block. Automine comes back on whatever happens."""
    assert "error" not in web3.provider.make_request("evm_setAutomine", [False])
    try:
        yield
        assert "error" not in web3.provider.make_request("evm_mine", [])
    finally:
        web3.provider.make_request("evm_setAutomine", [True])


def _receipt(tx) -> dict:
    return web3.eth.wait_for_transaction_receipt(tx.txid, timeout=10)


def _revert_data(txid: str) -> str:
    trace = web3.provider.make_request("debug_traceTransaction", [txid, {"tracer": "callTracer"}])
    output = trace["result"].get("output") or "0x"
    return output if output.startswith("0x") else "0x" + output


def _events(tournament, receipt, name: str) -> list[dict]:
    contract = web3.eth.contract(address=tournament.address, abi=tournament.abi)
    return [dict(e["args"]) for e in getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)]


def _accepted(h, stakes, scores):
    """Stake, resolve, propose `scores` (aligned with stakes; None = INVALID), pass the window."""
    round_id, models = h.staked_round(stakes)
    h.to_resolve(round_id)
    tx, tree = h.propose(round_id, dict(zip(models, scores)))
    h.to_accepted(round_id)
    return round_id, models, tree, tx


def _stake_sums(tournament, round_id: int, model_ids) -> tuple[int, int]:
    amounts = [tournament.getStake(round_id, m)[0][0] for m in model_ids]
    return sum(amounts), sum(1 for a in amounts if a > 0)


# ================================================================== 1. roles misuse matrix

class _World:
    """What a row of the roles matrix needs: the deployment and the named accounts."""

    def __init__(self, tournament, nmr, h, accounts_by_name, mock_token):
        self.t = tournament
        self.nmr = nmr
        self.h = h
        self.acct = accounts_by_name
        self.deploy_mock_token = mock_token


def _prepare_propose(w: _World):
    round_id, models = w.h.staked_round([(w.acct["participant"], NMR_WEI, 100, 0)])
    w.h.to_resolve(round_id)
    tree = ResultsTree(w.h.leaves(round_id, {models[0]: (1_000, 0)}), round_id)
    results = w.h.results(round_id, tree)
    signatures = w.h.sign(results)
    call = lambda sender, target: w.t.proposeResults(w.h.results_tuple(results), signatures, {"from": sender})
    observe = lambda target: (w.t.phase(round_id), w.t.rewardPool(), tuple(w.t.getRound(round_id)))
    return call, observe


def _prepare_veto(w: _World):
    round_id, models = w.h.staked_round([(w.acct["participant"], NMR_WEI, 100, 0)])
    w.h.to_resolve(round_id)
    w.h.propose(round_id, {models[0]: (1_000, 0)})
    call = lambda sender, target: w.t.veto(round_id, "attack", {"from": sender})
    observe = lambda target: (w.t.phase(round_id), w.t.rewardPool(), tuple(w.t.getRound(round_id)))
    return call, observe


def _prepare_open_round(w: _World):
    close_time = now() + DAY
    round_id = w.t.lastRoundId() + 1
    call = lambda sender, target: w.t.openRound(round_id, close_time, close_time + DAY, live_ids_hash(round_id),
                                                {"from": sender})
    observe = lambda target: (w.t.lastRoundId(), w.t.phase(round_id))
    return call, observe


def _prepare_unpause(w: _World):
    w.t.pause({"from": w.acct["guardian"]})
    return (lambda sender, target: w.t.unpause({"from": sender})), (lambda target: w.t.paused())


def _prepare_recover_surplus(w: _World):
    token = w.deploy_mock_token()
    token.mint(w.t, 5 * NMR_WEI, {"from": w.acct["outsider"]})
    call = lambda sender, target: w.t.recoverSurplus(token, target, {"from": sender})
    observe = lambda target: (token.balanceOf(w.t), token.balanceOf(target))
    return call, observe


def _role_rows(role_name: str, action: str):
    role = ROLE_BY_NAME[role_name]

    def prepare(w: _World):
        if action == "grant":  # the caller tries to give itself the role
            call = lambda sender, target: w.t.grantRole(role, target, {"from": sender})
            return call, (lambda target: w.t.hasRole(role, target))
        holder = w.acct[role_name]  # the caller tries to strip the role from its holder
        call = lambda sender, target: w.t.revokeRole(role, holder, {"from": sender})
        return call, (lambda target: w.t.hasRole(role, holder))

    return prepare


# function -> (role it needs, prepare(world) -> (call(sender, target), observe(target)))
RESTRICTED = {
    "setConfig": ("admin", lambda w: (
        lambda sender, target: w.t.setConfig(config_tuple(clipBps=100), {"from": sender}),
        lambda target: tuple(w.t.config()))),
    "setSigners": ("admin", lambda w: (
        lambda sender, target: w.t.setSigners([SIGNER_KEYS[5].address], 1, {"from": sender}),
        lambda target: (w.t.signerSetVersion(), tuple(w.t.signerSet()[0])))),
    "pause": ("guardian", lambda w: (
        lambda sender, target: w.t.pause({"from": sender}),
        lambda target: w.t.paused())),
    "unpause": ("admin", _prepare_unpause),
    "recoverSurplus": ("admin", _prepare_recover_surplus),
    "withdrawRewards": ("admin", lambda w: (
        lambda sender, target: w.t.withdrawRewards(NMR_WEI, target, {"from": sender}),
        lambda target: (w.t.rewardPool(), w.t.accountedNmr(), w.nmr.balanceOf(target)))),
    "openRound": ("operator", _prepare_open_round),
    "proposeResults": ("operator", _prepare_propose),
    "veto": ("guardian", _prepare_veto),
    "grantRole(OPERATOR)": ("admin", _role_rows("operator", "grant")),
    "grantRole(GUARDIAN)": ("admin", _role_rows("guardian", "grant")),
    "grantRole(ADMIN)": ("admin", _role_rows("admin", "grant")),
    "revokeRole(OPERATOR)": ("admin", _role_rows("operator", "revoke")),
    "revokeRole(GUARDIAN)": ("admin", _role_rows("guardian", "revoke")),
    "revokeRole(ADMIN)": ("admin", _role_rows("admin", "revoke")),
}

@pytest.fixture
def world(tournament, nmr, h, admin, operator, guardian, alice, keeper, outsider, MockERC20):
    names = dict(admin=admin, operator=operator, guardian=guardian, participant=alice, keeper=keeper,
                 outsider=outsider)
    return _World(tournament, nmr, h, names, lambda: MockERC20.deploy({"from": outsider}))


@pytest.mark.parametrize("fn", list(RESTRICTED))
def test_restricted_function_refuses_every_other_account(world, fn):
    """The matrix row of `fn`: every caller without its role (the other roles, a participant, a
    keeper, an outsider) gets AccessControlUnauthorizedAccount(caller, role) and changes
    nothing; then the rightful role succeeds with the same arguments, so the role check alone
    stopped them. (One chain setup per row keeps the 6 x 15 matrix fast.)"""
    role_name, prepare = RESTRICTED[fn]
    call, observe = prepare(world)
    role = ROLE_BY_NAME[role_name]
    failures = []
    for caller in CALLERS:
        if caller == role_name:
            continue
        attacker = world.acct[caller]
        # a caller that already holds the role it tries to grant hands it to an accomplice
        target = world.acct["outsider"] if fn.startswith("grantRole") and caller == fn[10:-1].lower() else attacker
        before = observe(target)
        try:
            with reverts_with("AccessControlUnauthorizedAccount", attacker, role):
                call(attacker, target)
            assert observe(target) == before, "state changed"
        except AssertionError as error:
            failures.append(f"{fn} by {caller}: {error}")
    assert not failures, "\n".join(failures)
    # positive control: the holder of the role, same arguments (funds and roles to the outsider)
    target = world.acct["outsider"]
    before = observe(target)
    call(world.acct[role_name], target)
    assert observe(target) != before


def test_role_admin_of_every_role_is_the_admin_role(tournament, admin, operator, guardian, alice, keeper,
                                                    outsider):
    """Exactly one holder per role, and grant/revoke of every role is the admin's alone."""
    for role in (DEFAULT_ADMIN_ROLE, OPERATOR_ROLE, GUARDIAN_ROLE):
        assert tournament.getRoleAdmin(role) == "0x" + DEFAULT_ADMIN_ROLE.hex()
    holders = {DEFAULT_ADMIN_ROLE: admin, OPERATOR_ROLE: operator, GUARDIAN_ROLE: guardian}
    for role, holder in holders.items():
        for account in (admin, operator, guardian, alice, keeper, outsider):
            assert tournament.hasRole(role, account) == (account == holder)


@pytest.mark.parametrize("holder_name,role", [("admin", DEFAULT_ADMIN_ROLE), ("operator", OPERATOR_ROLE),
                                              ("guardian", GUARDIAN_ROLE)])
def test_nobody_renounces_a_role_for_its_holder(tournament, admin, operator, guardian, alice, outsider,
                                                holder_name, role):
    holder = {"admin": admin, "operator": operator, "guardian": guardian}[holder_name]
    for attacker in {admin, operator, guardian, alice, outsider} - {holder}:
        with reverts_with("AccessControlBadConfirmation"):
            tournament.renounceRole(role, holder, {"from": attacker})
    assert tournament.hasRole(role, holder)


OTHER_THAN_OWNER = ["bob", "admin", "operator", "guardian", "keeper", "outsider"]


@pytest.mark.parametrize("other_name", OTHER_THAN_OWNER)
def test_only_the_model_owner_changes_its_stake_and_only_the_owner_moves_its_wallet(
        tournament, h, alice, bob, admin, operator, guardian, keeper, outsider, other_name):
    other = dict(bob=bob, admin=admin, operator=operator, guardian=guardian, keeper=keeper,
                 outsider=outsider)[other_name]
    round_id = h.open_round()
    model = h.create_model(alice, "alice's")
    h.deposit_and_stake(alice, round_id, model, 10 * NMR_WEI, 200, 0, "alice")
    tournament.deposit(5 * NMR_WEI, {"from": alice})
    if other_name == "bob":  # a participant with its own model and money: balance is no obstacle
        h.create_model(bob, "bob's")
        tournament.deposit(20 * NMR_WEI, {"from": bob})
    other_balance = tournament.balanceOf(other)
    # raising, re-pointing (amount 0 replaces multipliers and the submission hash) and lowering
    for amount, corr_mult in ((NMR_WEI, 100), (0, 50)):
        with reverts_with("NotModelOwner", model, alice, other):
            tournament.stake(round_id, model, amount, corr_mult, 0, submission_hash("hijack"), {"from": other})
    with reverts_with("NotModelOwner", model, alice, other):
        tournament.unstake(round_id, model, 10 * NMR_WEI, {"from": other})
    # withdraw only ever touches the caller's own balance
    with reverts_with("InsufficientBalance", other, other_balance, 5 * NMR_WEI + other_balance):
        tournament.withdraw(5 * NMR_WEI + other_balance, {"from": other})
    assert tuple(tournament.getStake(round_id, model)[0]) == (10 * NMR_WEI, 200, 0)
    assert tournament.balanceOf(alice) == 5 * NMR_WEI and tournament.balanceOf(other) == other_balance
    assert h.round(round_id)["totalAtRisk"] == 10 * NMR_WEI


def test_admin_cannot_drain_wallets_or_stakes(tournament, nmr, h, admin, alice, treasury, invariants):
    """The admin's two ways to move NMR out reach only the surplus and the unreserved pool."""
    round_id, models = h.staked_round([(alice, 30 * NMR_WEI, 100, 0)])
    tournament.deposit(7 * NMR_WEI, {"from": alice})
    pool = tournament.rewardPool()
    with reverts_with("NoSurplus", nmr):
        tournament.recoverSurplus(nmr, admin, {"from": admin})
    with reverts_with("InsufficientRewardPool", pool + 1, pool):
        tournament.withdrawRewards(pool + 1, admin, {"from": admin})
    nmr.transfer(tournament, 3, {"from": treasury})  # a donation of 3 wei is all that is recoverable
    invariants.expected_surplus_wei += 3
    tx = tournament.recoverSurplus(nmr, admin, {"from": admin})
    assert tx.events["SurplusRecovered"]["amount"] == 3
    tournament.withdrawRewards(pool, admin, {"from": admin})
    assert tournament.rewardPool() == 0 and tournament.balanceOf(alice) == 7 * NMR_WEI
    assert nmr.balanceOf(tournament) == tournament.accountedNmr() == 37 * NMR_WEI
    assert tournament.getStake(round_id, models[0])[0][0] == 30 * NMR_WEI


# ================================================================== 2. front-running close

def test_stake_and_unstake_land_at_close_minus_one_and_revert_at_close(tournament, h, alice, bob):
    round_id = h.open_round(close_in=DAY)
    close_time = h.round(round_id)["closeTime"]
    m_alice, m_bob = h.create_model(alice, "a"), h.create_model(bob, "b")
    h.deposit_and_stake(bob, round_id, m_bob, 10 * NMR_WEI, 100, 0, "bob")
    tournament.deposit(20 * NMR_WEI, {"from": alice})

    _set_next_timestamp(close_time - 2)
    tx = tournament.stake(round_id, m_alice, 5 * NMR_WEI, 100, 0, submission_hash("a"), {"from": alice,
                                                                                          "gas_limit": GAS})
    assert _block_time(tx) == close_time - 2 and tx.events["StakeChanged"]["total"] == 5 * NMR_WEI
    _set_next_timestamp(close_time - 1)
    tx = tournament.unstake(round_id, m_bob, 4 * NMR_WEI, {"from": bob, "gas_limit": GAS})
    assert _block_time(tx) == close_time - 1 and tx.events["StakeChanged"]["total"] == 6 * NMR_WEI
    assert tournament.phase(round_id) == OPEN

    frozen = h.round(round_id)
    assert (frozen["totalAtRisk"], frozen["stakedCount"]) == (11 * NMR_WEI, 2)
    _set_next_timestamp(close_time)
    with reverts_with("RoundNotOpen", round_id, close_time, close_time):
        tournament.stake(round_id, m_alice, NMR_WEI, 100, 0, submission_hash("late"), {"from": alice,
                                                                                        "gas_limit": GAS})
    assert tournament.phase(round_id) == CLOSED
    late = [lambda: tournament.unstake(round_id, m_bob, 6 * NMR_WEI, {"from": bob, "gas_limit": GAS}),
            lambda: tournament.unstake(round_id, m_alice, NMR_WEI, {"from": alice, "gas_limit": GAS}),
            lambda: tournament.stake(round_id, m_alice, 0, 300, 0, submission_hash("swap"),
                                     {"from": alice, "gas_limit": GAS})]
    for i, send in enumerate(late):
        landing = close_time + 1 + i
        _set_next_timestamp(landing)
        with reverts_with("RoundNotOpen", round_id, close_time, landing):
            send()
    assert h.round(round_id) == frozen
    assert _stake_sums(tournament, round_id, [m_alice, m_bob]) == (frozen["totalAtRisk"], frozen["stakedCount"])
    assert tournament.balanceOf(alice) == 15 * NMR_WEI and tournament.balanceOf(bob) == 4 * NMR_WEI


def test_stake_changes_racing_close_in_one_block_share_its_fate(tournament, h, alice, bob, carol):
    """Front-runners batching several stake changes into the block that closes the round: all of
    them revert; the same batch one block earlier all lands; what stands at close is frozen."""
    round_id = h.open_round(close_in=DAY)
    close_time = h.round(round_id)["closeTime"]
    models = {p: h.create_model(p, f"racer{i}") for i, p in enumerate((alice, bob, carol))}
    for p in (alice, bob):
        h.deposit_and_stake(p, round_id, models[p], 10 * NMR_WEI, 100, 0, str(p))
    tournament.deposit(10 * NMR_WEI, {"from": carol})
    tournament.deposit(NMR_WEI, {"from": alice})

    def send_all():
        return [tournament.stake(round_id, models[alice], NMR_WEI, 300, 0, submission_hash("a2"),
                                 {"from": alice, "gas_limit": GAS, "required_confs": 0}),
                tournament.unstake(round_id, models[bob], 10 * NMR_WEI,
                                   {"from": bob, "gas_limit": GAS, "required_confs": 0}),
                tournament.stake(round_id, models[carol], 2 * NMR_WEI, 100, 0, submission_hash("c"),
                                 {"from": carol, "gas_limit": GAS, "required_confs": 0})]

    _set_next_timestamp(close_time - 1)
    with _one_block():
        early = send_all()
    receipts = [_receipt(tx) for tx in early]
    assert len({r["blockNumber"] for r in receipts}) == 1 and all(r["status"] == 1 for r in receipts)
    assert web3.eth.get_block(receipts[0]["blockNumber"])["timestamp"] == close_time - 1
    frozen = h.round(round_id)
    assert (frozen["totalAtRisk"], frozen["stakedCount"]) == (13 * NMR_WEI, 2)  # bob left, carol joined

    _set_next_timestamp(close_time)
    with _one_block():
        late = send_all()
    receipts = [_receipt(tx) for tx in late]
    assert len({r["blockNumber"] for r in receipts}) == 1 and all(r["status"] == 0 for r in receipts)
    expected = error_data("RoundNotOpen", round_id, close_time, close_time)
    assert all(_revert_data(tx.txid).lower() == expected.lower() for tx in late)
    assert h.round(round_id) == frozen
    assert _stake_sums(tournament, round_id, models.values()) == (13 * NMR_WEI, 2)
    assert tuple(tournament.getStake(round_id, models[alice])[0]) == (11 * NMR_WEI, 300, 0)
    # the frozen totals are the ones the proposal reserves against and settlement pays from
    h.to_resolve(round_id)
    tx, _ = h.propose(round_id, {models[alice]: (1_000, 0), models[carol]: (1_000, 0)})
    assert tx.events["ResultsProposed"]["reserve"] == 13 * NMR_WEI * 2500 // 10_000
    assert h.round(round_id)["totalAtRisk"] == 13 * NMR_WEI


def test_the_round_cannot_be_changed_after_opening(tournament, h, admin, operator, alice):
    """No function rewrites an open round: re-opening its id is refused, and a configuration
    change after opening (even mid-proposal) leaves every rule of the round alone: multiplier
    bounds, min stake, the reserve's clip, challenge period and settle timeout."""
    mutating = sorted(i["name"] for i in tournament.abi
                      if i["type"] == "function" and i["stateMutability"] not in ("view", "pure"))
    assert mutating == sorted(["createModel", "deposit", "depositWithPermit", "fundRewards", "grantRole",
                               "openRound", "pause", "proposeResults", "recoverSurplus", "refund",
                               "renounceRole", "revokeRole", "setConfig", "setSigners", "settle", "stake",
                               "unpause", "unstake", "veto", "withdraw", "withdrawRewards"])
    round_id = h.open_round(close_in=DAY)
    r = h.round(round_id)
    with reverts_with("InvalidRoundId", round_id, round_id + 1):
        tournament.openRound(round_id, r["closeTime"] + DAY, r["resolveTime"] + 30 * DAY, live_ids_hash(0),
                             {"from": operator})
    tournament.setConfig(config_tuple(corrMultMax=100, clipBps=100, minStake=5 * NMR_WEI, challengePeriod=7 * DAY,
                                      settleTimeout=30 * DAY), {"from": admin})
    model = h.create_model(alice)
    tournament.deposit(10 * NMR_WEI, {"from": alice})
    tournament.stake(round_id, model, NMR_WEI, 300, 0, submission_hash("a"), {"from": alice})  # 3x, 1 NMR: old rules
    h.to_resolve(round_id)
    tournament.setConfig(config_tuple(clipBps=10_000, challengePeriod=3 * DAY), {"from": admin})
    tx, tree = h.propose(round_id, {model: (100_000_000, 0)})
    event = tx.events["ResultsProposed"]
    assert event["reserve"] == NMR_WEI * 2500 // 10_000
    assert event["challengeEnd"] == tx.timestamp + DAY
    assert tournament.refundableAt(round_id) == tx.timestamp + DAY + SEED_PRESET["settleTimeout"]
    now_round = h.round(round_id)
    assert [now_round[k] for k in ("closeTime", "resolveTime", "config")] == \
        [r[k] for k in ("closeTime", "resolveTime", "config")]
    h.to_accepted(round_id)
    (settled,) = h.settle(round_id, tree)
    assert settled.events["StakeSettled"]["payout"] == NMR_WEI // 4  # clipped at the round's 25 %


# ================================================================== 3. griefing settlement

def _last_leaf_stranger_scores(h, round_id, models, stranger):
    """Scores whose tree puts the stranger's leaf last in a multiproof of all leaves (ascending
    leaf hash), so the batch settles the good leaves before it reaches the bad one."""
    base = {m: (1_000_000 * (i + 1), 0) for i, m in enumerate(models)}
    for corr in range(1, 5_000):
        scores = {**base, stranger: (corr, 0)}
        tree = ResultsTree(h.leaves(round_id, scores), round_id)
        if tree.multiproof(tree.leaves).leaves[-1].model_id == stranger:
            return scores
    raise AssertionError("no score puts the stranger last")


def test_batch_whose_last_leaf_has_no_stake_reverts_whole(tournament, nmr, h, alice, bob, carol, keeper,
                                                         outsider):
    """A (wrong) tree with a leaf for a model that never staked: a batch ending in it undoes the
    good leaves it settled first; the good leaves still settle without it; the stake the tree
    left out is refunded after settleTimeout, so the round still completes."""
    stakes = [(alice, 10 * NMR_WEI, 200, 0), (bob, 20 * NMR_WEI, 100, 0), (carol, 30 * NMR_WEI, 100, 0)]
    round_id, models = h.staked_round(stakes)
    stranger = h.create_model(outsider, "never staked")
    h.to_resolve(round_id)
    scores = _last_leaf_stranger_scores(h, round_id, models[:2], stranger)
    _, tree = h.propose(round_id, scores)
    h.to_accepted(round_id)
    batch = tree.multiproof(tree.leaves)
    assert batch.leaves[-1].model_id == stranger and len(batch.leaves) == 3
    wallets = [tournament.balanceOf(p) for p in (alice, bob, carol, outsider)]
    supply, accounted = nmr.totalSupply(), tournament.accountedNmr()
    with reverts_with("NoStake", round_id, stranger):
        tournament.settle(round_id, batch.leaf_values(), batch.proof_hex(), batch.proof_flags,
                          {"from": outsider, "gas_limit": GAS})
    assert [tournament.balanceOf(p) for p in (alice, bob, carol, outsider)] == wallets
    assert (nmr.totalSupply(), tournament.accountedNmr()) == (supply, accounted)
    assert not any(tournament.isStakeClosed(round_id, m) for m in models)
    assert h.round(round_id)["closedCount"] == 0
    (tx,) = h.settle(round_id, tree, [tree.leaf_for(m) for m in models[:2]])
    assert sorted(e["modelId"] for e in tx.events["StakeSettled"]) == models[:2]
    # corr 0.001 at 2x on 10 NMR and at 1x on 20 NMR (the tree's scores for the good leaves)
    assert tournament.balanceOf(alice) == 10 * NMR_WEI + 2 * 10**16
    assert tournament.balanceOf(bob) == 20 * NMR_WEI + 4 * 10**16
    travel_to(tournament.refundableAt(round_id))
    tx = tournament.refund(round_id, models, {"from": keeper})
    assert [e["modelId"] for e in tx.events["StakeRefunded"]] == [models[2]]
    assert tournament.balanceOf(carol) == 30 * NMR_WEI and tournament.phase(round_id) == SETTLED


@pytest.mark.parametrize("attack", ["forged-score", "wrong-round", "bad-status", "out-of-range-score"])
def test_batch_with_a_bad_last_leaf_reverts_whole_and_honest_batches_settle_everything(
        tournament, nmr, h, alice, bob, carol, keeper, outsider, attack):
    stakes = [(alice, 10 * NMR_WEI, 200, 0), (bob, 20 * NMR_WEI, 100, 0), (carol, 30 * NMR_WEI, 300, 0)]
    round_id, models, tree, proposed = _accepted(h, stakes, [(25_000_000, 0), (-10_000_000, 0), None])
    batch = tree.multiproof(tree.leaves)
    target = batch.leaves[-1]  # the last leaf of the batch turns bad; the proof stays the honest one
    m = target.model_id
    bad_values = {"forged-score": (round_id, m, SCORED, 1_000_000_000, 0),
                  "wrong-round": (round_id + 1, m, target.status, target.corr_nanos, target.mmc_nanos),
                  "bad-status": (round_id, m, 3, 0, 0),
                  "out-of-range-score": (round_id, m, SCORED, 1_000_000_001, 0)}[attack]
    values = batch.leaf_values()[:-1] + [bad_values]
    error = {"forged-score": ("InvalidProof", round_id),
             "wrong-round": ("LeafRoundMismatch", round_id, round_id + 1, m),
             "bad-status": ("InvalidLeafStatus", m, 3),
             "out-of-range-score": ("InvalidScore", m, 1_000_000_001, 0)}[attack]
    wallets = [tournament.balanceOf(p) for p in (alice, bob, carol)]
    supply, accounted, pool = nmr.totalSupply(), tournament.accountedNmr(), tournament.rewardPool()
    with reverts_with(*error):
        tournament.settle(round_id, values, batch.proof_hex(), batch.proof_flags, {"from": outsider, "gas_limit": GAS})
    assert [tournament.balanceOf(p) for p in (alice, bob, carol)] == wallets
    assert (nmr.totalSupply(), tournament.accountedNmr(), tournament.rewardPool()) == (supply, accounted, pool)
    assert h.round(round_id)["closedCount"] == 0 and tournament.phase(round_id) == ACCEPTED
    # honest keepers, one leaf per batch, settle all of it
    txs = h.settle(round_id, tree, batch_size=1)
    assert sorted(tx.events["StakeSettled"]["modelId"] for tx in txs) == sorted(models)
    assert tournament.balanceOf(alice) == 10 * NMR_WEI + NMR_WEI // 2
    assert tournament.balanceOf(bob) == 20 * NMR_WEI - NMR_WEI // 5
    assert tournament.balanceOf(carol) == 30 * NMR_WEI
    assert tournament.phase(round_id) == SETTLED
    assert nmr.totalSupply() == supply - NMR_WEI // 5


def test_empty_batch_is_a_no_op(tournament, nmr, h, alice, outsider):
    """A griefer's empty batch (the root as its own proof) verifies but settles nothing."""
    round_id, models, tree, _ = _accepted(h, [(alice, 10 * NMR_WEI, 200, 0)], [(25_000_000, 0)])
    tx = tournament.settle(round_id, [], [tree.root_hex], [], {"from": outsider})
    assert len(tx.events) == 0 and h.round(round_id)["closedCount"] == 0
    (tx,) = h.settle(round_id, tree)
    assert tx.events["StakeSettled"]["payout"] == NMR_WEI // 2 and tournament.phase(round_id) == SETTLED


# ================================================================== 4. racing keepers

@pytest.mark.parametrize("overlap", ["partial", "full"])
def test_two_keepers_settling_overlapping_batches_in_one_block(tournament, nmr, h, alice, bob, carol, dave,
                                                               keeper, outsider, overlap, invariants):
    stakes = [(alice, 10 * NMR_WEI, 200, 0), (bob, 20 * NMR_WEI, 100, 0), (carol, 30 * NMR_WEI, 300, 0),
              (dave, 40 * NMR_WEI, 100, 0)]
    round_id, models, tree, proposed = _accepted(h, stakes, [(25_000_000, 0), (-10_000_000, 0), None,
                                                             (1_000_000, 0)])
    leaves = [tree.leaf_for(m) for m in models]
    first = tree.multiproof(leaves[:3] if overlap == "partial" else leaves)
    second = tree.multiproof(leaves[1:] if overlap == "partial" else leaves)
    supply = nmr.totalSupply()
    with _one_block():
        txs = [tournament.settle(round_id, b.leaf_values(), b.proof_hex(), b.proof_flags,
                                 {"from": sender, "gas_limit": GAS, "required_confs": 0})
               for b, sender in ((first, keeper), (second, outsider))]
    receipts = [_receipt(tx) for tx in txs]
    assert receipts[0]["blockNumber"] == receipts[1]["blockNumber"]
    assert [r["status"] for r in receipts] == [1, 1]  # the loser is a no-op, not a revert
    settled = [[e["modelId"] for e in _events(tournament, r, "StakeSettled")] for r in receipts]
    assert sorted(settled[0] + settled[1]) == sorted(models)  # exactly one StakeSettled per stake
    if overlap == "partial":
        assert sorted(settled[0]) == sorted(models[:3]) and settled[1] == [models[3]]
    else:
        assert sorted(settled[0]) == sorted(models) and settled[1] == []
        assert receipts[1]["logs"] == []  # round already Settled: returns early
    round_settled = _events(tournament, receipts[0], "RoundSettled") + _events(tournament, receipts[1],
                                                                               "RoundSettled")
    reserve = proposed.events["ResultsProposed"]["reserve"]
    rewards = NMR_WEI // 2 + 40 * NMR_WEI // 1000
    assert round_settled == [{"roundId": round_id, "rewards": rewards, "burned": NMR_WEI // 5,
                              "reserveReleased": reserve - rewards}]
    assert [tournament.balanceOf(p) for p in (alice, bob, carol, dave)] == [
        10 * NMR_WEI + NMR_WEI // 2, 20 * NMR_WEI - NMR_WEI // 5, 30 * NMR_WEI, 40 * NMR_WEI + 40 * NMR_WEI // 1000]
    assert nmr.totalSupply() == supply - NMR_WEI // 5
    invariants.check()


# ================================================================== 6. refund griefing

def test_refund_by_anyone_credits_only_the_owner_once(tournament, h, alice, bob, carol, outsider):
    round_id, models = h.staked_round([(alice, 10 * NMR_WEI, 200, 0), (bob, 3 * NMR_WEI, 100, 0)])
    tournament.deposit(NMR_WEI, {"from": carol})
    travel_to(h.round(round_id)["resolveTime"] + SEED_PRESET["resultsTimeout"])
    # a participant names alice's model twice in one call: one refund, to alice
    tx = tournament.refund(round_id, [models[0], models[0]], {"from": carol})
    assert [dict(e) for e in tx.events["StakeRefunded"]] == [
        {"roundId": round_id, "modelId": models[0], "owner": alice, "amount": 10 * NMR_WEI}]
    # an outsider repeats it: skipped, nothing emitted or credited
    tx = tournament.refund(round_id, [models[0]], {"from": outsider})
    assert len(tx.events) == 0
    assert tournament.balanceOf(alice) == 10 * NMR_WEI and tournament.balanceOf(carol) == NMR_WEI
    assert tournament.balanceOf(outsider) == 0 and tournament.balanceOf(bob) == 0
    assert h.round(round_id)["closedCount"] == 1


def test_refund_of_unknown_or_withdrawn_stake_reverts_whole(tournament, h, alice, bob, keeper):
    round_id, models = h.staked_round([(alice, 10 * NMR_WEI, 200, 0), (bob, 3 * NMR_WEI, 100, 0)])
    quitter = h.create_model(bob, "unstaked before close")
    h.deposit_and_stake(bob, round_id, quitter, NMR_WEI, 100, 0, "q")
    tournament.unstake(round_id, quitter, NMR_WEI, {"from": bob})
    other_round, (elsewhere,) = h.staked_round([(alice, NMR_WEI, 100, 0)])
    travel_to(max(h.round(r)["resolveTime"] for r in (round_id, other_round)) + SEED_PRESET["resultsTimeout"])
    for bad in (quitter, elsewhere, 10**9, 0):
        with reverts_with("NoStake", round_id, bad):
            tournament.refund(round_id, [models[0], bad, models[1]], {"from": keeper})
    assert not tournament.isStakeClosed(round_id, models[0]) and tournament.balanceOf(alice) == 0


def test_refund_not_available_one_second_before_each_timeout(tournament, h, alice, bob, keeper):
    """Exactly at resolveTime + resultsTimeout - 1 (round Resolvable) and at refundableAt - 1 (Accepted)
    a refund is refused; one second later it works."""
    round_id, models = h.staked_round([(alice, 10 * NMR_WEI, 200, 0)])
    deadline = h.round(round_id)["resolveTime"] + SEED_PRESET["resultsTimeout"]
    travel_to(deadline - 10)
    _set_next_timestamp(deadline - 1)
    with reverts_with("RefundNotAvailable", round_id, RESOLVABLE, 0):
        tournament.refund(round_id, models, {"from": keeper, "gas_limit": GAS})
    _set_next_timestamp(deadline)
    tx = tournament.refund(round_id, models, {"from": keeper, "gas_limit": GAS})
    assert tx.events["StakeRefunded"]["amount"] == 10 * NMR_WEI and tx.timestamp == deadline

    accepted, (m_bob,), tree, _ = _accepted(h, [(bob, 10 * NMR_WEI, 100, 0)], [(-5_000_000, 0)])
    refundable_at = tournament.refundableAt(accepted)
    travel_to(refundable_at - 10)
    _set_next_timestamp(refundable_at - 1)
    with reverts_with("RefundNotAvailable", accepted, ACCEPTED, refundable_at):
        tournament.refund(accepted, [m_bob], {"from": keeper, "gas_limit": GAS})
    _set_next_timestamp(refundable_at)
    tx = tournament.refund(accepted, [m_bob], {"from": keeper, "gas_limit": GAS})
    assert tx.events["StakeRefunded"]["amount"] == 10 * NMR_WEI  # no burn: the oracle's result expired


def test_refund_not_available_while_a_proposal_is_pending_past_the_deadline(tournament, h, alice, keeper):
    """Results proposed just before resolveTime + resultsTimeout keep the round out of Refunding
    while the challenge window runs past that deadline."""
    round_id, models = h.staked_round([(alice, 10 * NMR_WEI, 200, 0)])
    deadline = h.round(round_id)["resolveTime"] + SEED_PRESET["resultsTimeout"]
    travel_to(deadline - 100)
    tx, tree = h.propose(round_id, {models[0]: (5, 0)})
    travel_to(deadline + 10)
    refundable_at = tournament.refundableAt(round_id)
    with reverts_with("RefundNotAvailable", round_id, PROPOSED, refundable_at):
        tournament.refund(round_id, models, {"from": keeper})
    h.to_accepted(round_id)
    with reverts_with("RefundNotAvailable", round_id, ACCEPTED, refundable_at):
        tournament.refund(round_id, models, {"from": keeper})
    h.settle(round_id, tree)
    assert tournament.phase(round_id) == SETTLED


# ================================================================== 5. no wei created or lost

def _trunc_div(numerator: int, denominator: int) -> int:
    quotient = abs(numerator) // denominator
    return quotient if numerator >= 0 else -quotient


def _expected_payout(stake_wei, corr, mmc, a, b, pf_wei, clip_bps) -> int:
    """The protocol's payout, written out again here (independent of oracle/payout.py)."""
    adjusted = _trunc_div((corr * a + mmc * b) * pf_wei, 10**18)
    bound = clip_bps * 10**7
    adjusted = min(max(adjusted, -bound), bound)
    return _trunc_div(stake_wei * adjusted, 10**11)


MAX_STAKES = 3
MAX_STAKE_WEI = 10**6 * NMR_WEI


def _log_uniform(max_exponent: int):
    """1 .. 10**max_exponent with every order of magnitude equally likely (plain integers
    would put almost every draw near the top of the range)."""
    return st.integers(0, max_exponent).flatmap(lambda e: st.integers(max(1, 10**e // 10), 10**e))


SCORE = st.one_of(st.integers(-10**9, 10**9), st.sampled_from([-10**9, -1, 0, 1, 10**9]))
STAKE = st.tuples(_log_uniform(24), st.integers(0, 500), st.integers(0, 500),
                  st.one_of(st.none(), st.tuples(SCORE, SCORE)))
WHALE = (MAX_STAKE_WEI, 500, 500)


def test_settlement_neither_creates_nor_loses_a_wei(tournament, nmr, h, admin, treasury, participants):
    """Random stakes (1 wei .. 1e6 NMR), scores in [-1e9, 1e9] (or INVALID), multipliers 0..5x,
    clip 0..100 % and a stake threshold that puts pf anywhere in (0, 1e18]: the settled round
    credits exactly stakes + rewards - burns, pays at most its reserve, burns at most the clip
    of each stake, and the token supply falls by exactly the burns."""
    loose = dict(corrMultMin=0, corrMultMax=500, mmcMultMin=0, mmcMultMax=500, minStake=1)
    tournament.setConfig(config_tuple(**loose), {"from": admin})
    models = [h.create_model(treasury, f"whale{i}") for i in range(MAX_STAKES)]
    tournament.deposit(MAX_STAKES * MAX_STAKE_WEI, {"from": treasury})
    tournament.fundRewards(MAX_STAKES * MAX_STAKE_WEI, {"from": treasury})  # covers a 100 % clip
    checker = InvariantChecker(nmr, tournament, participants)
    examples_seen: list[int] = []
    chain.snapshot()

    @hp_settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(stakes=st.lists(STAKE, min_size=1, max_size=MAX_STAKES),
           clip_bps=st.one_of(st.integers(0, 10_000), st.sampled_from([0, 1, 10_000])),
           threshold_wei=_log_uniform(25))
    # the edges: every stake clipped to +100 % (rewards == reserve), to -100 % (all burned),
    # pf at its smallest, single-wei stakes, and a 1 bps clip on an odd stake
    @example(stakes=[WHALE + ((10**9, 10**9),)] * 3, clip_bps=10_000, threshold_wei=3 * MAX_STAKE_WEI)
    @example(stakes=[WHALE + ((-10**9, -10**9),)] * 3, clip_bps=10_000, threshold_wei=1)
    @example(stakes=[WHALE + ((10**9, -1),), WHALE + ((-1, 10**9),)], clip_bps=9_999, threshold_wei=1)
    @example(stakes=[(1, 500, 500, (10**9, 10**9)), (1, 500, 0, (-10**9, 0)), (1, 1, 1, (1, 1))],
             clip_bps=10_000, threshold_wei=1)
    @example(stakes=[(MAX_STAKE_WEI - 1, 1, 0, (-1, 0)), (10**18 + 7, 3, 0, (333_333_333, 0))], clip_bps=1,
             threshold_wei=10**18)
    def run(stakes, clip_bps, threshold_wei):
        chain.revert()
        tournament.setConfig(config_tuple(**loose, clipBps=clip_bps, stakeThreshold=threshold_wei), {"from": admin})
        round_id = h.open_round()
        for model, (amount, a, b, _) in zip(models, stakes):
            tournament.stake(round_id, model, amount, a, b, submission_hash(str(model)), {"from": treasury})
        staked = {m: s for m, s in zip(models, stakes)}
        total_wei = sum(s[0] for s in stakes)
        h.to_resolve(round_id)
        pool_before = tournament.rewardPool()
        proposed, tree = h.propose(round_id, {m: s[3] for m, s in staked.items()})
        reserve = proposed.events["ResultsProposed"]["reserve"]
        # v2: pf and the reserve come from the SCORED stakes only (INVALID ones carry no risk)
        scored_wei = sum(st[0] for st in stakes if st[3] is not None)
        assert proposed.events["ResultsProposed"]["scoredAtRisk"] == scored_wei
        pf_wei = 10**18 if scored_wei <= threshold_wei else threshold_wei * 10**18 // scored_wei
        assert reserve == scored_wei * clip_bps // 10_000
        assert proposed.events["ResultsProposed"]["payoutFactor"] == pf_wei
        h.to_accepted(round_id)
        wallet, supply, accounted = tournament.balanceOf(treasury), nmr.totalSupply(), tournament.accountedNmr()

        (tx,) = h.settle(round_id, tree)
        rewards = burns = credits = 0
        events = {e["modelId"]: e for e in tx.events["StakeSettled"]}
        assert sorted(events) == sorted(staked)
        for model, (amount, a, b, score) in staked.items():
            expected = 0 if score is None else _expected_payout(amount, score[0], score[1], a, b, pf_wei, clip_bps)
            event = events[model]
            assert (event["stake"], event["payout"], event["burned"]) == (amount, expected, max(-expected, 0))
            assert max(-expected, 0) <= amount * clip_bps // 10_000
            credits += amount + expected
            rewards += max(expected, 0)
            burns += max(-expected, 0)
        assert tournament.balanceOf(treasury) - wallet == credits == total_wei + rewards - burns
        assert rewards <= reserve
        assert tx.events["RoundSettled"] == {"roundId": round_id, "rewards": rewards, "burned": burns,
                                             "reserveReleased": reserve - rewards}
        assert tournament.rewardPool() == pool_before - rewards
        assert accounted - tournament.accountedNmr() == burns
        assert nmr.balanceOf(tournament) == tournament.accountedNmr()
        assert supply - nmr.totalSupply() == burns
        if examples_seen.append(1) or len(examples_seen) % 4 == 1:  # a full replay every 4th example
            checker.check()

    run()
