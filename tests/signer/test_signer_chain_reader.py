"""The co-signer's chain adapter against anvil: domain, signer set, a round read at a confirmed block."""
from __future__ import annotations

import pytest

from tournament.protocol.signing import SigningError
from tournament.signer.chain import Web3RoundReader


def test_reader_reads_domain_signer_set_and_an_unopened_round(deployed):
    reader = Web3RoundReader(deployed.w3, deployed.deployment, confirmations=1)
    version = deployed.tournament.functions.eip712Domain().call()[2]
    if version == "2":
        domain = reader.domain()
        assert domain.chain_id == deployed.w3.eth.chain_id
        assert int(domain.verifying_contract, 16) == int(deployed.deployment.tournament, 16)
    else:  # a protocol v1 contract (before branch v2-contracts is merged): signing for it is refused
        with pytest.raises(SigningError, match=f"has EIP-712 version '{version}', expected '2'"):
            reader.domain()
    state = reader.read_round(4242)
    assert state.phase == "None" and state.stakes == () and state.staked_count == 0
    assert state.block_number == max(0, deployed.w3.eth.block_number - 1)
    assert {int(a, 16) for a in state.signers} == {int(k.address, 16) for k in deployed.signer_keys}
    assert state.threshold == 2 and state.signer_set_version >= 1
    assert reader.receipt_signers([deployed.admin.address], state.block_number) <= {deployed.admin.address}
