"""Every `tournament` command, given broken input, answers with one `Error:` line and no traceback.

The commands are found by walking the CLI itself (every group, every sub-command), so a new
command is covered the day it is added. Each gets: an unknown option (a usage error, exit 2);
where it talks to a chain, an unreachable RPC, then a live chain with no deployment; where it
reads a file, a file that is not what it expects. Required parameters are filled with plausible
values so that the broken part is the one reached. The RPC retry policy is shortened for the
test (the same code path; a user waits about 7.5 s for an outage to be ridden out).
"""
from __future__ import annotations

import socket
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tournament.chain import rpc as rpc_module
from tournament.cli.main import main

# Long-running servers and the demo: with broken input they must still fail fast, but a fully
# valid configuration would start serving; they are covered by the RPC and usage checks only.
ADDRESS = "0x" + "11" * 20
# A throwaway key in every role's key variable, so commands get past key loading to the chain.
KEYS_ENV = {name: "0x" + "22" * 32 for name in
            ("GUARDIAN_KEY", "KEEPER_KEY", "ADMIN_KEY", "OPERATOR_KEY", "TOURNAMENT_PRIVATE_KEY")}


def _commands() -> list[tuple[tuple[str, ...], click.Command]]:
    found: list[tuple[tuple[str, ...], click.Command]] = []
    ctx = click.Context(main)

    def walk(group: click.Group, path: tuple[str, ...]) -> None:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if command is None:
                continue
            if isinstance(command, click.Group):
                walk(command, (*path, name))
            else:
                found.append(((*path, name), command))
    walk(main, ())
    return found


COMMANDS = _commands()
IDS = [" ".join(path) for path, _ in COMMANDS]


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _value(param: click.Parameter, files: dict[str, Path]) -> list[str]:
    """A plausible value for a required parameter (the broken part must be another one)."""
    kind = param.type
    name = (param.name or "").lower()
    if isinstance(kind, click.Choice):
        text = str(kind.choices[0])
    elif isinstance(kind, (click.IntRange, click.types.IntParamType)):
        text = "1"
    elif isinstance(kind, (click.FloatRange, click.types.FloatParamType)):
        text = "1.0"
    elif isinstance(kind, click.Path):
        text = str(files["dir"] if kind.dir_okay and not kind.file_okay else files["csv"])
    elif "address" in name or name in ("to", "token", "spender", "owner"):
        text = ADDRESS
    elif name in ("role",):
        text = "operator"
    elif "reason" in name:
        text = "a reason"
    else:
        text = "1"
    return [text] if isinstance(param, click.Argument) else [param.opts[0], text]


def _required_args(command: click.Command, files: dict[str, Path], skip: set[str]) -> list[str]:
    args: list[str] = []
    for param in command.params:
        if not param.required or param.name in skip:
            continue
        values = _value(param, files)
        nargs = getattr(param, "nargs", 1)
        if isinstance(param, click.Argument) and nargs == -1:
            values = values * 1
        args += values
    return args


def _assert_one_error_line(result, what: str) -> None:
    output = result.output
    assert "Traceback" not in output, f"{what}: traceback\n{output}"
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"{what}: {type(result.exception).__name__} escaped: {result.exception}"
    assert result.exit_code != 0, f"{what}: exit 0 for broken input\n{output}"
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, f"{what}: expected one 'Error:' line, got\n{output}"
    assert "unexpected" not in errors[0], f"{what}: an unexpected error reached the user: {errors[0]}"


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    csv = tmp_path / "broken.csv"
    csv.write_text("this is not,a predictions file\n\x00\x01\n")
    folder = tmp_path / "folder"
    folder.mkdir()
    return {"csv": csv, "dir": folder}


@pytest.fixture
def fast_rpc_faults(monkeypatch):
    monkeypatch.setattr(rpc_module, "RETRIES", 1)
    monkeypatch.setattr(rpc_module, "BACKOFF_S", 0.01)


def test_the_walk_finds_every_group():
    groups = {path[0] for path, _ in COMMANDS}
    assert {"participant", "operator", "admin", "guardian", "keeper", "signer", "targets", "audit",
            "serve", "dev", "data"} <= groups, groups
    assert len(COMMANDS) >= 40


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=IDS)
def test_unknown_option_is_a_usage_error_not_a_traceback(path):
    result = CliRunner().invoke(main, [*path, "--no-such-option"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert [line for line in result.output.splitlines() if line.startswith("Error:")] == \
        ["Error: No such option '--no-such-option'."], result.output


# `participant new-key` takes the group's connection options but never connects (it asks for a
# password); every other command with --rpc talks to the chain.
RPC_COMMANDS = [(p, c) for p, c in COMMANDS if any(o.name in ("rpc", "rpc_url") for o in c.params)
                and p != ("participant", "new-key")]


@pytest.mark.parametrize("path,command", RPC_COMMANDS, ids=[" ".join(p) for p, _ in RPC_COMMANDS])
def test_unreachable_rpc_is_one_line(path, command, files, fast_rpc_faults, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rpc_param = next(o for o in command.params if o.name in ("rpc", "rpc_url"))
    args = [*path, *_required_args(command, files, {rpc_param.name}), rpc_param.opts[0], _closed_port_url()]
    if any(o.name == "once" for o in command.params):
        args.append("--once")
    result = CliRunner().invoke(main, args, env=KEYS_ENV)
    _assert_one_error_line(result, " ".join(args))


DEPLOYMENT_COMMANDS = [(p, c) for p, c in RPC_COMMANDS if any(o.name in ("deployments", "deployments_dir")
                                                               for o in c.params)]


@pytest.mark.parametrize("path,command", DEPLOYMENT_COMMANDS, ids=[" ".join(p) for p, _ in DEPLOYMENT_COMMANDS])
def test_a_chain_without_the_deployment_is_one_line(path, command, files, anvil_chain, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rpc_param = next(o for o in command.params if o.name in ("rpc", "rpc_url"))
    dep_param = next(o for o in command.params if o.name in ("deployments", "deployments_dir"))
    empty = tmp_path / "no-deployments"
    empty.mkdir()
    args = [*path, *_required_args(command, files, {rpc_param.name, dep_param.name}),
            rpc_param.opts[0], anvil_chain.rpc_url, dep_param.opts[0], str(empty)]
    if any(o.name == "once" for o in command.params):
        args.append("--once")
    result = CliRunner().invoke(main, args, env=KEYS_ENV)
    _assert_one_error_line(result, " ".join(args))


def test_a_broken_predictions_file_is_one_line(files, tmp_path):
    live = tmp_path / "live_ids.csv"
    live.write_text("id\na\nb\n")
    result = CliRunner().invoke(main, ["validate", str(files["csv"]), "--live-ids", str(live)])
    assert "Traceback" not in result.output and result.exit_code != 0
    assert result.output.strip().count("\n") == 0, result.output
