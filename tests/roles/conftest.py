"""Fixtures of the role-command tests: the `deployed` anvil world (tests/conftest.py), three
participants with models, a snapshot per test (every test starts from the same chain), and
`cli`, which runs `tournament ...` in-process with one role's key in the environment."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from tests.roles.rounds import make_owners
from tournament.cli.main import main


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def key_hex(account) -> str:
    return "0x" + bytes(account.key).hex()


@pytest.fixture(scope="module")
def owners(deployed):
    return make_owners(deployed, 3)


@pytest.fixture(autouse=True)
def chain_snapshot(deployed, owners):
    """Reverts the chain after each test, so time moved and state changed by one test stay there."""
    from tournament.chain import reader

    snapshot = deployed.w3.provider.make_request("evm_snapshot", [])["result"]
    yield
    assert deployed.w3.provider.make_request("evm_revert", [snapshot])["result"] is True
    # The reader remembers RoundOpened blocks process-wide (they never change on a real chain);
    # a reverted chain re-opens the same round ids at other blocks.
    reader._OPENED_BLOCKS.clear()


@pytest.fixture
def cli(deployed):
    """cli(*args, key=account or None, env={...}) -> CliResult; the key goes into ADMIN_KEY,
    GUARDIAN_KEY and KEEPER_KEY (each command reads its own role's variable)."""

    def run(*args: str, key=None, env: dict | None = None, rpc: str | None = None) -> CliResult:
        environment = {"TOURNAMENT_RPC": rpc or deployed.rpc_url, "TOURNAMENT_DEPLOYMENTS": deployed.deployments_dir,
                       "ADMIN_KEY": "", "GUARDIAN_KEY": "", "KEEPER_KEY": ""}
        if key is not None:
            for name in ("ADMIN_KEY", "GUARDIAN_KEY", "KEEPER_KEY"):
                environment[name] = key_hex(key)
        environment.update(env or {})
        result = CliRunner().invoke(main, list(args), env=environment, catch_exceptions=True)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run


def assert_one_line_error(result: CliResult, *fragments: str, exit_code: int = 1) -> str:
    """Exit code, a single `Error: ...` line on stderr holding every fragment, and no traceback."""
    assert result.exit_code == exit_code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.error_lines
    if exit_code == 2:  # click's usage errors add the usage line and a --help hint before the error
        lines = [line for line in lines if line.startswith("Error:")]
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: "), lines
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]
