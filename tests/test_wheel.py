"""The wheel `python -m build` makes holds the built dashboard, and installed into a fresh venv
(no Node, no source tree) it gives a working `herald run`: /healthz answers and / serves the
dashboard's index.

The fresh venv gets Herald from the wheel alone (`--no-deps --no-index`); its dependencies come
from this test's own venv, whose site-packages a `.pth` line appends to the new venv's path
(after its own, and without running that venv's `.pth` files, so the editable install of the
source tree stays out). No network is needed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.processes import default_sigint, free_port

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "herald" / "static" / "index.html"

pytestmark = pytest.mark.slow


def _run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_wheel_holds_the_dashboard_and_runs_from_a_fresh_venv(tmp_path: Path) -> None:
    if not DASHBOARD.exists():
        pytest.skip("the dashboard is not built (make dashboard; make test builds it)")
    # A copy of the tree without build leftovers, so the build never writes into the source.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".venv",
            ".git",
            "node_modules",
            "__pycache__",
            "*.egg-info",
            "dist",
            "build",
            ".herald",
            ".pytest_cache",
            ".mypy_cache",
            ".ruff_cache",
            "test-artifacts",
        ),
    )
    dist = tmp_path / "dist"
    _run(
        sys.executable,
        "-m",
        "build",
        "--wheel",
        "--no-isolation",
        "--outdir",
        dist,
        ".",
        cwd=source,
    )
    (wheel,) = dist.glob("herald-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "herald/static/index.html" in names
    assert any(n.startswith("herald/static/assets/") and n.endswith(".js") for n in names)
    assert any(n.startswith("herald/migrations/versions/") for n in names)

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "--no-index",
        "--quiet",
        wheel,
        cwd=tmp_path,
    )
    fresh_site = Path(
        _run(
            python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path
        ).strip()
    )
    (fresh_site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = _run(python, "-c", "import herald; print(herald.__file__)", cwd=tmp_path)
    assert where.startswith(str(fresh_site)), where

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(HERALD_DATA_DIR=str(data_dir), HERALD_LOG_LEVEL="warning", PYTHONUNBUFFERED="1")
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    port = free_port()
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(venv / "bin" / "herald"), "run", "--host", "127.0.0.1", "--port", str(port)],
            cwd=data_dir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=default_sigint,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        index = httpx.get(base + "/", timeout=10)
        assert index.status_code == 200
        assert '<div id="root">' in index.text or "<script" in index.text
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, log.read_text()
