"""Model-file scanners side by side: aiarmor scan vs picklescan, modelscan and fickling.

Run (peers live only in their own venv; aiarmor is installed there editable)::

    python3.11 -m venv /work/bench-venvs/scan
    /work/bench-venvs/scan/bin/pip install picklescan modelscan fickling
    /work/bench-venvs/scan/bin/pip install -c /work/main/constraints/dev.txt -e /work/main
    /work/bench-venvs/scan/bin/python /work/main/bench/bench_scan.py

Prints three Markdown tables, all measured in one run:

1. Detection per technique class on the hostile regression corpus
   (:mod:`aiarmor.scanning.testing.corpus`, the same builders tests/regression uses):
   ``d/n`` files detected, ``e`` files the scanner errored on (could not parse).
2. Benign corpus: checkpoints created here with the real writers (torch.save, joblib.dump,
   np.save, safetensors, keras-style zip) plus pickle/npy/npz data shipped inside installed
   packages. A file is "flagged" when the scanner's CLI would exit non-zero for it
   (aiarmor: any finding of low severity or above). Every file we flag is listed.
3. Throughput: a ~50 MB opcode-dense pickle (nested lists/dicts of small objects), a
   ~500 MB torch checkpoint (tensor data must not be read) and the benign corpus (files/s).
   Each timing runs in a forked child with a time limit.

Verdict per scanner and file: detected (it reported an issue), error (it failed to parse
and reported nothing else) or missed. Nothing here asserts; ratios within one run matter.
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing as mp
import os
import pickle
import re
import site
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from aiarmor.scanning import scan
from aiarmor.scanning.testing.builders import hdf5_bytes
from aiarmor.scanning.testing.corpus import CASES, techniques

Verdict = str  # "detected" | "error" | "missed"
TIME_LIMIT = 120.0
"""Seconds one scanner may take on one throughput file."""


def ours(path: Path) -> Verdict:
    report = scan([path])
    if report.errors:
        return "error"
    return "detected" if report.exit_code == 1 else "missed"


def picklescan_verdict(path: Path) -> Verdict:
    from picklescan.scanner import scan_file_path

    result = scan_file_path(str(path))
    if result.issues_count or result.infected_files:
        return "detected"
    return "error" if result.scan_err else "missed"


def modelscan_verdict(path: Path) -> Verdict:
    from modelscan.modelscan import ModelScan

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        result = ModelScan().scan(str(path))
    if result.get("issues"):
        return "detected"
    return "error" if result.get("errors") else "missed"


def fickling_verdict(path: Path) -> Verdict:
    import fickling
    from fickling.analysis import Severity

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        result = fickling.scan_file(str(path), graceful=True)
    if any(r.severity > Severity.LIKELY_SAFE for r in result.results):
        return "detected"
    if result.errors or result.severity > Severity.LIKELY_SAFE:
        return "error"
    return "missed"


SCANNERS: dict[str, Callable[[Path], Verdict]] = {
    "aiarmor": ours,
    "picklescan": picklescan_verdict,
    "modelscan": modelscan_verdict,
    "fickling": fickling_verdict,
}


def safe_verdict(fn: Callable[[Path], Verdict], path: Path) -> Verdict:
    """A scanner crash counts as an error (its CLI would exit with a traceback)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return fn(path)
    except Exception:
        return "error"


# 1. detection ---------------------------------------------------------------------------


def detection_table(root: Path) -> str:
    files: dict[str, list[Path]] = {t: [] for t in techniques()}
    for i, case in enumerate(CASES):
        folder = root / f"c{i:03d}"
        folder.mkdir()
        path = folder / case.name
        path.write_bytes(case.build())
        files[case.technique].append(path)
    rows = ["| technique class | files | " + " | ".join(SCANNERS) + " |",
            "|---|---|" + "---|" * len(SCANNERS)]  # fmt: skip
    totals = dict.fromkeys(SCANNERS, 0)
    for tech, paths in files.items():
        cells = []
        for name, fn in SCANNERS.items():
            verdicts = [safe_verdict(fn, p) for p in paths]
            hit, err = verdicts.count("detected"), verdicts.count("error")
            totals[name] += hit == len(paths)
            cells.append(f"{hit}/{len(paths)}" + (f" ({err} err)" if err else ""))
        rows.append(f"| {tech} | {len(paths)} | " + " | ".join(cells) + " |")
    n = len(files)
    rows.append(f"| **classes fully detected** | {len(CASES)} | "
                + " | ".join(f"**{totals[s]}/{n}**" for s in SCANNERS) + " |")  # fmt: skip
    return "\n".join(rows)


