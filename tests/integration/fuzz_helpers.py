"""What ``test_cli_fuzz.py`` drives the CLI with: an in-process runner and hostile inputs.

The runner calls the real console entry point (``aiarmor.cli.main:main``) with ``sys.argv``
set, the way the installed ``aiarmor`` script does, and captures stdout/stderr, the exit code,
and a per-call timeout. Every input builder returns the bytes a user (or an attacker) could
put in a file; :class:`Case` pairs an argument list with the reasons the input is bad, so the
test knows which exit codes are allowed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import math
import os
import pickle
import signal
import sys
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

TIMEOUT_S = 30.0
"""Per-call wall-clock limit: a command still running after this has hung."""

TRACEBACK = "Traceback (most recent call last)"
UNCERTAIN = "?"
"""A policy defect marker: the generated policy may or may not be valid."""
INTERNAL = "internal error"


class Hang(BaseException):
    """Raised by the alarm when one CLI call runs past :data:`TIMEOUT_S`."""


class ServeStarted(BaseException):
    """``aiarmor serve`` reached ``uvicorn.run``: the config was accepted."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one CLI call did."""

    code: int
    out: str
    err: str
    seconds: float
    hung: bool = False
    served: bool = False


@dataclass(slots=True)
class Case:
    """One generated command line: argv (paths already materialized) and why it is bad."""

    argv: list[str]
    defects: list[str] = field(default_factory=list)
    """Reasons the input is certainly bad: non-empty means the exit code must be 2."""
    allowed: frozenset[int] = frozenset({0, 1, 2})
    """Exit codes acceptable when ``defects`` is empty."""
    env: dict[str, str] = field(default_factory=dict)
    out_dirs: list[Path] = field(default_factory=list)
    """Directories where report files may appear (checked for 0-length files)."""
    uncertain: bool = False
    """Some part may or may not be valid: exit 2 is allowed even without a defect."""

    def bad(self, reason: str) -> None:
        self.defects.append(reason)

    def add_policy_defects(self, defects: list[str]) -> None:
        """What :func:`policies` said; :data:`UNCERTAIN` allows exit 2 without requiring it."""
        if UNCERTAIN in defects:
            self.allowed, self.uncertain = frozenset({0, 1, 2}), True
        self.defects += [d for d in defects if d != UNCERTAIN]

    def describe(self) -> str:
        env = " ".join(f"{k}={v!r}" for k, v in self.env.items())
        return f"{env} aiarmor {' '.join(map(repr, self.argv))}  defects={self.defects}"


# ---------------------------------------------------------------------------------------------
# the runner


def _on_alarm(signum: int, frame: Any) -> None:
    raise Hang()


