"""Property-based fuzz of the whole ``aiarmor`` command line: the net under every command.

Hypothesis draws argument lists for every command, hostile policy and gateway TOML, and small
hostile files (empty, random bytes, truncated or mis-shaped npz/npy, broken CSV, truncated
zip, pickle bytes, a folder where a file goes, a file where a folder goes, unwritable paths),
and drives the real entry point (``aiarmor.cli.main:main``) in process. For every example:

1. no Python traceback on stdout or stderr, and no "internal error" (reserved for real bugs);
2. input that is certainly bad exits 2 with a short reason on stderr - never 0 or 1;
3. no 0-length report file is left in ``--out``;
4. no hang (each call has :data:`fuzz_helpers.TIMEOUT_S`).

Most drawn inputs are invalid in at least one way, so the expensive paths (checks actually
running) are rare and use a 4-feature, 3-class model on 24 samples. Examples are derandomized
and there is no example database, so CI sees the same examples on every run.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))

from fuzz_helpers import (
    CHEAP_CHECKS,
    MUTATIONS,
    Case,
    Draw,
    assert_invariants,
    exists,
    good_csv,
    npz_bytes,
    policies,
    run_cli,
    toml_document,
    toy_xy,
)

FUZZ = settings(
    max_examples=int(os.environ.get("AIARMOR_FUZZ_EXAMPLES", "40")),
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    # no shrinking: a failure's message already names the whole command line, and shrinking
    # a CLI run costs minutes; the cost stays bounded whether the examples pass or fail
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

MODELS_PY = textwrap.dedent(
    """
    from torch import nn

    def build():
        return nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))

    def wrong_shape():
        return nn.Sequential(nn.Flatten(), nn.Linear(5, 3))

    def returns_none():
        return None

    def raises():
        raise RuntimeError("the factory failed")
    """
)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The valid artefacts every example may use (never written to by the CLI)."""
    return build_workspace(tmp_path_factory.mktemp("fuzz-ws"))


def build_workspace(root: Path) -> Path:
    """Write the tiny valid model, data, keys, signed model, ciphertext and audit log."""
    from safetensors.torch import save_file
    from torch import nn

    (root / "models.py").write_text(MODELS_PY)
    (root / "broken.py").write_text("def build(:\n    pass\n")
    torch.manual_seed(0)
    module = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    save_file(module.state_dict(), str(root / "weights.safetensors"))
    torch.save(module.state_dict(), root / "weights.pt")
    save_file({"w": torch.zeros(2, 2)}, str(root / "other.safetensors"))
    for name, seed in (("test", 0), ("train", 1)):
        x, y = toy_xy(seed=seed)
        x[-3:], y[-3:] = x[:3], y[:3]  # duplicates: data.duplicates has findings to suppress
        (root / f"{name}.npz").write_bytes(npz_bytes(x=x, y=y))
    (root / "test.csv").write_bytes(good_csv())
    (root / "train.csv").write_bytes(good_csv())
    _fairness_artefacts(root)
    model_dir = root / "model"
    model_dir.mkdir()
    (model_dir / "weights.bin").write_bytes(os.urandom(256))
    (root / "plain.bin").write_bytes(os.urandom(300))
    for argv in (
        ["keygen", "--out", root / "signer"],  # the artefacts come from the CLI too
        ["keygen", "--algorithm", "ecdsa-p256", "--out", root / "other"],
        ["keygen", "--symmetric", "--out", root / "master"],
        ["sign", model_dir, "--key", root / "signer.key"],
        ["encrypt", root / "plain.bin", "--key", root / "master.master.key"],
    ):
        done = run_cli([str(a) for a in argv], cwd=root)
        assert done.code == 0, (argv, done.err)
    (root / "secret.bin").write_bytes(os.urandom(32))
    (root / "short-secret.bin").write_bytes(b"short")
    _audit_log(root)
    return root


def _fairness_artefacts(root: Path) -> None:
    import skops.io
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    for name in ("fair-train", "fair-test"):
        x = rng.random((60, 4)).astype(np.float32)
        y = (x[:, 0] > 0.5).astype(np.int64)
        sex = rng.integers(0, 2, 60)
        (root / f"{name}.npz").write_bytes(npz_bytes(x=x, y=y, sensitive_sex=sex))
    fit = np.load(root / "fair-train.npz")
    skops.io.dump(LogisticRegression().fit(fit["x"], fit["y"]), root / "clf.skops")


def _audit_log(root: Path) -> None:
    pytest.importorskip("sqlalchemy")
    from aiarmor.serving.auditlog import AuditEntry, AuditLog

    key = base64.b64encode(os.urandom(32))
    (root / "audit.key").write_bytes(key + b"\n")
    with AuditLog(f"sqlite:///{root / 'audit.db'}", key) as log:
        log.append(AuditEntry(1.7e9, "alice", "m", "predict", "", "{}", "allowed", 200, {}))