# 2. benign corpus -----------------------------------------------------------------------


def make_benign(root: Path) -> list[Path]:
    """Checkpoints written by the real writers (no object arrays: those are findings)."""
    import joblib
    import torch
    from safetensors.torch import save_file
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    x, y = rng.random((200, 5)), rng.integers(0, 2, 200)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    out = []

    def put(name: str, write: Callable[[Path], object]) -> None:
        path = root / name
        write(path)
        out.append(path)

    put("state_dict.pt", lambda p: torch.save(net.state_dict(), p))
    legacy = {"_use_new_zipfile_serialization": False}
    put("legacy_state_dict.pt", lambda p: torch.save(net.state_dict(), p, **legacy))
    put("whole_module.pt", lambda p: torch.save(net, p))
    put("checkpoint.ckpt", lambda p: torch.save({"model": net.state_dict(), "epoch": 3,
                                                 "optimizer": torch.optim.Adam(net.parameters())
                                                 .state_dict()}, p))  # fmt: skip
    models = {
        "logreg": LogisticRegression().fit(x, y),
        "forest": RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y),
        "tree": DecisionTreeClassifier(random_state=0).fit(x, y),
        "pipeline": make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y),
    }
    for name, model in models.items():
        put(f"{name}.joblib", lambda p, m=model: joblib.dump(m, p))
        put(f"{name}_z3.joblib", lambda p, m=model: joblib.dump(m, p, compress=3))
        put(f"{name}.pkl", lambda p, m=model: p.write_bytes(pickle.dumps(m, protocol=5)))
    put("array.npy", lambda p: np.save(p, rng.random((10, 4))))
    put("arrays.npz", lambda p: np.savez(p, a=np.arange(5), b=rng.random(3)))
    put("arrays_z.npz", lambda p: np.savez_compressed(p, a=np.zeros(100)))
    put("model.safetensors", lambda p: save_file(dict(net.state_dict()), str(p)))
    put("model.keras", lambda p: p.write_bytes(_keras_zip()))
    return out


def _keras_zip() -> bytes:
    layer = {"class_name": "Dense", "module": "keras.layers", "config": {"units": 2}}
    config = {"class_name": "Sequential", "module": "keras", "config": {"layers": [layer]}}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.4.1"}))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", hdf5_bytes(b"dense/kernel", name=b"layer_names"))
    return buf.getvalue()


_PACKAGE_DATA = re.compile(r"\.(pkl|pickle|gpickle|joblib|npy|npz|pt|pth)(\.|_|$)")


def package_files() -> list[Path]:
    """Pickle/NumPy/torch data files shipped inside the installed packages."""
    found = []
    for root in site.getsitepackages():
        for dirpath, _dirs, names in os.walk(root):
            for name in names:
                wanted = "joblib/test/data" in dirpath or _PACKAGE_DATA.search(name)
                if wanted and not name.endswith((".py", ".pyc", ".pth")):
                    found.append(Path(dirpath) / name)
    return sorted(found)


def benign_table(created: list[Path], shipped: list[Path]) -> tuple[str, str]:
    rows = [f"| scanner | created: flagged / errors (of {len(created)}) | package data: "
            f"flagged / errors (of {len(shipped)}) |", "|---|---|---|"]  # fmt: skip
    for name, fn in SCANNERS.items():
        cells = []
        for group in (created, shipped):
            verdicts = [safe_verdict(fn, p) for p in group]
            cells.append(f"{verdicts.count('detected')} / {verdicts.count('error')}")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows), _our_flags(created + shipped)


