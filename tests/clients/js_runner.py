"""Run the JavaScript client scripts of ``tests/clients/js`` with node: install once, run one, parse its line.

The scripts need their npm packages (``package.json`` + ``package-lock.json`` here). When
``js/node_modules`` exists (a developer ran ``npm ci`` there) the scripts run in place; otherwise
``npm ci`` installs once into a cache folder (``LMSTREAM_JS_CACHE``, default
``~/.cache/lmstream/js-clients/<lock hash>``) and the scripts are copied next to it. No node, no
npm, or an install that fails (offline) skips the tests with the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

JS = Path(__file__).parent / "js"
INSTALL_TIMEOUT_S = 900
RUN_TIMEOUT_S = 900


def _cache_dir() -> Path:
    lock = hashlib.sha256((JS / "package-lock.json").read_bytes()).hexdigest()[:16]
    root = os.environ.get("LMSTREAM_JS_CACHE") or str(Path.home() / ".cache" / "lmstream" / "js-clients")
    return Path(root) / lock


def prepared_dir() -> Path:
    """A folder holding the scripts and their installed packages; skips the test when that cannot be."""
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node and npm are not installed: the JavaScript clients cannot run")
    if (JS / "node_modules").is_dir():
        return JS
    cache = _cache_dir()
    if not (cache / "node_modules").is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(JS / name, cache / name)
        try:
            done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=cache,
                                  capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            shutil.rmtree(cache / "node_modules", ignore_errors=True)
            pytest.skip(f"npm ci did not finish within {INSTALL_TIMEOUT_S}s (offline?)")
        if done.returncode != 0:
            shutil.rmtree(cache / "node_modules", ignore_errors=True)
            pytest.skip(f"npm ci failed (offline?): {done.stderr.strip()[-600:]}")
    for script in JS.glob("*.mjs"):
        shutil.copy2(script, cache / script.name)
    return cache


def run_script(folder: Path, script: str, base: str, *args: str, max_tokens: int = 400) -> dict[str, Any]:
    """``node SCRIPT BASE ARGS``: its ``results`` object; the test fails with the script's stderr otherwise."""
    env = {**os.environ, "LMSTREAM_BASE_URL": base, "LMSTREAM_MAX_TOKENS": str(max_tokens),
           "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    env.pop("LMSTREAM_STEPS", None)
    try:
        done = subprocess.run(["node", script, base, *args], cwd=folder, env=env, capture_output=True,
                              text=True, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{script} {' '.join(args)} did not finish within {RUN_TIMEOUT_S}s: {exc.stderr!r}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        pytest.fail(f"{script} {' '.join(args)} exited {done.returncode}:\n{done.stderr[-4000:]}\n{done.stdout[-2000:]}")
    report = json.loads(lines[-1])
    assert report["ok"] is True, report
    results: dict[str, Any] = report["results"]
    return results
