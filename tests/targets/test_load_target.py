"""load_target: every supported SPEC form loads and predicts exactly like the original model."""

import sys
import warnings

import numpy as np
import pytest
import skops.io
import torch
from safetensors.torch import save_file
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from aiarmor.core.errors import ConfigError, ModelLoadError, UnsafeModelError
from aiarmor.targets import (
    CallableTarget,
    SklearnTarget,
    TorchTarget,
    capabilities,
    load_target,
)

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")


@pytest.fixture(scope="module")
def exported_pt2(tmp_path_factory, make_net):
    """A torch.export archive of the seeded Net (exported once: export is slow to warm up)."""
    net = make_net(seed=1)
    program = torch.export.export(
        net, (torch.rand(4, 1, 4, 4),), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    path = tmp_path_factory.mktemp("export") / "net.pt2"
    torch.export.save(program, path)
    return path, net


def _check_same(target, module, x, reference_proba):
    np.testing.assert_allclose(target.predict_proba(x), reference_proba(module, x), atol=1e-6)
    assert target.predict(x).tolist() == reference_proba(module, x).argmax(axis=1).tolist()


def test_python_factory_with_torch_save_state_dict(
    models_py, tmp_path, net, x_images, reference_proba
):
    weights = tmp_path / "w.pt"
    torch.save(net.state_dict(), weights)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fresh module is put in eval mode quietly
        target = load_target(f"{models_py}:build", weights=weights, n_classes=3, bounds=(0, 1))
    assert isinstance(target, TorchTarget) and target.bounds == (0.0, 1.0)
    assert not target.module.training
    _check_same(target, net, x_images, reference_proba)


def test_python_factory_with_safetensors_and_inferred_classes(
    models_py, tmp_path, net, x_images, reference_proba
):
    weights = tmp_path / "w.safetensors"
    save_file(net.state_dict(), str(weights))
    target = load_target(f"{models_py}:build", weights=weights, input_shape=(1, 4, 4))
    assert target.n_classes == 3
    _check_same(target, net, x_images, reference_proba)


def test_wrapped_state_dict_is_accepted(models_py, tmp_path, net, x_images, reference_proba):
    weights = tmp_path / "ckpt.pt"
    torch.save({"epoch": 3, "model_state_dict": net.state_dict()}, weights)
    target = load_target(f"{models_py}:build", weights=weights, n_classes=3)
    _check_same(target, net, x_images, reference_proba)


def test_mismatched_weights_list_the_first_mismatches(models_py, tmp_path):
    other = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 5))
    weights = tmp_path / "w.pt"
    torch.save({"body.1.weight": other[1].weight, "extra.bias": other[1].bias}, weights)
    with pytest.raises(ModelLoadError) as info:
        load_target(f"{models_py}:build", weights=weights, n_classes=3)
    message = str(info.value)
    assert "missing keys: body.1.bias, body.4.weight, body.4.bias" in message
    assert "unexpected keys: extra.bias" in message
    assert "shape mismatch: body.1.weight is (5, 16) in the file but (8, 16)" in message


def test_torchscript_script_and_trace(tmp_path, net, x_images, reference_proba):
    scripted, traced = tmp_path / "scripted.pt", tmp_path / "traced.bin"
    torch.jit.save(torch.jit.script(net), scripted)
    torch.jit.save(torch.jit.trace(net, torch.rand(2, 1, 4, 4)), traced)
    for path in (scripted, traced):
        target = load_target(str(path), input_shape=(1, 4, 4))
        assert capabilities(target) == ("labels", "scores", "gradients")
        _check_same(target, net, x_images, reference_proba)


def test_torch_export_archive(exported_pt2, x_images, reference_proba):
    path, net = exported_pt2
    target = load_target(str(path))
    assert isinstance(target, TorchTarget) and target.n_classes == 3
    _check_same(target, net, x_images, reference_proba)
    x = torch.from_numpy(x_images[:2]).requires_grad_(True)
    target.logits(x).sum().backward()
    assert x.grad is not None