class _Stream(io.TextIOWrapper):
    """A text stream with a ``.buffer`` (like a real stdout) whose contents can be read."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", errors="replace", write_through=True)

    def text(self) -> str:
        self.flush()
        raw = self.buffer
        assert isinstance(raw, io.BytesIO)
        return raw.getvalue().decode("utf-8", "replace")


@contextlib.contextmanager
def _environ(extra: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    for name in ("AIARMOR_DEBUG", "AIARMOR_MASTER_KEY"):
        os.environ.pop(name, None)
    os.environ.update(extra)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _no_server() -> Iterator[None]:
    """``uvicorn.run`` raises :class:`ServeStarted` instead of listening."""
    try:
        import uvicorn
    except ImportError:
        yield
        return

    def fake_run(*args: Any, **kwargs: Any) -> None:
        raise ServeStarted()

    real = uvicorn.run
    uvicorn.run = fake_run
    try:
        yield
    finally:
        uvicorn.run = real


def run_cli(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT_S,
) -> Outcome:
    """Run ``aiarmor ARGV`` in process through ``main()``, in ``cwd``, with a timeout."""
    import torch

    from aiarmor.cli.main import main

    out, err = _Stream(), _Stream()
    code, hung, served = 0, False, False
    old_cwd, old_argv, threads = os.getcwd(), sys.argv, torch.get_num_threads()
    old_handler = signal.signal(signal.SIGALRM, _on_alarm)
    started = time.perf_counter()
    try:
        os.chdir(cwd)
        sys.argv = ["aiarmor", *map(str, argv)]
        with (
            _environ(env or {}),
            _no_server(),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                main()
            except SystemExit as exc:
                code = _exit_code(exc.code)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except Hang:
        hung, code = True, -1
    except ServeStarted:
        served, code = True, 0
    finally:
        signal.signal(signal.SIGALRM, old_handler)
        sys.argv = old_argv
        os.chdir(old_cwd)
        torch.set_num_threads(threads)
    return Outcome(code, out.text(), err.text(), time.perf_counter() - started, hung, served)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1  # sys.exit("message") prints the message and exits 1


def check_invariants(case: Case, outcome: Outcome) -> list[str]:
    """The invariants every call must keep; a list of violations (empty: all kept)."""
    problems = []
    if outcome.hung:
        problems.append(f"(4) no answer within {TIMEOUT_S:.0f} s")
    for name, text in (("stdout", outcome.out), ("stderr", outcome.err)):
        if TRACEBACK in text:
            problems.append(f"(1) a Python traceback on {name}")
    if INTERNAL in outcome.err:
        problems.append("(1) 'internal error' on stderr")
    if not outcome.hung:
        if case.defects:
            if outcome.code != 2:
                problems.append(f"(2) bad input ({'; '.join(case.defects)}) exited {outcome.code}")
        elif outcome.code not in case.allowed:
            problems.append(f"(2) exit code {outcome.code} not in {sorted(case.allowed)}")
        if outcome.code == 2 and not _ends_with_reason(outcome.err):
            problems.append("(2) exit 2 without a reason as the last thing on stderr")
    for folder in case.out_dirs:
        for empty in _empty_reports(folder):
            problems.append(f"(3) 0-length report file left behind: {empty}")
    return problems


def _ends_with_reason(err: str) -> bool:
    """stderr ends with ``aiarmor: ...`` (one line), or is click's usage error or usage."""
    lines = [line for line in err.splitlines() if line.strip()]
    if not lines:
        return False
    if lines[-1].startswith("aiarmor: ") or lines[0].startswith("Usage: "):
        return True  # (a bare command group prints its usage on stderr: that says what to do)
    return any("Error" in line for line in lines[-8:])  # click: "Error: ..." or a boxed one


def exists(path: Path) -> bool:
    """``path.exists()`` that says False for names the OS refuses (ENAMETOOLONG)."""
    try:
        return path.exists() or path.is_symlink()
    except OSError:
        return False


def _empty_reports(folder: Path) -> list[Path]:
    try:
        if not folder.is_dir():
            return []
    except OSError:  # e.g. a name too long to exist
        return []
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size == 0:
            found.append(path)
    return found


COLLECT = os.environ.get("AIARMOR_FUZZ_COLLECT")
"""A JSON-lines file: record every violation there instead of failing (to list them all)."""