def _our_flags(paths: list[Path]) -> str:
    """Every benign file we flag, with its worst finding (for judging by hand)."""
    lines = ["| file | worst finding | rule | callable / detail |", "|---|---|---|---|"]
    for path in paths:
        report = scan([path])
        if report.exit_code == 0:
            continue
        f = report.findings[0]
        what = str(f.evidence.get("callable") or f.detail)[:70]
        short = str(path).split("site-packages/")[-1] if "site-packages" in str(path) else path.name
        lines.append(f"| {short} | {f.severity.label} | {f.check_id} | {what} |")
    return "\n".join(lines)


# 3. throughput --------------------------------------------------------------------------


def dense_pickle(path: Path, target_mb: int = 50) -> None:
    rows, size = [], 0
    i = 0
    while size < target_mb * 1024**2:
        chunk = [{"id": j, "tags": [j, j + 1, f"t{j}"], "score": j * 0.5, "ok": j % 2 == 0}
                 for j in range(i, i + 100_000)]  # fmt: skip
        rows.append(chunk)
        size += len(pickle.dumps(chunk, protocol=4))
        i += 100_000
    path.write_bytes(pickle.dumps(rows, protocol=4))


def big_checkpoint(path: Path, target_mb: int = 500) -> None:
    import torch

    n = target_mb * 1024**2 // 4 // 10
    torch.save({f"layer{k}.weight": torch.ones(n) for k in range(10)}, path)


def _timed(fn: Callable[[Path], Verdict], paths: list[Path], queue: mp.Queue) -> None:
    start = time.perf_counter()
    for p in paths:
        safe_verdict(fn, p)
    queue.put(time.perf_counter() - start)


def timed(fn: Callable[[Path], Verdict], paths: list[Path]) -> float | None:
    """Wall time of scanning ``paths`` in a forked child, or None past TIME_LIMIT."""
    ctx = mp.get_context("fork")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_timed, args=(fn, paths, queue))
    proc.start()
    proc.join(TIME_LIMIT)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return None
    return float(queue.get()) if not queue.empty() else None


def throughput_table(dense: Path, big: Path, benign: list[Path]) -> str:
    mb_dense, mb_big = dense.stat().st_size / 1024**2, big.stat().st_size / 1024**2
    mb_benign = sum(p.stat().st_size for p in benign) / 1024**2
    rows = [f"| scanner | dense pickle {mb_dense:.0f} MB: s (MB/s) | torch checkpoint "
            f"{mb_big:.0f} MB: s (MB/s) | benign corpus {len(benign)} files, "
            f"{mb_benign:.1f} MB: s (files/s) |", "|---|---|---|---|"]  # fmt: skip
    for name, fn in SCANNERS.items():
        cells = []
        for paths, mb in (([dense], mb_dense), ([big], mb_big), (benign, None)):
            t = timed(fn, paths)
            if t is None:
                cells.append(f"> {TIME_LIMIT:.0f} (timeout)")
            elif mb is None:
                cells.append(f"{t:.2f} ({len(paths) / t:.1f})")
            else:
                cells.append(f"{t:.3f} ({mb / t:.1f})")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    versions = _versions()
    print(f"python {sys.version.split()[0]}; {versions}\n")
    with tempfile.TemporaryDirectory(prefix="bench_scan_") as tmp:
        root = Path(tmp)
        (root / "hostile").mkdir()
        (root / "benign").mkdir()
        print("## Detection per technique class (hostile corpus)\n")
        print(detection_table(root / "hostile") + "\n")
        created, shipped = make_benign(root / "benign"), package_files()
        table, flags = benign_table(created, shipped)
        print("## False positives on benign files\n")
        print(table + "\n")
        print("### Benign files aiarmor flags\n")
        print(flags + "\n")
        dense, big = root / "dense.pkl", root / "big.pt"
        dense_pickle(dense)
        big_checkpoint(big)
        print("## Throughput (wall seconds; higher MB/s and files/s are better)\n")
        print(throughput_table(dense, big, created + shipped))


def _versions() -> str:
    from importlib.metadata import version

    names = ("picklescan", "modelscan", "fickling", "torch", "numpy", "joblib", "scikit-learn")
    return ", ".join(f"{n} {version(n)}" for n in names)


if __name__ == "__main__":
    main()