@pytest.fixture
def example_dir() -> Iterator[Any]:
    """A factory of fresh folders, one per hypothesis example (tmp_path is per test)."""
    with tempfile.TemporaryDirectory(prefix="aiarmor-fuzz-") as root:
        counter = iter(range(10**9))

        def make() -> Path:
            path = Path(root) / f"ex{next(counter)}"
            path.mkdir()
            return path

        yield make


def _run(case: Case, cwd: Path) -> None:
    assert_invariants(case, run_cli(case.argv, cwd=cwd, env=case.env))


# ---------------------------------------------------------------------------------------------
# audit


@FUZZ
@given(data=st.data())
def test_audit(data: Any, ws: Path, example_dir: Any) -> None:
    tmp = example_dir()
    case = Case(["audit"])
    d = Draw(data, ws, tmp, case)
    d.torch_model()
    fmt = d.dataset("--data")
    if fmt == "omit":
        case.bad("no --data")
    train = d.dataset("--train", good="train") if d.pick([True, False], "train?") else None
    if "csv" in (fmt, train):
        label = d.pick(["y", "y", "nope", "omit"], "label")
        if label == "nope":
            case.bad("--label names no column")
        if label == "omit":
            case.bad("a table without --label")
        if label != "omit":
            d.opt("--label", label)
    if d.pick([False, False, True], "sensitive?"):
        case.bad("--sensitive names an attribute the data does not have")
        d.opt("--sensitive", d.pick(["sex", "", "y\x00"], "sensitive name"))
    d.bounds()
    d.checks(CHEAP_CHECKS)
    d.budget()
    d.policy()
    if d.pick([False, False, False, True], "seed?"):
        d.opt("--seed", d.draw(st.integers(-(2**70), 2**70), "seed"))
    n_classes = 3
    if d.pick([False, False, False, True], "n-classes?"):
        n_classes = d.draw(st.integers(-5, 10**20), "n classes")
        d.opt("--n-classes", n_classes)
    d.out_dir()
    # (a model with 3 outputs told --n-classes otherwise may refuse)
    if not case.defects and n_classes == 3 and not case.uncertain:
        case.allowed = frozenset({0, 1})
    _run(case, tmp)