def test_torch_export_with_a_fixed_batch_size_is_fed_padded_chunks(
    tmp_path, net, x_images, reference_proba
):
    path = tmp_path / "static.pt2"
    torch.export.save(torch.export.export(net, (torch.rand(2, 1, 4, 4),)), path)
    target = load_target(str(path))
    assert target.fixed_batch == 2 and target.n_classes == 3
    _check_same(target, net, x_images[:5], reference_proba)  # 5 rows: last chunk padded
    assert target.queries == 10  # padding rows are not queries


def _fit(estimator):
    rng = np.random.default_rng(0)
    x = rng.random((40, 3))
    return estimator.fit(x, (x[:, 0] > 0.5).astype(int) + (x[:, 1] > 0.5)), x


def test_skops_logistic_regression(tmp_path):
    model, x = _fit(LogisticRegression())
    path = tmp_path / "lr.skops"
    skops.io.dump(model, path)
    target = load_target(str(path))
    assert isinstance(target, SklearnTarget) and target.n_classes == 3
    np.testing.assert_allclose(target.predict_proba(x), model.predict_proba(x))
    assert target.predict(x).tolist() == model.predict(x).tolist()


def test_skops_untrusted_types_need_explicit_trust(tmp_path):
    model, x = _fit(DecisionTreeClassifier(random_state=0))
    path = tmp_path / "tree.skops"
    skops.io.dump(model, path)
    with pytest.raises(UnsafeModelError, match=r"--trust-type sklearn\.tree\._tree\.Tree"):
        load_target(str(path))
    target = load_target(str(path), trust_skops_types=["sklearn.tree._tree.Tree"])
    assert target.predict(x).tolist() == model.predict(x).tolist()


def test_python_factory_returning_a_callable(models_py):
    target = load_target(f"{models_py}:make_scorer", n_classes=3)
    assert isinstance(target, CallableTarget)
    x = np.array([[0.0, 1.0, 0.0, 5.0]])
    assert target.predict(x).tolist() == [1]
    with pytest.raises(ConfigError, match="plain callable"):
        load_target(f"{models_py}:make_scorer")


def test_module_attribute_that_is_already_a_model(models_py):
    assert isinstance(load_target(f"{models_py}:ready", n_classes=3), TorchTarget)


def test_package_module_spec_from_the_working_directory(tmp_path, monkeypatch):
    package = tmp_path / "aiarmor_test_userpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "zoo.py").write_text(
        "import torch\ndef build():\n    return torch.nn.Linear(4, 2)\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "aiarmor_test_userpkg", raising=False)
    monkeypatch.delitem(sys.modules, "aiarmor_test_userpkg.zoo", raising=False)
    target = load_target("aiarmor_test_userpkg.zoo:build", input_shape=(4,))
    assert target.n_classes == 2
    assert str(tmp_path) not in sys.path  # the temporary path entry is removed again
    sys.modules.pop("aiarmor_test_userpkg.zoo", None)
    sys.modules.pop("aiarmor_test_userpkg", None)


@pytest.mark.parametrize(
    ("suffix", "message"),
    [
        (":nope", r"models\.py has no attribute 'nope'; it defines: .*build"),
        (":broken", r"calling .*models\.py:broken\(\) failed: RuntimeError: factory exploded"),
        (":nothing", "gave an int, not a torch module"),
        ("", r"name the factory that builds the model, e\.g\. .*models\.py:build_model"),
    ],
)
def test_python_spec_errors(models_py, suffix, message):
    with pytest.raises(ModelLoadError, match=message):
        load_target(f"{models_py}{suffix}", n_classes=3)


def test_import_errors_are_one_line(tmp_path):
    bad = tmp_path / "models.py"
    bad.write_text("import torch\nx = undefined_name\n")
    with pytest.raises(ModelLoadError) as info:
        load_target(f"{bad}:build")
    assert str(info.value) == (
        "cannot import models.py: NameError: name 'undefined_name' is not defined"
    )
    syntax = tmp_path / "syntax.py"
    syntax.write_text("def f(:\n")
    with pytest.raises(ModelLoadError, match=r"cannot import syntax\.py: SyntaxError"):
        load_target(f"{syntax}:f")


