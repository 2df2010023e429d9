"""Which callables a pickle may name: the allowlist, the known-dangerous list, and the rest.

The policy is data. :func:`classify` maps a normalized ``module.qualname`` to one verdict:

* ``"allowed"``: on :data:`ALLOWLIST`, the exact callables real checkpoints need
  (torch tensor/storage rebuilds, numpy reconstruction, joblib's array wrapper, collections,
  builtin containers and scalars), and the layer classes of ``torch.nn.modules``
  (``torch.nn.modules.<file>.<Class>``, as ``torch.save`` of a whole built-in model names them).
* ``"dangerous"`` (critical): process execution, eval/exec, import machinery, file and network
  access, getattr/attrgetter gadgets, pip/runpy, other loaders, and stdlib gadgets published in
  picklescan/modelscan/fickling advisories (:data:`DANGEROUS_CALLABLES`, :data:`DANGEROUS_MODULES`).
* ``"plausible"`` (low): other ``sklearn.*`` names (a short explicit list of the most common
  estimators is allowed outright). scikit-learn pickles name hundreds of
  estimator classes across versions; an explicit list would be stale on every release, and
  constructing a sklearn class does not run attacker code by itself. Reported as low so a
  reviewer sees the inventory without the file being treated as hostile.
* ``"unknown"`` (high): anything else. This scanner is allowlist-first; a denylist miss is high.
"""

from __future__ import annotations

import re
from typing import Literal

Verdict = Literal["allowed", "dangerous", "plausible", "unknown"]


def _words(text: str) -> list[str]:
    """Split a whitespace-separated literal (keeps the long name lists readable)."""
    return text.split()


_TORCH_REBUILDS = (
    "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
    "_rebuild_parameter_with_state", "_rebuild_sparse_tensor", "_rebuild_nested_tensor",
    "_rebuild_device_tensor_from_numpy", "_rebuild_meta_tensor_no_storage",
    "_rebuild_wrapper_subclass", "_rebuild_qtensor", "_rebuild_from_type_v2",
)  # fmt: skip
_STORAGES = (
    "FloatStorage", "DoubleStorage", "HalfStorage", "BFloat16Storage", "LongStorage",
    "IntStorage", "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage",
    "ComplexFloatStorage", "ComplexDoubleStorage", "UntypedStorage",
)  # fmt: skip
_DTYPES = (
    "float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8",
    "bool", "complex64", "complex128", "float", "double", "half", "long", "int", "short",
)  # fmt: skip
_SKLEARN = (
    "linear_model._logistic.LogisticRegression", "linear_model._base.LinearRegression",
    "linear_model._ridge.Ridge", "preprocessing._data.StandardScaler",
    "preprocessing._data.MinMaxScaler", "preprocessing._label.LabelEncoder",
    "pipeline.Pipeline", "tree._classes.DecisionTreeClassifier",
    "tree._classes.DecisionTreeRegressor", "tree._tree.Tree",
    "ensemble._forest.RandomForestClassifier", "ensemble._forest.RandomForestRegressor",
    "svm._classes.SVC", "neighbors._classification.KNeighborsClassifier",
)  # fmt: skip
"""The most common fitted estimators (module paths as scikit-learn >= 1.0 pickles them)."""
_BUILTINS = (
    "dict", "list", "tuple", "set", "frozenset", "int", "float", "complex", "str", "bytes",
    "bytearray", "bool", "slice", "range", "object",
)  # fmt: skip

ALLOWLIST: frozenset[str] = frozenset(
    [f"torch._utils.{n}" for n in _TORCH_REBUILDS]
    + [f"torch.{n}" for n in _STORAGES]
    + [f"torch.{n}" for n in _DTYPES]
    + [f"builtins.{n}" for n in _BUILTINS]
    + [f"sklearn.{n}" for n in _SKLEARN]
    + [f"numpy.{c}.multiarray.{n}" for c in ("core", "_core") for n in ("_reconstruct", "scalar")]
    + [f"numpy.{c}.numeric._frombuffer" for c in ("core", "_core")]  # protocol-5 arrays
    + ["torch.Size", "torch.device", "torch.storage.TypedStorage", "torch.storage.UntypedStorage",
       "torch._tensor._rebuild_from_type_v2", "torch.nn.parameter.Parameter",
       "collections.OrderedDict", "collections.defaultdict", "collections.Counter",
       "collections.deque", "copyreg._reconstructor", "copyreg.__newobj__", "datetime.datetime",
       "datetime.date", "datetime.timedelta", "decimal.Decimal", "uuid.UUID",
       "numpy.ndarray", "numpy.dtype", "numpy.matrix", "numpy.matrixlib.defmatrix.matrix",
       "numpy.random._pickle.__randomstate_ctor",
       "numpy.random._pickle.__bit_generator_ctor", "numpy.random._pickle.__generator_ctor",
       "joblib.numpy_pickle.NumpyArrayWrapper", "_codecs.encode"]
)  # fmt: skip
"""Exact ``module.qualname`` that real torch/numpy/joblib/stdlib-container pickles need."""