@pytest.mark.parametrize("mutation", ["none", "odd", *sorted(MUTATIONS)])
@settings(FUZZ, max_examples=max(4, FUZZ.max_examples // 3))
@given(data=st.data())
def test_audit_policy(mutation: str, data: Any, ws: Path, example_dir: Any) -> None:
    """A valid tiny audit whose only hostile part is the policy (checked after model load)."""
    tmp = example_dir()
    case = Case(
        [
            "audit",
            "--model",
            f"{ws}/models.py:build",
            "--weights",
            str(ws / "weights.safetensors"),
            "--data",
            str(ws / "test.npz"),
            "--train",
            str(ws / "train.npz"),
            "--bounds",
            "0,1",
            "--budget",
            "quick",
        ]
    )
    d = Draw(data, ws, tmp, case)
    d.opt("--checks", ",".join(CHEAP_CHECKS))  # both cheap; both have findings to suppress
    case.allowed = frozenset({0, 1})
    text, defects = d.draw(policies(mutation), "policy")
    case.add_policy_defects(defects)
    d.opt("--policy", d.write("policy.toml", text.encode("utf-8")))
    d.out_dir()
    _run(case, tmp)


RARE_POLICIES = {
    # (policy text, certainly bad?): corners the drawn policies reach only now and then
    "nan-min": ('thresholds = {"baseline.performance" = {"accuracy" = {"min" = nan}}}', True),
    "nan-max": ('thresholds = {"data.duplicates" = {"duplicate_rate" = {"max" = nan}}}', True),
    "datetime-expires": (
        'suppress = {"data.duplicates" = {justification = "j", expires = 2099-01-01T12:00:00Z}}',
        False,
    ),
    "local-datetime-expires": (
        'suppress = {"baseline.performance" = {justification="j", expires=2099-01-01T00:00:00}}',
        False,
    ),
}


@pytest.mark.parametrize("name", sorted(RARE_POLICIES))
def test_audit_policy_rare_corners(name: str, ws: Path, example_dir: Any) -> None:
    tmp = example_dir()
    text, bad = RARE_POLICIES[name]
    (tmp / "policy.toml").write_text(text + "\n")
    case = Case(["audit", "--model", f"{ws}/models.py:build", "--weights",
                 str(ws / "weights.safetensors"), "--data", str(ws / "test.npz"),
                 "--checks", ",".join(CHEAP_CHECKS), "--budget", "quick",
                 "--policy", str(tmp / "policy.toml"), "--out", str(tmp / "out")])  # fmt: skip
    case.out_dirs.append(tmp / "out")
    if bad:
        case.bad(f"policy {name}: a NaN bound can never be violated, so it silently passes")
    else:
        case.allowed = frozenset({0, 1})
    _run(case, tmp)


# ---------------------------------------------------------------------------------------------
# scan


@FUZZ
@given(data=st.data())
def test_scan(data: Any, ws: Path, example_dir: Any) -> None:
    tmp = example_dir()
    case = Case(["scan"])
    d = Draw(data, ws, tmp, case)
    missing = False
    for _ in range(d.draw(st.integers(0, 3), "n paths")):
        kind = d.pick(["hostile", "good"], "scan path")
        if kind == "good":
            case.argv.append(
                str(
                    ws
                    / d.pick(
                        ["weights.safetensors", "weights.pt", "model", "test.npz", "clf.skops"],
                        "good path",
                    )
                )
            )
            continue
        suffix = d.pick([".pt", ".pkl", ".zip", ".npz", ".safetensors", ".onnx", ""], "suffix")
        path = d.hostile_path(suffix, "scan target")
        case.defects.pop()  # a file the scanner cannot parse is a finding (exit 1), not bad input
        if not exists(path):
            missing = True
        case.argv.append(str(path))
    if len(case.argv) == 1:
        case.bad("nothing to scan")
    if missing:
        case.bad("a path to scan does not exist")
    fmt = d.pick(["text", "json", "sarif", "xml", "", "JSON"], "format")
    if fmt not in ("text", "json", "sarif"):
        case.bad(f"--format {fmt!r}")
    d.opt("--format", fmt)
    if d.pick([True, False], "out?"):
        kind = d.pick(["fresh", "is-a-dir", "under-a-file", "long-name"], "scan out")
        out = d.fresh("scan.json")
        if kind == "is-a-dir":
            out.mkdir()
            case.bad("--out is a folder")
        elif kind == "under-a-file":
            out = d.write("a-file", b"x") / "scan.json"
            case.bad("--out is under a file")
        elif kind == "long-name":
            out = tmp / ("n" * 300)
            case.bad("--out name too long")
        d.opt("--out", out)
    _run(case, tmp)


# ---------------------------------------------------------------------------------------------
# keygen, sign, verify


@FUZZ
@given(data=st.data())
def test_keygen(data: Any, ws: Path, example_dir: Any) -> None:
    tmp = example_dir()
    case = Case(["keygen"])
    d = Draw(data, ws, tmp, case)
    symmetric = d.pick([False, True], "symmetric")
    if symmetric:
        case.argv.append("--symmetric")
    kind = d.pick(
        ["fresh", "fresh", "exists", "under-a-file", "is-a-dir", "long-name", "omit"], "prefix"
    )
    prefix = d.fresh("signer")
    if kind == "exists":
        suffixes = [".master.key"] if symmetric else [".key", ".pub"]
        d.pick(suffixes, "which exists")
        for s in suffixes:
            Path(f"{prefix}{s}").write_text("old")
        case.bad("the key files exist")
    elif kind == "under-a-file":
        prefix = d.write("a-file", b"x") / "signer"
        case.bad("--out is under a file")
    elif kind == "is-a-dir":
        prefix.mkdir()
        Path(f"{prefix}.key" if not symmetric else f"{prefix}.master.key").mkdir()
        case.bad("the key path is a folder")
    elif kind == "long-name":
        prefix = tmp / ("n" * 300)
        case.bad("--out name too long")
    if kind == "omit":
        case.bad("no --out")
    else:
        d.opt("--out", prefix)
    alg = d.pick(["ed25519", "ecdsa-p256", "rsa", "", "ED25519x"], "algorithm")
    if alg not in ("ed25519", "ecdsa-p256") and not symmetric:
        case.bad(f"--algorithm {alg!r}")
    d.opt("--algorithm", alg)
    if d.pick([False, True], "passphrase?"):
        name = "FUZZ_PASSPHRASE"
        d.opt("--passphrase-env", name)
        value = d.pick(["set", "unset", "empty"], "passphrase value")
        if value == "set":
            case.env[name] = "correct horse battery staple"
        elif value == "empty":
            case.env[name] = ""
            case.bad("the passphrase variable is empty")
        else:
            case.bad("the passphrase variable is not set")
        if symmetric:
            case.bad("--passphrase-env with --symmetric")
    _run(case, tmp)


@FUZZ
@given(data=st.data())
def test_sign_and_verify(data: Any, ws: Path, example_dir: Any) -> None:
    tmp = example_dir()
    command = data.draw(st.sampled_from(["sign", "verify"]), label="command")
    case = Case([command])
    d = Draw(data, ws, tmp, case)
    target = d.pick(["copy", "hostile", "omit"], "target")
    if target == "copy":
        model = tmp / "model"
        model.mkdir()
        (model / "weights.bin").write_bytes((ws / "model" / "weights.bin").read_bytes())
        sig = (ws / "model.aiarmor-sig.json").read_bytes()
        (tmp / "model.aiarmor-sig.json").write_bytes(sig)
        case.argv.append(str(model))
    elif target == "hostile":
        path = d.hostile_path(d.pick(["", ".bin", ".safetensors"], "suffix"), "model path")
        if exists(path) and command == "sign":
            case.defects.pop()  # any existing file or folder can be signed
        elif exists(path):
            case.defects.pop()
            case.allowed = frozenset({1, 2})  # it has no signature beside it: not verified
        case.argv.append(str(path))
    else:
        case.bad("no PATH")
    key_flag = "--key" if command == "sign" else "--pub"
    good_key = ws / ("signer.key" if command == "sign" else "signer.pub")
    kind = d.pick(["good", "good", "other-kind", "hostile", "omit"], "key")
    if kind == "good":
        d.opt(key_flag, good_key)
    elif kind == "other-kind":
        d.opt(key_flag, ws / ("signer.pub" if command == "sign" else "signer.key"))
        if command == "sign":
            case.bad("--key is a public key")
        else:  # a private key file where the public key goes
            case.bad("--pub is a private key")
    elif kind == "hostile":
        d.opt(key_flag, d.hostile_path(".pem", key_flag))
    else:
        case.bad(f"no {key_flag}")
    if command == "verify" and kind == "good" and target == "copy":
        if d.pick([False, True], "tamper"):
            (tmp / "model" / "weights.bin").write_bytes(b"tampered")
            case.allowed = frozenset({1})
        else:
            case.allowed = frozenset({0})
    if d.pick([False, True], "signature?"):
        sig_kind = d.pick(["garbage", "json", "dir", "under-a-file", "missing"], "signature")
        if sig_kind == "garbage":
            path = d.write("sig.json", d.draw(st.binary(max_size=300), "sig bytes"))
        elif sig_kind == "json":
            value = d.draw(
                st.recursive(
                    st.none() | st.integers() | st.text(max_size=8),
                    lambda v: (
                        st.lists(v, max_size=3)
                        | st.dictionaries(st.text(max_size=8), v, max_size=3)
                    ),
                    max_leaves=6,
                ),
                "sig json",
            )
            path = d.write("sig.json", json.dumps(value).encode())
        elif sig_kind == "dir":
            path = d.fresh("sig.json")
            path.mkdir()
        elif sig_kind == "under-a-file":
            path = d.write("a-file", b"x") / "sig.json"
        else:
            path = d.fresh("absent-sig.json")
        d.opt("--signature", path)
        if command == "sign":
            if sig_kind in ("dir", "under-a-file"):
                case.bad(f"--signature {sig_kind}")  # (an existing bundle is re-signed)
        else:
            # an unusable bundle fails verification (1) or is bad input (2), never 0
            if not case.defects:
                case.allowed = frozenset({1, 2})
    _run(case, tmp)


# ---------------------------------------------------------------------------------------------
# encrypt, decrypt


@FUZZ
@given(data=st.data())
def test_encrypt_and_decrypt(data: Any, ws: Path, example_dir: Any) -> None:
    tmp = example_dir()
    command = data.draw(st.sampled_from(["encrypt", "decrypt"]), label="command")
    case = Case([command])
    d = Draw(data, ws, tmp, case)
    target = d.pick(["good", "good", "hostile", "tampered", "omit"], "target")
    source = ws / ("plain.bin" if command == "encrypt" else "plain.bin.aiarmor-enc")
    if target == "good":
        path = tmp / source.name
        path.write_bytes(source.read_bytes())
        case.argv.append(str(path))
    elif target == "tampered":
        blob = bytearray(source.read_bytes())
        cut = d.draw(st.integers(0, len(blob) - 1), "where")
        blob = blob[:cut] if d.pick([True, False], "truncate") else blob
        if cut < len(blob):
            blob[cut] ^= 0x41
        path = tmp / source.name
        path.write_bytes(bytes(blob))
        if command == "decrypt":
            case.bad("tampered ciphertext")
        case.argv.append(str(path))
    elif target == "hostile":
        path = d.hostile_path(".aiarmor-enc", "input")
        if exists(path) and command == "encrypt":
            case.defects.pop()  # any file or folder can be encrypted
        case.argv.append(str(path))
    else:
        case.bad("no PATH")
    key = d.pick(["file", "file", "env", "env-bad", "hostile", "none"], "key")
    if key == "file":
        d.opt("--key", ws / "master.master.key")
    elif key == "env":
        case.env["AIARMOR_MASTER_KEY"] = (ws / "master.master.key").read_text().strip()
    elif key == "env-bad":
        case.env["AIARMOR_MASTER_KEY"] = d.pick(
            ["", "not base64!", "c2hvcnQ=", "A" * 4000], "env key"
        )
        case.bad("$AIARMOR_MASTER_KEY is not a master key")
    elif key == "hostile":
        d.opt("--key", d.hostile_path(".master.key", "--key"))
    else:
        case.bad("no key at all")
    if command == "decrypt" and key in ("file", "env") and target == "good":
        case.allowed = frozenset({0})
    if d.pick([True, False], "out?"):
        kind = d.pick(["fresh", "exists", "is-a-dir", "under-a-file", "long-name"], "out")
        out = d.fresh("out.bin")
        if kind == "exists":
            out.write_bytes(b"old")
            if not d.pick([False, True], "force"):
                case.bad("--out exists without --force")
            else:
                case.argv.append("--force")
        elif kind == "is-a-dir":
            out.mkdir()
            case.bad("--out is a folder")
        elif kind == "under-a-file":
            out = d.write("a-file", b"x") / "out.bin"
            case.bad("--out is under a file")
        elif kind == "long-name":
            out = tmp / ("n" * 300)
            case.bad("--out name too long")
        d.opt("--out", out)
    elif command == "decrypt" and target == "hostile":
        case.bad("the input does not end in .aiarmor-enc or is unusable")
    _run(case, tmp)


# ---------------------------------------------------------------------------------------------
# checks, init, stray arguments


@FUZZ
@given(data=st.data())
def test_checks_init_and_stray_arguments(data: Any, ws: Path, example_dir: Any) -> None:
    tmp = example_dir()
    d = Draw(data, ws, tmp, Case([]))
    kind = d.pick(["checks", "init", "stray"], "command")
    case = d.case
    if kind == "checks":
        case.argv = ["checks", *d.pick([[], ["--json"]], "json")]
        if d.pick([False, True], "extra"):
            case.argv.append(d.draw(st.text(min_size=1, max_size=8), "extra arg"))
            case.bad("an unexpected argument")
        else:
            case.allowed = frozenset({0})
    elif kind == "init":
        case.argv = ["init"]
        where = d.pick(["fresh", "exists", "is-a-dir", "under-a-file", "long-name"], "path")
        path = d.fresh("policy.toml")
        force = d.pick([False, True], "force")
        if where == "exists":
            path.write_text("old")
            if not force:
                case.bad("the policy file exists")
        elif where == "is-a-dir":
            path.mkdir()
            case.bad("the policy path is a folder")
        elif where == "under-a-file":
            path = d.write("a-file", b"x") / "policy.toml"
            case.bad("the policy path is under a file")
        elif where == "long-name":
            path = tmp / ("n" * 300)
            case.bad("the policy name is too long")
        case.argv += [str(path), *(["--force"] if force else [])]
        if not case.defects:
            case.allowed = frozenset({0})
    else:
        words = [
            "audit",
            "scan",
            "harden",
            "audit-log",
            "serve",
            "keys",
            "--bogus",
            "-x",
            "",
            "--out",
            "--model",
            "\x1b[31m",
            "fairness",
            "verify",
        ]
        case.argv = d.draw(st.lists(st.sampled_from(words), min_size=1, max_size=4), "argv")
        if case.argv[0] not in ("audit", "scan", "harden", "audit-log", "serve", "keys"):
            case.bad("no such command")
        elif len(case.argv) == 1 or "--bogus" in case.argv or "-x" in case.argv:
            case.bad("a command without its required options, or an unknown option")
    _run(case, tmp)


# ---------------------------------------------------------------------------------------------
# harden fairness | adversarial | dp | sanitize


def _number(d: Draw, name: str, good: list[float], bad: list[float]) -> None:
    """``--name VALUE`` from good (tiny, fast) or bad values."""
    value = d.pick([*good, *bad], name)
    if value in bad or value != value:
        d.case.bad(f"--{name} {value!r}")
    d.opt(f"--{name}", value)


BAD_FLOATS = [0.0, -1.0, float("nan"), float("inf"), float("-inf")]


@settings(FUZZ, max_examples=max(4, FUZZ.max_examples // 2))
@given(data=st.data())
def test_harden(data: Any, ws: Path, example_dir: Any) -> None:
    tmp = example_dir()
    which = data.draw(st.sampled_from(["fairness", "adversarial", "dp", "sanitize"]), label="h")
    case = Case(["harden", which])
    d = Draw(data, ws, tmp, case)
    {"fairness": _fairness, "adversarial": _adversarial, "dp": _dp, "sanitize": _sanitize}[which](d)
    d.budget()
    d.policy()
    d.out_dir()
    # rare: all valid (a tiny model, one epoch, the quick budget); the tiny data may still be
    # too small for a hardening (exit 2 with a reason), so 0, 1 and 2 are all fine then
    _run(case, tmp)


@settings(FUZZ, max_examples=max(2, FUZZ.max_examples // 8))
@given(data=st.data())
def test_harden_unusable_out(data: Any, ws: Path, example_dir: Any) -> None:
    """Valid, tiny hardenings whose --out cannot be written: exit 2, never a crash."""
    tmp = example_dir()
    which = data.draw(st.sampled_from(["fairness", "sanitize"]), label="h")
    if which == "fairness":
        argv = [
            "harden",
            "fairness",
            "--model",
            str(ws / "clf.skops"),
            "--data",
            str(ws / "fair-test.npz"),
            "--train",
            str(ws / "fair-train.npz"),
            "--sensitive",
            "sex",
        ]
    else:
        argv = [
            "harden",
            "sanitize",
            "--model",
            f"{ws}/models.py:build",
            "--weights",
            str(ws / "weights.safetensors"),
            "--train",
            str(ws / "fair-train.npz"),
            "--data",
            str(ws / "test.npz"),
            "--epochs",
            "1",
        ]
    case = Case([*argv, "--budget", "quick"])
    d = Draw(data, ws, tmp, case)
    kind = d.pick(["is-a-file", "under-a-file", "long-name"], "out")
    out = {
        "is-a-file": lambda: d.write("out-file", b"x"),
        "under-a-file": lambda: d.write("out-file", b"x") / "out",
        "long-name": lambda: tmp / ("n" * 300),
    }[kind]()
    case.bad(f"--out {kind}")
    d.opt("--out", out)
    _run(case, tmp)


def _fairness(d: Draw) -> None:
    kind = d.pick(["skops", "skops", "torch", "hostile"], "model")
    if kind == "skops":
        d.opt("--model", d.ws / "clf.skops")
    elif kind == "torch":
        d.opt("--model", f"{d.ws}/models.py:build")
        d.case.bad("harden fairness with a torch model")
    else:
        d.opt("--model", d.hostile_path(".skops", "--model"))
    for flag, good in (("--data", "fair-test"), ("--train", "fair-train")):
        if d.dataset(flag, csv=False, good=good) == "omit":
            d.case.bad(f"no {flag}")
    sensitive = d.pick(["sex", "sex", "race", "omit"], "sensitive")
    if sensitive == "omit":
        d.case.bad("no --sensitive")
    else:
        d.opt("--sensitive", sensitive)
        if sensitive == "race":
            d.case.bad("--sensitive names an attribute the data does not have")
    method = d.pick(["threshold", "reductions", "magic", ""], "method")
    if method not in ("threshold", "reductions"):
        d.case.bad(f"--method {method!r}")
    d.opt("--method", method)
    constraint = d.pick(["demographic_parity", "equalized_odds", "parity", ""], "constraint")
    if constraint not in ("demographic_parity", "equalized_odds"):
        d.case.bad(f"--constraint {constraint!r}")
    d.opt("--constraint", constraint)
    if d.pick([False, True], "eps?"):
        value = d.pick([0.01, -0.5, float("nan"), float("inf")], "eps")
        d.opt("--eps", value)
        if value != 0.01 and method == "reductions":
            d.case.bad(f"--eps {value} for reductions")
    if d.pick([False, True], "attribute?"):
        d.opt("--attribute", "nope")
        d.case.bad("--attribute is not a --sensitive attribute")


def _torch_harden_common(d: Draw) -> None:
    d.torch_model(weights_required=False)
    train = "fair-train" if d.case.argv[1] == "sanitize" else "train"  # sanitize needs 20/class
    for flag, good in (("--train", train), ("--data", "test")):
        if d.dataset(flag, csv=False, good=good) == "omit":
            d.case.bad(f"no {flag}")


def _adversarial(d: Draw) -> None:
    _torch_harden_common(d)
    _number(d, "eps", [0.05], [0.0, -0.1, float("nan"), float("inf"), 1e9])
    d.bounds()
    method = d.pick(["pgd", "trades", "fgsm", ""], "method")
    if method not in ("pgd", "trades"):
        d.case.bad(f"--method {method!r}")
    d.opt("--method", method)
    norm = d.pick(["linf", "l2", "l1", "inf"], "norm")
    if norm not in ("linf", "l2"):
        d.case.bad(f"--norm {norm!r}")
    d.opt("--norm", norm)
    _number(d, "epochs", [1], [0, -1])
    _number(d, "steps", [1], [0, -3])
    _number(d, "batch-size", [16], [0, -1])
    _number(d, "lr", [0.01], BAD_FLOATS)
    if d.pick([False, True], "beta?"):
        _number(d, "beta", [6.0], [-1.0, float("nan"), float("inf")])
    if d.pick([False, True], "warmup?"):
        _number(d, "warmup", [0.0, 0.5], [-1.0, float("nan"), float("inf")])
    d.checks(["baseline.performance"], required=False)


def _dp(d: Draw) -> None:
    _torch_harden_common(d)
    _number(d, "epsilon", [3.0], BAD_FLOATS)
    if d.pick([False, True], "delta?"):
        _number(d, "delta", [1e-3], [0.0, 1.0, -0.1, 2.0, float("nan")])
    accountant = d.pick(["prv", "rdp", "gdp", ""], "accountant")
    if accountant not in ("prv", "rdp"):
        d.case.bad(f"--accountant {accountant!r}")
    d.opt("--accountant", accountant)
    _number(d, "max-grad-norm", [1.0], BAD_FLOATS)
    _number(d, "epochs", [1], [0, -2])
    _number(d, "batch-size", [16], [0, -1])
    _number(d, "lr", [0.01], BAD_FLOATS)
    if not d.case.defects:  # a real DP-SGD run and its membership audits take ~20 s: the
        _number(d, "epsilon", [], BAD_FLOATS)  # last --epsilon wins, and this one is bad


def _sanitize(d: Draw) -> None:
    _torch_harden_common(d)
    method = d.pick(["spectral", "activation_clustering", "both", "pca", ""], "method")
    if method not in ("spectral", "activation_clustering", "both"):
        d.case.bad(f"--method {method!r}")
    d.opt("--method", method)
    _number(d, "epochs", [1], [0, -1])
    _number(d, "lr", [0.01], BAD_FLOATS)
    trigger = d.pick(
        [
            "omit",
            "badnets",
            "badnets:2:1.0",
            "badnets:0",
            "badnets:x",
            "blend",
            "badnets:1:2:3",
            "badnets:2:nan",
        ],
        "trigger",
    )
    target = d.pick(["omit", 0, 2, -1, 3, 10**12], "target class")
    if trigger != "omit":
        d.opt("--trigger", trigger)
        if trigger not in ("badnets", "badnets:2:1.0"):
            d.case.bad(f"--trigger {trigger!r}")
    if target != "omit":
        d.opt("--target-class", target)
        if target not in (0, 2):
            d.case.bad(f"--target-class {target}")
    if (trigger == "omit") != (target == "omit"):
        d.case.bad("--trigger and --target-class go together")


# ---------------------------------------------------------------------------------------------
# audit-log verify


@FUZZ
@given(data=st.data())
def test_audit_log_verify(data: Any, ws: Path, example_dir: Any) -> None:
    pytest.importorskip("sqlalchemy")
    tmp = example_dir()
    case = Case(["audit-log", "verify"])
    d = Draw(data, ws, tmp, case)
    db = d.pick(["good", "good", "hostile", "empty-sqlite", "url"], "db")
    if db == "good":
        copy = tmp / "audit.db"
        copy.write_bytes((ws / "audit.db").read_bytes())
        d.opt("--db", f"sqlite:///{copy}")
    elif db == "hostile":
        d.opt("--db", f"sqlite:///{d.hostile_path('.db', '--db')}")
    elif db == "empty-sqlite":
        import sqlite3

        path = tmp / "other.db"
        sqlite3.connect(path).execute("CREATE TABLE t (a)").connection.close()
        d.opt("--db", f"sqlite:///{path}")
        case.bad("no audit log in the database")
    else:
        url = d.pick(
            [
                "",
                "nosuch://x",
                "sqlite://",
                "postgresql://",
                "sqlite:////proc/x.db",
                "mysql://u@127.0.0.1:1/db",
                "not a url",
            ],
            "url",
        )
        d.opt("--db", url)
        case.bad(f"--db {url!r}")
    key = d.pick(["file", "file", "env", "hostile-file", "wrong-key", "both", "none"], "key")
    if key in ("file", "both"):
        d.opt("--key-file", ws / "audit.key")
    if key in ("env", "both"):
        d.opt("--key-env", "FUZZ_AUDIT_KEY")
        case.env["FUZZ_AUDIT_KEY"] = (ws / "audit.key").read_text().strip()
    if key == "both":
        case.bad("both --key-file and --key-env")
    elif key == "none":
        case.bad("no key")
    elif key == "hostile-file":
        d.opt("--key-file", d.hostile_path(".key", "--key-file"))
    elif key == "wrong-key":
        d.opt("--key-file", d.write("wrong.key", base64.b64encode(os.urandom(32))))
        if not case.defects:
            case.allowed = frozenset({1})  # a wrong key makes every MAC mismatch: tampered
    if d.pick([False, True], "table prefix?"):
        prefix = d.pick(["aiarmor_audit", "nope", "", "x; DROP TABLE y", "a" * 500], "prefix")
        if prefix != "aiarmor_audit":
            case.bad(f"--table-prefix {prefix!r} names no log")
        d.opt("--table-prefix", prefix)
    if d.pick([False, True], "checkpoint?"):
        body = d.pick(
            [
                '{"seq": 1}',
                "{}",
                "[]",
                "null",
                '{"seq": "x", "mac": 1, "time": "t", "tag": 2}',
                "\xff",
                '{"seq": 99, "mac": "00", "time": 0, "tag": "t"}',
            ],
            "checkpoint",
        )
        d.opt("--checkpoint", d.write("cp.json", body.encode("utf-8", "surrogateescape")))
        if body.startswith('{"seq": 99'):
            if not case.defects:
                case.allowed = frozenset({1})  # a head the log does not have: tampered
        else:
            case.bad("the checkpoint is not a checkpoint")
    if not case.defects and case.allowed == frozenset({0, 1, 2}):
        case.allowed = frozenset({0})
    _run(case, tmp)


# ---------------------------------------------------------------------------------------------
# serve --config


def _gateway_base(ws: Path) -> dict[str, Any]:
    return {
        "server": {"host": "127.0.0.1", "port": 8765},
        "auth": {
            "key_store": "sqlite:///keys.db",
            "server_secret": {"file": str(ws / "secret.bin")},
        },
        "audit": {"url": "sqlite:///audit.db", "key": {"file": str(ws / "secret.bin")}},
    }


def _gateway_mutation(d: Draw, doc: dict[str, Any]) -> None:
    """One certain defect in an otherwise valid gateway config."""
    ws = d.ws
    kind = d.pick(sorted(GATEWAY_MUTATIONS), "gateway mutation")
    where, key, value = GATEWAY_MUTATIONS[kind]
    if callable(value):
        value = value(ws)
    if where is None:
        doc[key] = value
    elif where == "-":
        doc.pop(key, None)
    else:
        section = dict(doc.get(where, {}))
        section[key] = value
        doc[where] = section
    d.case.bad(f"gateway: {kind}")


def _model_entry(**overrides: Any) -> Any:
    def make(ws: Path) -> list[dict[str, Any]]:
        entry: dict[str, Any] = {
            "name": "m",
            "path": str(ws / "weights.safetensors"),
            "spec": f"{ws}/models.py:build",
            "input": {"shape": [4]},
        }
        entry.update(overrides)
        return [entry]

    return make


GATEWAY_MUTATIONS: dict[str, tuple[str | None, str, Any]] = {
    "unknown-top": (None, "servre", {"port": 1}),
    "base_dir": (None, "base_dir", "/"),
    "port-string": ("server", "port", "eighty"),
    "port-negative": ("server", "port", -1),
    "port-huge": ("server", "port", 70000),
    "port-nan": ("server", "port", float("nan")),
    "port-float": ("server", "port", 80.5),
    "host-int": ("server", "host", 127),
    "unknown-server-key": ("server", "threads", 4),
    "body-zero": ("server", "max_body_bytes", 0),
    "threads-zero": ("server", "inference_threads", 0),
    "tls-half": ("server", "tls_cert", "cert.pem"),
    "server-not-table": (None, "server", "x"),
    "no-auth": ("-", "auth", None),
    "no-audit": ("-", "audit", None),
    "inline-secret": ("auth", "server_secret", "hunter2hunter2hunter2"),
    "secret-both": ("auth", "server_secret", {"file": "a", "env": "B"}),
    "secret-missing-file": ("auth", "server_secret", {"file": "no-such-secret"}),
    "secret-short": ("auth", "server_secret", lambda ws: {"file": str(ws / "short-secret.bin")}),
    "secret-unset-env": ("auth", "server_secret", {"env": "FUZZ_NO_SUCH_VAR_ZZ"}),
    "secret-dir": ("auth", "server_secret", lambda ws: {"file": str(ws)}),
    "key-store-url": ("auth", "key_store", "nosuch://db"),
    "jwt-none": ("auth", "jwt", {"algorithms": ["none"], "issuer": "i", "audience": "a"}),
    "jwt-mixed": (
        "auth",
        "jwt",
        {"algorithms": ["HS256", "RS256"], "issuer": "i", "audience": "a", "secret": {"env": "X"}},
    ),
    "cache-nan": ("auth", "key_cache_seconds", float("nan")),
    "rate-zero": ("limits", "rate", 0),
    "rate-nan": ("limits", "rate", float("nan")),
    "burst-zero": ("limits", "burst", 0),
    "backend": ("limits", "backend", "etcd"),
    "throttle-nan": ("detection", "throttle_seconds", float("nan")),
    "action": ("detection", "actions", {"blacklight": "explode"}),
    "audit-url": ("audit", "url", "sqlite:////proc/no/audit.db"),
    "audit-url-scheme": ("audit", "url", "nosuch://x"),
    "models-not-list": (None, "models", "m"),
    "model-bad-name": (None, "models", _model_entry(name="../etc")),
    "model-shape-empty": (None, "models", _model_entry(input={"shape": []})),
    "model-shape-negative": (None, "models", _model_entry(input={"shape": [-4]})),
    "model-shape-huge": (None, "models", _model_entry(input={"shape": [1 << 20, 1 << 20]})),
    "model-missing-path": (None, "models", _model_entry(path="no-such-model.pt")),
    "model-no-default-role": (None, "models", _model_entry(output={"admin": {}})),
    "model-dtype": (None, "models", _model_entry(input={"shape": [4], "dtype": "float8"})),
    "model-range": (None, "models", _model_entry(input={"shape": [4], "min": 1, "max": 0})),
    "model-unsigned": (None, "models", _model_entry()),
    "model-bad-spec": (None, "models", _model_entry(spec="no_such_mod_zz:build")),
    "model-n-classes": (None, "models", _model_entry(n_classes=1)),
    "model-strip-missing": (None, "models", _model_entry(strip={"reference": "nope.npz"})),
}
"""name -> (section or None for top level or "-" to delete, key, value or value(ws))."""


@FUZZ
@given(data=st.data())
def test_serve_config(data: Any, ws: Path, example_dir: Any) -> None:
    pytest.importorskip("fastapi")
    tmp = example_dir()
    case = Case(["serve", "--config"])
    d = Draw(data, ws, tmp, case)
    kind = d.pick(["mutated", "mutated", "mutated", "hostile-file", "random-toml"], "config")
    if kind == "hostile-file":
        case.argv.append(str(d.hostile_path(".toml", "--config")))
    else:
        doc = _gateway_base(ws)
        if kind == "random-toml":
            doc = d.draw(
                st.dictionaries(
                    st.sampled_from(["server", "auth", "audit", "limits", "models", "x"]),
                    st.integers()
                    | st.text(max_size=5)
                    | st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
                    max_size=4,
                ),
                "random gateway doc",
            )
            case.bad("gateway: random document (auth and audit are required tables)")
        else:
            _gateway_mutation(d, doc)
        case.argv.append(str(d.write("gateway.toml", toml_document(doc).encode())))
    if d.pick([False, False, True], "override?"):
        port = d.pick([8080, -1, 70000], "port override")
        d.opt("--port", port)
        if port != 8080:
            case.bad(f"--port {port}")
    _run(case, tmp)