def test_missing_files(tmp_path, models_py):
    with pytest.raises(ModelLoadError, match=r"model file not found: .*absent\.py"):
        load_target(f"{tmp_path / 'absent.py'}:build")
    with pytest.raises(ModelLoadError, match=r"model file not found: .*absent\.pt"):
        load_target(str(tmp_path / "absent.pt"))
    with pytest.raises(ModelLoadError, match="weights file not found"):
        load_target(f"{models_py}:build", weights=tmp_path / "absent.pt", n_classes=3)
    with pytest.raises(ModelLoadError, match="cannot import no_such_pkg_xyz"):
        load_target("no_such_pkg_xyz.models:build")


def test_weights_need_a_torch_factory(tmp_path, models_py, net):
    weights = tmp_path / "w.pt"
    torch.save(net.state_dict(), weights)
    with pytest.raises(ConfigError, match="--weights is for torch modules"):
        load_target(f"{models_py}:make_scorer", weights=weights, n_classes=3)
    scripted = tmp_path / "s.pt"
    torch.jit.save(torch.jit.script(net), scripted)
    with pytest.raises(ConfigError, match="--weights goes with a Python factory"):
        load_target(str(scripted), weights=weights)
    with pytest.raises(ModelLoadError, match="pass it as the model, not weights"):
        load_target(f"{models_py}:build", weights=scripted, n_classes=3)


def test_unsupported_yet_and_unknown_formats(tmp_path):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"\x08\x07\x12\x07pytorch\x1a\x032.1")
    with pytest.raises(ModelLoadError, match="ONNX models are not supported yet"):
        load_target(str(onnx))
    with pytest.raises(ModelLoadError, match="remote endpoints are not supported yet"):
        load_target("https://models.example/predict")
    unknown = tmp_path / "m.bin"
    unknown.write_bytes(b"\x00\x01\x02 not a model")
    with pytest.raises(ModelLoadError, match=r"cannot tell what model .*m\.bin is"):
        load_target(str(unknown))
    weights_only = tmp_path / "w.safetensors"
    save_file({"a": torch.zeros(2)}, str(weights_only))
    with pytest.raises(ModelLoadError, match="holds weights only"):
        load_target(str(weights_only))


@pytest.mark.parametrize("bounds", [(1.0, 0.0), (0.0, float("inf")), (0.0, 0.0)])
def test_bad_bounds_are_config_errors(models_py, bounds):
    with pytest.raises(ConfigError, match="bounds must be finite with LO < HI"):
        load_target(f"{models_py}:build", n_classes=3, bounds=bounds)


def test_a_model_file_can_import_its_neighbours_and_return_a_target(tmp_path):
    (tmp_path / "aiarmor_test_helper_mod.py").write_text("N_CLASSES = 4\n")
    (tmp_path / "wrapped.py").write_text(
        "import numpy as np\n"
        "from aiarmor.targets import CallableLabelTarget\n"
        "def build():\n"
        "    from aiarmor_test_helper_mod import N_CLASSES\n"
        "    return CallableLabelTarget(lambda x: np.zeros(len(x), int), n_classes=N_CLASSES)\n"
    )
    target = load_target(f"{tmp_path / 'wrapped.py'}:build", bounds=(0, 255))
    assert target.n_classes == 4 and target.bounds == (0.0, 255.0)
    assert capabilities(target) == ("labels",)
    sys.modules.pop("aiarmor_test_helper_mod", None)


def test_messages_use_the_right_article(tmp_path):
    # issue 14: "m.py:VALUE gave a int"
    (tmp_path / "m.py").write_text("VALUE = 3\nNAMES = ['a']\n\ndef make():\n    return 3\n")
    with pytest.raises(ModelLoadError, match=r"is an int, not a callable factory"):
        load_target(f"{tmp_path / 'm.py'}:VALUE")
    with pytest.raises(ModelLoadError, match=r"gave an int, not a torch module"):
        load_target(f"{tmp_path / 'm.py'}:make")
