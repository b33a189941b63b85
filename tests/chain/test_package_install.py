"""`pip install` of the package outside a checkout runs the CLI and loads the shipped ABIs.

Builds a wheel from a copy of pyproject.toml + tournament/ (so the checkout gets no build
droppings), installs it with --no-deps into a fresh venv in a temp folder whose only other
path is the project's dependency site-packages (no editable install, no PYTHONPATH), and runs
`tournament audit --help` and an ABI load from a folder outside the checkout.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

from tournament.chain.artifacts import PROJECT_ROOT


def run(args: list, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_wheel_installed_outside_the_checkout_runs_the_cli_and_loads_abis(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", source)
    shutil.copytree(PROJECT_ROOT / "tournament", source / "tournament",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TOURNAMENT_BUILD_DIR")}
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                 tmp_path / "dist", source], tmp_path, env)
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("*.whl"))

    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    tmp_path, env).stdout.strip())
    # The dependencies (web3, pandas ...) from the project's environment, but not its editable install.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel],
                    tmp_path, env)
    if installed.returncode != 0 and "--python" in installed.stderr:  # pip < 22.3 has no --python
        installed = run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site, wheel],
                        tmp_path, env)
    assert installed.returncode == 0, installed.stderr

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    where = run([python, "-c", "import tournament, sys; print(tournament.__file__)"], outside, env)
    assert where.returncode == 0 and str(site) in where.stdout, where.stdout + where.stderr
    cli = run([target / "bin" / "tournament", "audit", "--help"], outside, env)
    assert cli.returncode == 0 and "round" in cli.stdout.lower(), cli.stdout + cli.stderr
    abis = run([python, "-c", "from tournament.chain.artifacts import load_artifact as l; "
                "print(len(l('Tournament')['abi']), len(l('NMR')['bytecode']) > 2)"], outside, env)
    assert abis.returncode == 0, abis.stderr
    count, has_bytecode = abis.stdout.split()
    assert int(count) > 50 and has_bytecode == "True"
