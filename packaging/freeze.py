"""Build VAE Studio's one-folder frozen app with PyInstaller, then check it and measure it.

    python packaging/freeze.py            # build dist/vaestudio/, check it, print its size
    python packaging/freeze.py --check    # only check and measure an existing dist/vaestudio/

Needs PyInstaller (`pip install -e '.[freeze]'`). The checks run the frozen executable as a
person would: `--version`, a headless `sheet` from the bundled model, and `--startup-check`
(the window, offscreen, until the bundled model's latent map is drawn). The size is split
into what the CUDA libraries take (nvidia/*, triton, torch's CUDA libraries) and the rest,
which is about what a build from a CPU-only torch weighs.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
APP_FOLDER = DIST / "vaestudio"
EXECUTABLE = APP_FOLDER / ("vaestudio.exe" if sys.platform == "win32" else "vaestudio")
# Files a CPU-only torch does not have: the NVIDIA wheels, triton (GPU kernels) and torch's CUDA libraries.
CUDA_FILE = re.compile(r"(^|[/\\])(nvidia|triton)[/\\]|cuda|cudnn|cublas|cusparse|cufft|curand|cusolver|nvrtc"
                       r"|nvjitlink|cupti|nccl|nvshmem|cufile|nvtx|cudart", re.IGNORECASE)


def build() -> float:
    """Run PyInstaller on packaging/vaestudio.spec; returns the seconds it took."""
    started = time.perf_counter()
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's vaestudio, whatever is installed
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
                    "--distpath", str(DIST), "--workpath", str(ROOT / "build" / "pyinstaller"),
                    str(ROOT / "packaging" / "vaestudio.spec")], check=True, env=environment, cwd=ROOT)
    return time.perf_counter() - started


def folder_sizes(folder: Path) -> tuple[int, int]:
    """(all bytes, bytes of CUDA files) of the files under `folder`."""
    total = cuda = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            size = path.stat().st_size
            total += size
            if CUDA_FILE.search(str(path.relative_to(folder))):
                cuda += size
    return total, cuda


def run_frozen(*arguments: str, environment: dict[str, str]) -> tuple[str, float]:
    """Run the frozen executable; returns its standard output and the seconds it ran."""
    started = time.perf_counter()
    result = subprocess.run([str(EXECUTABLE), *arguments], capture_output=True, text=True, env=environment,
                            timeout=600)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{EXECUTABLE.name} {' '.join(arguments)} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout.strip(), elapsed


def check(scratch: Path) -> None:
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "VAESTUDIO_HOME": str(scratch / "home"),
                   "XDG_CONFIG_HOME": str(scratch / "config")}
    environment.pop("PYTHONPATH", None)
    bundled = next(APP_FOLDER.rglob("vaestudio/resources/pretrained/mnist-mlp-z2.safetensors"), None)
    if bundled is None:
        raise SystemExit(f"the bundled model is missing from {APP_FOLDER}")
    version, seconds = run_frozen("--version", environment=environment)
    print(f"--version ({seconds:.1f} s): {version}")
    sheet = scratch / "manifold.png"
    output, seconds = run_frozen("sheet", str(bundled), "--kind", "manifold", "--rows", "10", "--cols", "10",
                                 "--out", str(sheet), environment=environment)
    print(f"sheet ({seconds:.1f} s): {output} ({sheet.stat().st_size:,} bytes)")
    output, seconds = run_frozen("--startup-check", environment=environment)
    print(f"--startup-check ({seconds:.1f} s until it quit):\n  " + output.replace("\n", "\n  "))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="check and measure dist/vaestudio/ without building")
    args = parser.parse_args()
    if not args.check:
        print(f"built {APP_FOLDER} in {build():.0f} s")
    if not EXECUTABLE.exists():
        raise SystemExit(f"{EXECUTABLE} does not exist: build it first (python packaging/freeze.py)")
    with tempfile.TemporaryDirectory() as scratch:
        check(Path(scratch))
    total, cuda = folder_sizes(APP_FOLDER)
    gib = 1024 ** 3
    print(f"size of {APP_FOLDER}: {total / gib:.2f} GiB, of which CUDA libraries {cuda / gib:.2f} GiB; "
          f"without them (about a CPU-only torch build): {(total - cuda) / gib:.2f} GiB")
    print(f"RESULT frozen_size_gib={total / gib:.2f} cuda_gib={cuda / gib:.2f} "
          f"without_cuda_gib={(total - cuda) / gib:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
