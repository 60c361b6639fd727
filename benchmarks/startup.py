"""Start-up time: launching VAE Studio until its window is usable, against importing torch and PySide6.

"Usable": the window shows the bundled model's latent map of the MNIST test set, painted
(`vaestudio --startup-check` prints a line at that moment). A new map of a large test split
first shows 2,000 of its points while the rest are encoded; the time until all 10,000 are on
the map (the check's "map complete" line, before it quits) is printed beside it. The bare cost is a
Python process that imports torch and PySide6's QtCore, QtGui and QtWidgets and prints a line.
Both are child processes started from here and timed until their line arrives; they alternate
in rounds, as pairs, because this shared machine's speed drifts by half within minutes. The
ratio of each pair is taken, and startup_ratio is their median; the ratio of the best times
is printed too.

    QT_QPA_PLATFORM=offscreen VAESTUDIO_DATA_DIR=../shared/datasets \\
        .venv/bin/python benchmarks/startup.py [--rounds 5] [--app dist/vaestudio/vaestudio]

`--app` times another `vaestudio` executable (a frozen build) instead of `python -m vaestudio`.
Target: startup_ratio (the median of the paired ratios) <= 1.3.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, data_dir, result_line  # noqa: E402

BARE = "import torch\nfrom PySide6 import QtCore, QtGui, QtWidgets\nprint('imported', flush=True)\n"
TARGET_RATIO = 1.3


def time_until_line(command: list[str], env: dict[str, str], expect: str,
                    also: str | None = None) -> tuple[float, str, float]:
    """Seconds from starting `command` until it prints a line starting with `expect`; that line; and the
    seconds until a later line starting with `also` (nan without one)."""
    started = time.perf_counter()
    later = float("nan")
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=env, text=True)
        for line in child.stdout:
            if line.startswith(expect):
                elapsed = time.perf_counter() - started
                for rest in child.stdout:
                    if also is not None and rest.startswith(also) and later != later:
                        later = time.perf_counter() - started
                break
        else:
            elapsed, line = float("nan"), ""
        returncode = child.wait(timeout=120)
        if returncode != 0 or not line:
            errors.seek(0)
            sys.exit(f"{' '.join(command)} failed ({returncode}):\n{errors.read().decode(errors='replace')}")
    return elapsed, line.strip(), later


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--app", help="a vaestudio executable to time (default: python -m vaestudio)")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="vaestudio-startup-"))
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM") or "offscreen",
           "VAESTUDIO_DATA_DIR": data_dir(), "VAESTUDIO_HOME": str(scratch / "home"),
           "XDG_CONFIG_HOME": str(scratch / "config")}  # the window's settings stay out of the real ones
    if args.app:
        app_command = [args.app, "--startup-check"]
        env.pop("PYTHONPATH", None)
    else:
        app_command = [sys.executable, "-m", "vaestudio", "--startup-check"]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    bare_command = [sys.executable, "-c", BARE]

    app_times, bare_times, complete_times, reported = [], [], [], []
    time_until_line(bare_command, env, "imported")  # fill the file cache before timing anything
    time_until_line(app_command, env, "VAE Studio")
    for round_index in range(args.rounds):
        order = ("bare", "app") if round_index % 2 == 0 else ("app", "bare")
        for which in order:
            if which == "bare":
                seconds, _, _ = time_until_line(bare_command, env, "imported")
                bare_times.append(seconds)
            else:
                seconds, line, complete = time_until_line(app_command, env, "VAE Studio", "map complete")
                app_times.append(seconds)
                complete_times.append(complete)
                reported.append(line)
        print(f"round {round_index + 1}: import torch + PySide6 {bare_times[-1]:.2f} s, "
              f"VAE Studio usable {app_times[-1]:.2f} s (every test image on the map {complete_times[-1]:.2f} s), ratio {app_times[-1] / bare_times[-1]:.2f} "
              f"({reported[-1]})", flush=True)

    ratio = statistics.median(app / bare for app, bare in zip(app_times, bare_times))
    best_app, best_bare = min(app_times), min(bare_times)
    median_app, median_bare = statistics.median(app_times), statistics.median(bare_times)
    print(f"import torch + PySide6: best {best_bare:.2f} s, median {median_bare:.2f} s")
    print(f"VAE Studio usable:      best {best_app:.2f} s, median {median_app:.2f} s")
    print(f"map complete:           best {min(complete_times):.2f} s, median {statistics.median(complete_times):.2f} s")
    print(f"ratio: median of the rounds' {ratio:.2f}, of the best times {best_app / best_bare:.2f} "
          f"(target <= {TARGET_RATIO})")
    print(result_line(startup_ratio=ratio, best_ratio=best_app / best_bare, app_best_s=best_app,
                      bare_best_s=best_bare, app_median_s=median_app, bare_median_s=median_bare,
                      map_complete_median_s=statistics.median(complete_times)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
