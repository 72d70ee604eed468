"""This checkout built as a wheel and installed, as a user's ``pip install pyresque`` would,
into a fresh venv (its dependencies borrowed from the running one)."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Installed:
    """The venv the wheel went into."""

    wheel: Path
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def site(self) -> Path:
        found = subprocess.run(
            [self.python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        return Path(found).resolve()

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name

    def extras(self) -> set[str]:
        """The wheel's ``Provides-Extra`` names."""
        with zipfile.ZipFile(self.wheel) as wheel:
            (metadata,) = (n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
            text = wheel.read(metadata).decode()
        return {
            line.split(":", 1)[1].strip()
            for line in text.splitlines()
            if line.startswith("Provides-Extra:")
        }


def install_wheel(folder: Path) -> Installed:
    """Build the wheel into ``folder`` and install it (without its dependencies) into
    ``folder/venv``, which reads this venv's site-packages after its own, so the
    dependencies come from here while ``pyresque`` is the wheel's (this checkout's
    editable install is a ``.pth`` file there, and ``.pth`` files of a borrowed folder are
    not read). Skips when the wheel cannot be built offline."""
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", folder],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if built.returncode != 0 and "No matching distribution found for hatchling" in built.stderr:
        pytest.skip("building the wheel needs hatchling from PyPI (offline?)")
    assert built.returncode == 0, built.stderr
    (wheel,) = folder.glob("pyresque-*.whl")
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    installed = Installed(wheel, venv)
    pip = [sys.executable, "-m", "pip", "--python", str(installed.python)]
    done = subprocess.run(
        [*pip, "install", "--no-deps", "-q", wheel],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (installed.site / "borrowed.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return installed
