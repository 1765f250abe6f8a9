"""Check the built distributions: a wheel and an sdist per package, and light installs.

Usage: python .ci/check_dists.py DIST_DIR

- naq-protocol's wheel installed alone into a fresh venv installs no other distribution, and
  ``import naq.protocol`` works there;
- naq-client's wheel (with its dependencies from the index, naq-protocol from DIST_DIR) does not
  install Textual.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGES = ("naq_protocol", "naq_client", "naq_worker", "naq_scheduler", "naq_tui")
VENV_TOOLS = {"pip", "setuptools", "wheel"}


def run(*command: str) -> str:
    """Run ``command``; its stdout, or exit with its output on failure."""
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def fresh_venv(root: Path, name: str) -> Path:
    """A new virtual environment; returns its python."""
    run(sys.executable, "-m", "venv", str(root / name))
    return root / name / "bin" / "python"


def installed(python: Path) -> set[str]:
    """Names of the distributions installed in the venv of ``python``."""
    listing = json.loads(run(str(python), "-m", "pip", "list", "--format=json"))
    return {item["name"].lower().replace("_", "-") for item in listing} - VENV_TOOLS


def main(dist: Path) -> None:
    """Run every check on the artifacts in ``dist``."""
    for package in PACKAGES:
        wheels = list(dist.glob(f"{package}-*.whl"))
        sdists = list(dist.glob(f"{package}-*.tar.gz"))
        if len(wheels) != 1 or len(sdists) != 1:
            sys.exit(f"{package}: expected one wheel and one sdist in {dist}, found {wheels + sdists}")
        print(f"ok: {wheels[0].name}, {sdists[0].name}")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        python = fresh_venv(root, "protocol")
        [protocol_wheel] = dist.glob("naq_protocol-*.whl")
        run(str(python), "-m", "pip", "install", "--quiet", str(protocol_wheel))
        if installed(python) != {"naq-protocol"}:
            sys.exit(f"naq-protocol installed more than itself: {sorted(installed(python))}")
        run(str(python), "-c", "import naq.protocol, naq.protocol.resources; print(naq.protocol.__version__)")
        print("ok: naq-protocol installs alone and imports")

        python = fresh_venv(root, "client")
        [client_wheel] = dist.glob("naq_client-*.whl")
        run(str(python), "-m", "pip", "install", "--quiet", "--find-links", str(dist), str(client_wheel))
        found = installed(python)
        if "textual" in found or "naq-tui" in found:
            sys.exit(f"naq-client pulled in the monitor's stack: {sorted(found)}")
        run(str(python), "-c", "import naq.client")
        print(f"ok: naq-client installs without textual ({len(found)} distributions)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
