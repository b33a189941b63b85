"""The embedded local chain: an anvil process for the demo, the tests and the benchmarks.

Starts node_modules' anvil on a free loopback port with the block gas limit asked for (a
realistic 36M by default), can dump its state on exit and reload it, and moves chain time
(`evm_increaseTime` + `evm_mine`) so weekly rounds run in seconds. `HardhatNode` starts
Hardhat's node (hardhat.config.js: chain id 31337, 36M gas, anvil's mnemonic) as a second
client, optionally on an older hardfork. Real networks never use this module.
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional

from web3 import Web3
from web3.types import RPCEndpoint

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REALISTIC_BLOCK_GAS = 36_000_000


def anvil_binary() -> str:
    local = PROJECT_ROOT / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return str(local)
    found = shutil.which("anvil")
    if not found:
        raise RuntimeError("anvil not found; run `make setup` (npm ci installs it)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _NodeProcess:
    """A local JSON-RPC node as a child process on a loopback port; a context manager.

    Subclasses give the command line (`_command`), its environment and working folder; start()
    waits until the node answers, stop() ends it with SIGTERM (anvil writes --dump-state then).
    """

    name = "node"
    poll_s = 0.1

    def __init__(self, port: Optional[int], log_path: Optional[Path]):
        self.port = port or free_port()
        self.log_path = log_path
        self.process: Optional[subprocess.Popen] = None

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _popen_options(self) -> dict:
        return {}

    def _start(self, timeout_s: float) -> None:
        command = self._command()
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, **self._popen_options())
        w3 = Web3(Web3.HTTPProvider(self.rpc_url, request_kwargs={"timeout": 5}))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start (code {self.process.returncode}); "
                                   f"is port {self.port} free?")
            try:
                _ = w3.eth.chain_id  # any answer means the node is serving RPC
                log.info("%s ready on %s", self.name, self.rpc_url)
                return
            except Exception:
                time.sleep(self.poll_s)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer on {self.rpc_url} within {timeout_s}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            # SIGTERM lets anvil write --dump-state before exiting.
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Anvil(_NodeProcess):
    """An anvil child process; use as a context manager or call start()/stop()."""

    name = "anvil"

    def __init__(self, *, port: Optional[int] = None, gas_limit: int = REALISTIC_BLOCK_GAS,
                 accounts: int = 10, state_path: Optional[Path] = None, load_state: bool = False,
                 log_path: Optional[Path] = None, genesis_timestamp: Optional[int] = None):
        super().__init__(port, log_path)
        self.gas_limit = gas_limit
        self.accounts = accounts
        self.state_path = Path(state_path) if state_path else None
        self.load_state = load_state
        self.genesis_timestamp = genesis_timestamp

    def _command(self) -> list[str]:
        args = [anvil_binary(), "--host", "127.0.0.1", "--port", str(self.port),
                "--gas-limit", str(self.gas_limit), "--block-base-fee-per-gas", "0",
                "--accounts", str(self.accounts), "--silent"]
        if self.genesis_timestamp is not None and not self.load_state:
            args += ["--timestamp", str(self.genesis_timestamp)]
        if self.state_path is not None:
            if self.load_state and self.state_path.exists():
                args += ["--load-state", str(self.state_path)]
            args += ["--dump-state", str(self.state_path), "--preserve-historical-states"]
        return args

    def start(self, timeout_s: float = 20.0) -> Anvil:
        self._start(timeout_s)
        return self

    def __enter__(self) -> Anvil:
        return self.start()


class HardhatNode(_NodeProcess):
    """`hardhat node` (npm hardhat 2.x, node_modules) as a child process; like `Anvil`.

    `hardfork` sets HARDHAT_HARDFORK for hardhat.config.js ("cancun" by default; "shanghai"
    gives a chain the deploy must refuse). Started from the project root, where the config is.
    """

    name = "hardhat node"
    poll_s = 0.2

    def __init__(self, *, port: Optional[int] = None, hardfork: str = "cancun", log_path: Optional[Path] = None):
        super().__init__(port, log_path)
        self.hardfork = hardfork

    def _command(self) -> list[str]:
        binary = PROJECT_ROOT / "node_modules" / ".bin" / "hardhat"
        if not binary.exists():
            raise RuntimeError("hardhat not found in node_modules; run `npm ci` (package.json pins hardhat 2.x)")
        return [str(binary), "node", "--hostname", "127.0.0.1", "--port", str(self.port)]

    def _popen_options(self) -> dict:
        env = dict(os.environ, HARDHAT_HARDFORK=self.hardfork, HARDHAT_DISABLE_TELEMETRY_PROMPT="true")
        return {"cwd": PROJECT_ROOT, "env": env}

    def start(self, timeout_s: float = 60.0) -> HardhatNode:
        self._start(timeout_s)
        return self

    def __enter__(self) -> HardhatNode:
        return self.start()


def increase_time(w3: Web3, seconds: int) -> int:
    """Moves chain time forward and mines a block; returns the new block timestamp."""
    w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [int(seconds)])
    w3.provider.make_request(RPCEndpoint("evm_mine"), [])
    return w3.eth.get_block("latest")["timestamp"]


def set_next_timestamp(w3: Web3, timestamp: int) -> None:
    w3.provider.make_request(RPCEndpoint("evm_setNextBlockTimestamp"), [int(timestamp)])
    w3.provider.make_request(RPCEndpoint("evm_mine"), [])


def fund_eth(w3: Web3, address: str, wei: int = 10**21) -> None:
    """Gives an address ether for gas (anvil, or Hardhat's node)."""
    answer = w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [address, hex(wei)])
    if isinstance(answer, dict) and answer.get("error"):
        w3.provider.make_request(RPCEndpoint("hardhat_setBalance"), [address, hex(wei)])


def set_automine(w3: Web3, enabled: bool) -> None:
    w3.provider.make_request(RPCEndpoint("evm_setAutomine"), [enabled])


def chain_now(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])