def assert_invariants(case: Case, outcome: Outcome) -> None:
    """Fail with the command line, what it printed and which invariant broke."""
    problems = check_invariants(case, outcome)
    if problems and COLLECT:
        row = {
            "problems": problems,
            "argv": case.argv,
            "env": case.env,
            "defects": case.defects,
            "code": outcome.code,
            "out": outcome.out[-800:],
            "err": outcome.err[-1500:],
            "seconds": outcome.seconds,
        }
        with open(COLLECT, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        return
    if problems:
        raise AssertionError(
            "\n".join(problems)
            + f"\ncommand: {case.describe()}\nexit: {outcome.code}"
            + f"\nstdout: {outcome.out[-1500:]!r}\nstderr: {outcome.err[-3000:]!r}"
        )


# ---------------------------------------------------------------------------------------------
# file contents


def npz_bytes(**arrays: Any) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def npy_bytes(array: Any) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def zip_bytes(members: Mapping[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


class Harmless:
    """Pickles to a call of ``os.getpid`` - a global no allowlist permits, run harmlessly."""

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (os.getpid, ())


def pickle_bytes(kind: int) -> bytes:
    """A plain pickle (a dict) or one calling a non-allowlisted global."""
    return pickle.dumps({"x": [1, 2, 3]} if kind == 0 else Harmless(), protocol=kind % 6)


def toy_xy(n: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four features in [0, 1), three classes: what the tiny fuzz model takes."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 4), dtype=np.float32)
    y = (x[:, 0] * 3).astype(np.int64).clip(0, 2)
    return x, y


def bad_npz(kind: int) -> tuple[bytes, str]:
    """An ``.npz`` that is not usable held-out data, and what is wrong with it."""
    x, y = toy_xy()
    obj = np.empty(len(y), dtype=object)
    obj[:] = [{"a": i} for i in range(len(y))]
    variants: list[tuple[Any, str]] = [
        (lambda: npz_bytes(a=x, b=y), "npz without x/y"),
        (lambda: npz_bytes(x=x), "npz without y"),
        (lambda: npz_bytes(y=y), "npz without x"),
        (lambda: npz_bytes(x=x, y=y[:-3]), "npz with len(x) != len(y)"),
        (lambda: npz_bytes(x=x[:0], y=y[:0]), "npz with no samples"),
        (lambda: npz_bytes(x=np.where(x > 0.5, np.nan, x), y=y), "npz with NaN in x"),
        (lambda: npz_bytes(x=np.where(x > 0.5, np.inf, x), y=y), "npz with inf in x"),
        (lambda: npz_bytes(x=obj, y=y), "npz with an object-dtype x"),
        (lambda: npz_bytes(x=x, y=obj), "npz with an object-dtype y"),
        (lambda: npz_bytes(x=x, y=y + 0.5), "npz with fractional labels"),
        (lambda: npz_bytes(x=x, y=y.astype(np.float64) * np.nan), "npz with NaN labels"),
        (lambda: npz_bytes(x=x, y=y.reshape(-1, 1, 1)), "npz with 3-d labels"),
        (lambda: npz_bytes(x=np.float32(1.0), y=np.int64(0)), "npz with 0-d arrays"),
        (lambda: npz_bytes(x=x.astype(np.complex64), y=y), "npz with complex x"),
        (lambda: npz_bytes(x=np.array(["a"] * len(y)), y=y), "npz with a string x"),
        (lambda: npz_bytes(x=x[:, :3], y=y), "npz whose x does not fit the model"),
        (lambda: npz_bytes(x=x, y=np.full_like(y, -1)), "npz with negative labels"),
        (lambda: npz_bytes(x=x, y=y)[: kind % 200 + 10], "truncated npz"),
        (lambda: npy_bytes(x), "an .npy array, not an .npz"),
        (lambda: npy_bytes(x)[:60], "truncated .npy"),
        (lambda: zip_bytes({"x.npy": b"garbage", "y.npy": b"\x93NUMPY"}), "zip of garbage"),
        (lambda: zip_bytes({"x.npy": npy_bytes(x)})[:-25], "truncated zip"),
        (lambda: pickle_bytes(kind % 3), "pickle bytes"),
        (lambda: npz_bytes(x=x, y=y.astype(np.uint64) + np.uint64(2**63)), "huge labels"),
    ]
    make, why = variants[kind % len(variants)]
    return make(), why


def bad_csv(kind: int) -> tuple[bytes, str]:
    """A CSV that is not usable with ``--label y`` and the tiny 4-feature model."""
    variants = [
        (b"", "empty csv"),
        (b"a,b,c,d,y\n", "csv with a header and no rows"),
        (b"a,b,c,d\n0.1,0.2,0.3,0.4\n0.5,0.6,0.7,0.8\n", "csv without the label column"),
        (b"a,b,c,d,y\n0.1,0.2,0.3\n0.5,0.6,0.7,0.8,1,9,9\n", "ragged csv"),
        (b"a,b,c,d,y\n0.1,x,0.3,0.4,0\n0.5,0.6,zz,0.8,1\n0.2,0.1,0.3,0.1,2\n", "non-numeric cells"),
        (b"a,b,c,d,y\n0.1,0.2,0.3,0.4,\n0.5,0.6,0.7,0.8,\n", "csv with empty labels"),
        (b"a,b,c,d,y\n0.1,0.2,0.3,0.4,0\n\x00\x00\x00\xff\xfe,1,2\n", "csv with NUL bytes"),
        (b"a,a,a,a,y\n0.1,0.2,0.3,0.4,0\n0.5,0.6,0.7,0.8,1\n", "csv with duplicate columns"),
        (b'a,b,c,d,y\n"0.1,0.2,0.3,0.4,0\n', "csv with an unterminated quote"),
        (b"a,b,c,d,y\nnan,0.2,0.3,0.4,0\ninf,0.6,0.7,0.8,1\n", "csv with NaN/inf"),
        (b"\xff\xfe\x00\x00garbage", "csv that is not text"),
    ]
    data, why = variants[kind % len(variants)]
    return data, why


def good_csv() -> bytes:
    x, y = toy_xy()
    rows = ["a,b,c,d,y", *(",".join(f"{v:.4f}" for v in r) + f",{t}" for r, t in zip(x, y))]
    return ("\n".join(rows) + "\n").encode()


# ---------------------------------------------------------------------------------------------
# TOML


def toml_value(value: Any) -> str:
    """One value in TOML syntax (inline tables and arrays nest)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_key(key: str) -> str:
    return toml_value(str(key))


def toml_document(doc: Mapping[str, Any]) -> str:
    """A document: each top-level key on its own line, values inline."""
    return "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in doc.items())


# ---------------------------------------------------------------------------------------------
# drawing one command line


LONG_NAME = "n" * 300
"""A path component longer than any file system allows (ENAMETOOLONG)."""


class Draw:
    """Draws the parts of one command line with hypothesis and writes the files they name.

    ``ws`` holds the valid artefacts (shared, never written to); ``tmp`` is this example's
    own folder. Each drawn part appends to ``case.argv`` and records in ``case.defects``
    whatever makes the input certainly bad.
    """

    def __init__(self, data: Any, ws: Path, tmp: Path, case: Case) -> None:
        self.data, self.ws, self.tmp, self.case = data, ws, tmp, case
        self._n = 0

    # -- primitives ----------------------------------------------------------------------

    def pick(self, options: Sequence[Any], label: str) -> Any:
        from hypothesis import strategies as st

        return self.data.draw(st.sampled_from(list(options)), label=label)

    def draw(self, strategy: Any, label: str) -> Any:
        return self.data.draw(strategy, label=label)

    def fresh(self, name: str) -> Path:
        self._n += 1
        return self.tmp / f"{self._n}-{name}"

    def write(self, name: str, content: bytes) -> Path:
        path = self.fresh(name)
        path.write_bytes(content)
        return path

    def opt(self, flag: str, value: object) -> None:
        self.case.argv += [flag, str(value)]

    def hostile_path(self, suffix: str, what: str) -> Path:
        """A path that is not a usable ``what``: garbage bytes, a folder, missing, ..."""
        from hypothesis import strategies as st

        kind = self.pick(
            [
                "empty",
                "random",
                "dir",
                "missing",
                "pickle",
                "truncated-zip",
                "long-name",
                "under-a-file",
                "text",
            ],
            f"hostile {what}",
        )
        self.case.bad(f"{what} is {kind}")
        if kind == "empty":
            return self.write(f"empty{suffix}", b"")
        if kind == "random":
            return self.write(f"random{suffix}", self.draw(st.binary(max_size=600), "bytes"))
        if kind == "text":
            text = self.draw(st.text(max_size=200), "text")
            return self.write(f"text{suffix}", text.encode("utf-8", "surrogatepass"))
        if kind == "dir":
            path = self.fresh(f"folder{suffix}")
            path.mkdir()
            return path
        if kind == "missing":
            return self.fresh(f"missing{suffix}")
        if kind == "pickle":
            return self.write(f"pickle{suffix}", pickle_bytes(self.draw(st.integers(0, 5), "p")))
        if kind == "truncated-zip":
            return self.write(f"trunc{suffix}", zip_bytes({"a.bin": b"x" * 300})[:-40])
        if kind == "long-name":
            return self.tmp / f"{LONG_NAME}{suffix}"
        return self.write("plain-file", b"a file") / f"child{suffix}"

    def out_dir(self, flag: str = "--out", *, reports: bool = True) -> Path:
        """A report folder: fresh, existing, or not a folder that can be written."""
        kind = self.pick(
            [
                "fresh",
                "fresh",
                "fresh",
                "existing-empty",
                "nested-fresh",
                "is-a-file",
                "under-a-file",
                "long-name",
            ],
            "out dir",
        )
        if kind == "fresh":
            path = self.fresh("out")
        elif kind == "nested-fresh":
            path = self.fresh("out") / "a" / "b"
        elif kind == "existing-empty":
            path = self.fresh("out")
            path.mkdir()
        elif kind == "is-a-file":
            path = self.write("out-file", b"not a folder")
            self.case.bad("--out is a file")
        elif kind == "under-a-file":
            path = self.write("out-file", b"not a folder") / "out"
            self.case.bad("--out is under a file")
        else:
            path = self.tmp / LONG_NAME
            self.case.bad("--out name too long")
        self.opt(flag, path)
        if reports:
            self.case.out_dirs.append(path)
        return path

    # -- datasets, models, policies ------------------------------------------------------

    def dataset(self, flag: str, *, csv: bool = True, good: str = "test") -> str | None:
        """``flag FILE``: the valid ``good``.npz (or .csv), or bad data. Returns the format."""
        from hypothesis import strategies as st

        kinds = ["good-npz", "good-npz", "bad-npz", "hostile", "omit"]
        kinds += ["good-csv", "bad-csv"] if csv else []
        kind = self.pick(kinds, f"{flag} kind")
        if kind == "omit":
            return "omit"
        if kind == "good-npz":
            self.opt(flag, self.ws / f"{good}.npz")
            return "npz"
        if kind == "good-csv":
            self.opt(flag, self.ws / f"{good}.csv")
            return "csv"
        which = self.draw(st.integers(0, 10_000), f"{flag} variant")
        if kind == "bad-npz":
            content, why = bad_npz(which)
            self.case.bad(f"{flag}: {why}")
            self.opt(flag, self.write("data.npz", content))
            return "npz"
        if kind == "bad-csv":
            content, why = bad_csv(which)
            self.case.bad(f"{flag}: {why}")
            self.opt(flag, self.write("data.csv", content))
            return "csv"
        suffix = self.pick([".npz", ".csv", ".parquet", ".npy", ".bin", ""], f"{flag} suffix")
        self.opt(flag, self.hostile_path(suffix, flag))
        return "hostile"

    def torch_model(self, *, weights_required: bool = True) -> None:
        """``--model`` (and ``--weights``): the tiny valid factory or a broken one."""
        ws = self.ws
        spec = self.pick(
            [
                "good",
                "good",
                "good",
                "nope",
                "missing-file",
                "syntax",
                "raises",
                "wrong-shape",
                "returns-none",
                "builtins:dict",
                "math:pi",
                "",
                ":",
                "no.such_pkg_zz:fn",
                "file",
            ],
            "model spec",
        )
        bad_specs = {
            "nope": f"{ws}/models.py:nope",
            "missing-file": f"{ws}/absent.py:build",
            "syntax": f"{ws}/broken.py:build",
            "raises": f"{ws}/models.py:raises",
            "wrong-shape": f"{ws}/models.py:wrong_shape",
            "returns-none": f"{ws}/models.py:returns_none",
        }
        if spec == "good":
            self.opt("--model", f"{ws}/models.py:build")
        elif spec == "file":
            suffix = self.pick(
                [".pt", ".pkl", ".joblib", ".skops", ".pt2", ".onnx", ".safetensors", ".zip"],
                "model suffix",
            )
            self.opt("--model", self.hostile_path(suffix, "--model file"))
        else:
            self.case.bad(f"--model {spec!r} is not a usable model")
            self.opt("--model", bad_specs.get(spec, spec))
        self.weights(required=weights_required and spec == "good")

    def weights(self, *, required: bool) -> None:
        kind = self.pick(["good-st", "good-pt", "omit", "wrong-keys", "hostile"], "weights")
        if kind == "good-st":
            self.opt("--weights", self.ws / "weights.safetensors")
        elif kind == "good-pt":
            self.opt("--weights", self.ws / "weights.pt")
        elif kind == "wrong-keys":
            self.case.bad("--weights for another architecture")
            self.opt("--weights", self.ws / "other.safetensors")
        elif kind == "hostile":
            suffix = self.pick([".safetensors", ".pt", ".bin", ""], "weights suffix")
            self.opt("--weights", self.hostile_path(suffix, "--weights"))
        # "omit" leaves the factory's random initialisation: still a model that answers

    def policy(self) -> None:
        """``--policy FILE`` with a generated, usually hostile, policy (or none)."""
        from hypothesis import strategies as st

        if self.pick([True, False, False], "no policy"):
            return
        if self.pick([False, False, False, True], "hostile policy path"):
            self.opt("--policy", self.hostile_path(".toml", "--policy"))
            return
        text, defects = self.draw(policies(), "policy")
        self.case.add_policy_defects(defects)
        encoded = text.encode("utf-8", "surrogatepass")
        if self.draw(st.booleans(), "damage bytes") and self.draw(st.booleans(), "latin1"):
            encoded += b"\n# \xff\xfe\n"
            self.case.bad("policy is not UTF-8")
        self.opt("--policy", self.write("policy.toml", encoded))

    def budget(self) -> None:
        value = self.pick(["quick", "quick", "quick", "fast", "", "ultra", "quick;rm"], "budget")
        if value != "quick":
            self.case.bad(f"--budget {value!r}")
        self.opt("--budget", value)

    def checks(self, cheap: Sequence[str], *, required: bool = True) -> None:
        ids = [*cheap, "no.such_check", "", ",", " , ", "baseline.performance,nope"]
        value = self.pick(ids, "checks")
        if value not in cheap:
            self.case.bad(f"--checks {value!r}")
        if value or required:
            self.opt("--checks", value)

    def bounds(self, *, optional: bool = True) -> None:
        good = ["0,1", "-1,2", "0,1.0"]
        bad = ["1,0", "0,0", "0", "a,b", "nan,1", "0,inf", "-inf,1", "0,1,2", "", " , ", "0;1"]
        options = [*good, *bad, *(["omit"] if optional else [])]
        value = self.pick(options, "bounds")
        if value == "omit":
            return
        if value in bad:
            self.case.bad(f"--bounds {value!r}")
        self.opt("--bounds", value)


# ---------------------------------------------------------------------------------------------
# policies


CHEAP_CHECKS = ("baseline.performance", "data.duplicates")
ODD = "data.duplicates"
"""The check whose policy tables get the odd-but-maybe-valid values."""
SEVERITIES = ("info", "low", "medium", "high", "critical")


def _valid_policy_parts() -> dict[str, Any]:
    return {
        "policy": {"fail_on": "high", "required": ["baseline.performance"]},
        "checks": {"baseline.performance": {"min_accuracy": 0.1, "max_ece": 0.5}},
        "thresholds": {"baseline.performance": {"accuracy": {"min": 0.0, "severity": "low"}}},
        "suppress": {
            "baseline.performance": {
                "justification": "reviewed",
                "titles": ["x"],
                "expires": dt.date(2099, 1, 1),
            }
        },
    }


def policies(mutation: str | None = None) -> Any:
    """(policy text, reasons it is certainly invalid): a valid base with mutations.

    ``mutation`` fixes which certain defect is applied ("none": none; default: drawn)."""
    from hypothesis import strategies as st

    @st.composite
    def build(draw: Any) -> tuple[str, list[str]]:
        parts = _valid_policy_parts()
        keep = draw(st.lists(st.sampled_from(sorted(parts)), unique=True), label="sections")
        doc: dict[str, Any] = {k: parts[k] for k in keep}
        defects: list[str] = []
        # at most one certain defect, so no later mutation can overwrite it; the odd (maybe
        # valid) values go to another check's tables, so they never touch it either
        name = mutation
        if name == "odd":
            _m_hostile_but_maybe_valid(draw, doc)
        elif name is None and draw(st.booleans(), label="defect"):
            name = draw(st.sampled_from(sorted(MUTATIONS)), label="mutation")
        if name in MUTATIONS:
            defects += MUTATIONS[name](draw, doc)
        for _ in range(draw(st.integers(0, 2), label="n odd")):
            _m_hostile_but_maybe_valid(draw, doc)
        text = toml_document(doc)
        damage = draw(
            st.sampled_from(
                ["none", "none", "none", "truncate", "garbage-line", "bad-date", "duplicate-key"]
            ),
            label="damage",
        )
        if damage == "truncate" and len(text) > 8:
            cut = draw(st.integers(1, len(text) - 1), label="cut")
            text = text[:cut]
        elif damage == "garbage-line":
            text += "[[[ this is not toml\n"
        elif damage == "bad-date":
            text += 'suppress = {"x" = {justification = "j", expires = 2027-13-45}}\n'
        elif damage == "duplicate-key":
            text += text.splitlines()[0] + "\n" if text else "a = 1\na = 2\n"
        if damage != "none":
            broken = _toml_defect(text, damage)
            # a truncation that still parses may have cut off the defect, or made a new one
            # (an empty table): then nothing is certain, and it is judged by 1, 3 and 4 only
            defects = broken or ([UNCERTAIN] if damage == "truncate" else defects)
        return text, defects

    return build()


def _toml_defect(text: str, damage: str) -> list[str]:
    import tomllib

    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return [f"policy TOML damaged ({damage})"]
    return []  # e.g. a truncation that still parses: judged by the mutations alone


def _hostile_value(draw: Any) -> Any:
    from hypothesis import strategies as st

    scalars = st.one_of(
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.text(max_size=12),
        st.dates(),
        st.times(),
    )
    values = st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)
        ),
        max_leaves=8,
    )
    return draw(values, label="hostile value")


def _m_unknown_top(draw: Any, doc: dict[str, Any]) -> list[str]:
    from hypothesis import strategies as st

    name = draw(st.sampled_from(["polcy", "check", "extra", "Policy", "thresholds2", ""]))
    doc[name] = _hostile_value(draw)
    return [f"unknown top-level key {name!r}"]


def _m_unknown_policy_key(draw: Any, doc: dict[str, Any]) -> list[str]:
    from hypothesis import strategies as st

    head = _sub(doc, "policy")
    key = draw(st.sampled_from(["failon", "fail-on", "require", "budget", "fail_on "]))
    head[key] = _hostile_value(draw)
    return [f"unknown key policy.{key}"]


def _m_fail_on(draw: Any, doc: dict[str, Any]) -> list[str]:
    from hypothesis import strategies as st

    value = draw(
        st.sampled_from(
            [
                "severe",
                "",
                "hgh",
                "none",
                3,
                0,
                -1,
                True,
                1.5,
                math.nan,
                [],
                ["high"],
                {"a": 1},
                dt.date(2027, 1, 1),
            ],
        ),
        label="fail_on",
    )
    _sub(doc, "policy")["fail_on"] = value
    return [f"policy.fail_on = {value!r}"]


def _m_required(draw: Any, doc: dict[str, Any]) -> list[str]:
    from hypothesis import strategies as st

    value = draw(
        st.sampled_from(
            [
                "baseline.performance",
                [1, 2],
                [["baseline.performance"]],
                {"a": 1},
                ["no.such"],
                ["no.such"] * 5000,
                [True],
                0,
            ],
        ),
        label="required",
    )
    _sub(doc, "policy")["required"] = value
    return [f"policy.required = {str(value)[:40]}"]


def _m_checks(draw: Any, doc: dict[str, Any]) -> list[str]:
    from hypothesis import strategies as st

    kind = draw(
        st.sampled_from(
            [
                "not-table",
                "check-not-table",
                "unknown-check",
                "unknown-param",
                "wrong-type",
                "out-of-range",
                "int-param-float",
            ]
        ),
        label="checks mutation",
    )
    if kind == "not-table":
        doc["checks"] = draw(st.sampled_from(["x", 1, [1], True]))
    elif kind == "check-not-table":
        _sub(doc, "checks")["baseline.performance"] = draw(st.sampled_from([5, "x", [], 0.5]))
    elif kind == "unknown-check":
        _sub(doc, "checks")[draw(st.sampled_from(["no.such", "baseline", ""]))] = {"a": 1}
    elif kind == "unknown-param":
        _sub(_sub(doc, "checks"), "baseline.performance")["min_acuracy"] = 0.5
    elif kind == "wrong-type":
        value = draw(st.sampled_from(["0.5", True, [0.5], {"v": 1}, dt.date(2027, 1, 1)]))
        _sub(_sub(doc, "checks"), "baseline.performance")["min_accuracy"] = value
    elif kind == "out-of-range":
        value = draw(st.sampled_from([-0.1, 1.5, math.nan, math.inf, -math.inf, 1e308]))
        _sub(_sub(doc, "checks"), "baseline.performance")["max_ece"] = value
    else:
        value = draw(st.sampled_from([0, -5, 1.5, math.nan, 2.0]))
        _sub(_sub(doc, "checks"), "baseline.performance")["batch_size"] = value
    return [f"checks mutation {kind}"]


def _m_thresholds(draw: Any, doc: dict[str, Any]) -> list[str]:
    from hypothesis import strategies as st

    kind = draw(
        st.sampled_from(
            [
                "not-table",
                "unknown-check",
                "unknown-metric",
                "spec-number",
                "unknown-key",
                "bound-type",
                "no-bounds",
                "severity",
                "nan-bound",
            ]
        ),
        label="thresholds mutation",
    )
    table = _sub(doc, "thresholds")
    spec: dict[str, Any] = {"min": 0.5}
    if kind == "not-table":
        doc["thresholds"] = draw(st.sampled_from(["x", 1, [1]]))
        return [f"thresholds mutation {kind}"]
    check, metric = "baseline.performance", "accuracy"
    if kind == "unknown-check":
        check = "no.such"
    elif kind == "unknown-metric":
        metric = draw(st.sampled_from(["accuracyy", "", "robust_accuracy.0.1"]))
    elif kind == "spec-number":
        table.setdefault(check, {})[metric] = 0.5
        return [f"thresholds mutation {kind}"]
    elif kind == "unknown-key":
        spec["maximum"] = 1
    elif kind == "bound-type":
        spec["min"] = draw(st.sampled_from(["0.5", True, [0.5], {"a": 1}, dt.date(2027, 1, 1)]))
    elif kind == "no-bounds":
        spec = {"severity": "high"}
    elif kind == "severity":
        spec["severity"] = draw(st.sampled_from(["urgent", "", 3, True, ["high"]]))
    else:
        spec[draw(st.sampled_from(["min", "max"]))] = math.nan
    table[check] = {metric: spec}
    return [f"thresholds mutation {kind}"]


def _m_suppress(draw: Any, doc: dict[str, Any]) -> list[str]:
    from hypothesis import strategies as st

    kind = draw(
        st.sampled_from(
            [
                "no-justification",
                "blank-justification",
                "justification-type",
                "titles-type",
                "expires-string",
                "expires-time",
                "unknown-key",
                "not-table",
            ]
        ),
        label="suppress mutation",
    )
    spec: dict[str, Any] = {"justification": "reviewed"}
    if kind == "no-justification":
        spec = {"titles": ["x"]}
    elif kind == "blank-justification":
        spec["justification"] = draw(st.sampled_from(["", "   ", "\t\n"]))
    elif kind == "justification-type":
        spec["justification"] = draw(st.sampled_from([5, True, ["a"], {"a": "b"}]))
    elif kind == "titles-type":
        spec["titles"] = draw(st.sampled_from(["x", [1], [["x"]], {"a": "b"}]))
    elif kind == "expires-string":
        spec["expires"] = draw(st.sampled_from(["2027-01-01", "tomorrow", ""]))
    elif kind == "expires-time":
        spec["expires"] = dt.time(7, 30)
    elif kind == "unknown-key":
        spec["until"] = dt.date(2027, 1, 1)
    else:
        spec = draw(st.sampled_from(["x", 1, [1]]))  # type: ignore[assignment]
    _sub(doc, "suppress")["baseline.performance"] = spec
    return [f"suppress mutation {kind}"]


def _m_hostile_but_maybe_valid(draw: Any, doc: dict[str, Any]) -> list[str]:
    """Odd values the contract does not clearly forbid: judged only by invariants 1, 3, 4."""
    from hypothesis import strategies as st

    kind = draw(
        st.sampled_from(
            [
                "huge-titles",
                "expires-datetime",
                "expired",
                "inf-bound",
                "extreme-bound",
                "many-thresholds",
            ]
        ),
        label="odd",
    )
    if kind == "huge-titles":
        _sub(doc, "suppress")[ODD] = {
            "justification": "j",
            "titles": [f"t{i}" for i in range(20_000)],
        }
    elif kind == "expires-datetime":
        when = draw(
            st.sampled_from(
                [dt.datetime(2027, 1, 1, 12, 0), dt.datetime(2027, 1, 1, 12, 0, tzinfo=dt.UTC)]
            )
        )
        _sub(doc, "suppress")[ODD] = {"justification": "j", "expires": when}
    elif kind == "expired":
        _sub(doc, "suppress")[ODD] = {"justification": "j", "expires": dt.date(2000, 1, 1)}
    elif kind == "inf-bound":
        _sub(doc, "thresholds")[ODD] = {"duplicate_rate": {"max": math.inf}}
    elif kind == "extreme-bound":
        bound = draw(st.sampled_from([1e308, -1e308, 5e-324, -0.0]))
        _sub(doc, "thresholds")[ODD] = {"duplicate_rate": {"min": bound}}
    else:
        metrics = ["n_rows", "duplicate_rows", "duplicate_rate", "conflicting_label_groups"]
        _sub(doc, "thresholds")[ODD] = {m: {"max": 1e9} for m in metrics}
    return []


def _sub(doc: dict[str, Any], key: str) -> dict[str, Any]:
    """``doc[key]`` as a fresh copy; a non-table value there is kept (a throwaway returned)."""
    value = doc.get(key, {})
    if not isinstance(value, dict):
        return {}
    doc[key] = dict(value)
    return doc[key]


MUTATIONS = {
    "unknown-top": _m_unknown_top,
    "unknown-policy-key": _m_unknown_policy_key,
    "fail_on": _m_fail_on,
    "required": _m_required,
    "checks": _m_checks,
    "thresholds": _m_thresholds,
    "suppress": _m_suppress,
}
