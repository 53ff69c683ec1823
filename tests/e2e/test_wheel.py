"""The built wheel works on its own: installed into a fresh virtual environment outside
the checkout, `warroom serve` answers /healthz, renders its pages (templates and static
files are package data), runs its Lua and counts an event.

Slow (a venv and every dependency from the package index or pip's cache), so .ci/run
runs it as its own step and the suite passes set WARROOM_SKIP_WHEEL=1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.e2e.served import Served, order, serve_env
from tests.e2e.test_serve import processes_mentioning

REPO = Path(__file__).resolve().parents[2]
DATA_TREES = ("warroom", "templates", "static")

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("WARROOM_SKIP_WHEEL") == "1", reason="run by its own .ci/run step"
    ),
    pytest.mark.timeout(1200),
]


def _source_files() -> set[str]:
    """Every file the package must ship, as its path inside the wheel."""
    mapped = {"warroom": "warroom", "templates": "warroom/templates", "static": "warroom/static"}
    found = set()
    for tree in DATA_TREES:
        for path in (REPO / tree).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                found.add(f"{mapped[tree]}/{path.relative_to(REPO / tree).as_posix()}")
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Build from a copy: an in-tree build would leave build/ and *.egg-info behind.
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", *DATA_TREES):
        item = REPO / name
        if item.is_dir():
            shutil.copytree(item, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(item, src / name)
    dist = tmp_path_factory.mktemp("dist")
    # Verbose, so that the build backend's warnings are seen (pip -q hides them).
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", str(dist), str(src)],
        check=True,
        timeout=600,
        capture_output=True,
        text=True,
    )
    (built,) = dist.glob("warroom-*.whl")
    (dist / "build.log").write_text(build.stdout + build.stderr)
    return built


def test_the_build_warns_of_nothing(wheel: Path) -> None:
    """setuptools said, once per data folder, that a folder of package data "is absent
    from the `packages` configuration" (about 290 lines on every install): data is not
    a package, so the build must not look for packages among it."""
    log = (wheel.parent / "build.log").read_text()
    warnings = [line for line in log.splitlines() if "Warning" in line or "absent from" in line]
    assert warnings == [], "\n".join(warnings[:20])


def test_wheel_ships_every_package_file(wheel: Path) -> None:
    """Lua, templates, static files, vendored assets, and every subpackage (a new one
    must be listed under [tool.setuptools] packages in pyproject.toml)."""
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(_source_files() - names)
    assert not missing, f"not in the wheel: {missing}"


def test_installed_wheel_serves_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", str(wheel)], check=True, timeout=900, env=env
    )
    where = subprocess.run(
        [str(py), "-c", "import warroom; print(warroom.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(venv), where  # the installed copy, not the checkout

    data = tmp_path / "data"
    served = Served([str(venv / "bin" / "warroom"), "serve"], serve_env(data), cwd=tmp_path)
    try:
        served.wait_healthy()
        c = served.create_campaign()
        res = httpx.post(
            served.base + "/api/v1/campaigns/s1/events",
            json=order(1),
            headers={"Authorization": f"Bearer {c['ingest_token']}"},
        )
        assert res.status_code == 202, res.text
        served.wait_gmv("s1", c["viewer_token"], 1990)  # the Lua ran in the worker
        page = httpx.get(f"{served.base}/c/s1", params={"token": c["viewer_token"]})
        assert page.status_code == 200 and "/static/js/screen.js" in page.text
        for asset in ("/static/js/screen.js", "/static/vendor/swagger-ui/swagger-ui.css"):
            assert httpx.get(served.base + asset).status_code == 200, asset
        assert httpx.get(served.base + "/api/docs").status_code == 200
        # The default report texts (templates/reports/*.j2) are read from the package.
        tmpl = httpx.get(f"{served.base}/api/v1/campaigns/s1/templates", headers=served.admin())
        assert tmpl.status_code == 200, tmpl.text
        assert "{{" in str(tmpl.json())
    finally:
        code = served.stop()
    assert code == 0, served.output()[-3000:]
    assert processes_mentioning(str(data.resolve())) == []