DANGEROUS_MODULES: frozenset[str] = frozenset(
    _words(
        "os posix nt subprocess pty importlib runpy code codeop ctypes socket http urllib requests "
        "httpx webbrowser shutil zipimport marshal pickle _pickle dill cloudpickle pip ensurepip "
        "setuptools distutils multiprocessing sys timeit trace profile cProfile pydoc pdb bdb "
        "ssl commands torch._dynamo _posixsubprocess signal asyncio idlelib lib2to3 venv doctest "
        "ftplib smtplib telnetlib "
        "imaplib poplib xmlrpc tempfile glob fileinput pathlib shelve dbm sqlite3 tarfile zipfile "
        "platform _osx_support _aix_support threading _thread concurrent selectors "
        "test compileall py_compile zipapp sysconfig site gc inspect cmd"
    )
)
"""Whole modules (and their submodules) with nothing a model file needs and plenty to abuse."""

DANGEROUS_CALLABLES: frozenset[str] = frozenset(
    _words(
        "builtins.eval builtins.exec builtins.compile builtins.__import__ builtins.open "
        "builtins.getattr builtins.setattr builtins.delattr builtins.globals builtins.locals "
        "builtins.vars builtins.breakpoint builtins.input builtins.help builtins.memoryview "
        "builtins.exit builtins.quit builtins.execfile builtins.reload builtins.apply "
        "io.open io.open_code io.FileIO _io.open _io.FileIO _io.open_code "
        "pkgutil.resolve_name pkgutil.get_data pkgutil.find_loader "
        "operator.attrgetter operator.itemgetter operator.methodcaller _operator.attrgetter "
        "_operator.itemgetter _operator.methodcaller functools.partial functools.reduce "
        "_functools.partial _functools.reduce torch.load torch.storage._load_from_bytes "
        "torch.serialization.load torch.jit.load torch.hub.load torch.hub.download_url_to_file "
        "torch.utils.bottleneck.__main__.run_cprofile "
        "torch.utils.bottleneck.__main__.run_autograd_prof "
        "torch.utils.collect_env.run torch.jit.unsupported_tensor_ops.execWrapper "
        "torch._inductor.codecache.compile_file torch.fx.experimental.symbolic_shapes.ShapeEnv "
        "torch.distributed.rpc.rpc_sync torch.distributed.rpc.rpc_async torch.package "
        "numpy.load numpy.loadtxt numpy.fromfile numpy.testing._private.utils.runstring "
        "numpy.f2py.crackfortran.getlincoef numpy.f2py.crackfortran._eval_length "
        "numpy.f2py.crackfortran.myeval numpy.distutils.exec_command.exec_command "
        "numpy.lib.npyio.load types.FunctionType types.CodeType types.MethodType "
        "types.ModuleType logging.config.listen logging.config._resolve logging.config.dictConfig "
        "joblib.load joblib.numpy_pickle.load pandas.read_pickle pandas.io.pickle.read_pickle "
        "keras.models.load_model tensorflow.io.gfile.GFile tensorflow.keras.models.load_model "
        "code.InteractiveInterpreter.runcode code.interact"
    )
)
"""Exact callables that execute code, load further pickles, or touch files/processes/network."""

NESTED_LOADERS: frozenset[str] = frozenset(
    _words(
        "pickle.loads _pickle.loads pickle.load _pickle.load dill.loads dill._dill.loads "
        "cloudpickle.loads torch.load torch.serialization.load torch.storage._load_from_bytes "
        "marshal.loads joblib.load numpy.loads"
    )
)
"""Callables whose first argument, if a constant, is itself a serialized payload."""

_MODULE_ALIASES = {
    "__builtin__": "builtins",
    "__builtins__": "builtins",
    "exceptions": "builtins",
    "copy_reg": "copyreg",
    "posix": "os",
    "nt": "os",
    "posixpath": "os.path",
    "ntpath": "os.path",
    "_operator": "operator",
    "_functools": "functools",
    "_io": "io",
    "cPickle": "pickle",
    "_pickle": "pickle",
}


def normalize(module: str, name: str) -> str:
    """Canonical ``module.qualname``: strip whitespace tricks, map legacy/platform aliases."""
    mod = "".join(module.split())
    qual = "".join(name.split())
    head, dot, rest = mod.partition(".")
    head = _MODULE_ALIASES.get(head, head)
    mod = head + dot + rest
    return f"{mod}.{qual}" if qual else mod


_TORCH_LAYER = re.compile(r"torch\.nn\.modules\.[a-z_]+\.[A-Z][A-Za-z0-9]*")
"""A layer class of PyTorch's own ``torch.nn.modules`` package (``torch.save`` of a whole
built-in model names them; constructing one runs no code beyond setting its state)."""


def classify(qualname: str) -> Verdict:
    """The policy verdict for a normalized ``module.qualname``."""
    if qualname in ALLOWLIST or _TORCH_LAYER.fullmatch(qualname):
        return "allowed"
    if qualname in DANGEROUS_CALLABLES or qualname in NESTED_LOADERS:
        return "dangerous"
    parts = qualname.split(".")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        if prefix in DANGEROUS_MODULES or prefix in DANGEROUS_CALLABLES:
            return "dangerous"
    if parts[0] == "sklearn" and "__" not in qualname.removeprefix("sklearn"):
        return "plausible"
    return "unknown"
