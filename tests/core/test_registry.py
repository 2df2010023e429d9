import pytest

from aiarmor.core import Budget, Check, CheckContext, ConfigError, Param, RegistryError, register
from aiarmor.core.registry import get_check, registered, unregister


def _make(check_id="t.example", standards=("OWASP-ML:ML01",), doc="Detects things."):
    cls = type(
        "Example",
        (Check,),
        {
            "__doc__": doc,
            "id": check_id,
            "title": "Example",
            "summary": "s",
            "standards": standards,
            "params": (Param("level", float, 0.5, "how strict"), Param("n", int, 3, "count")),
            "metrics": ("m", "recall.*"),
        },
    )
    return cls


def test_register_lists_and_rejects_duplicates():
    cls = register(_make())
    try:
        assert registered()["t.example"] is cls
        assert get_check("t.example") is cls
        with pytest.raises(RegistryError, match="already registered"):
            register(_make())
    finally:
        unregister("t.example")
    with pytest.raises(RegistryError, match="unknown check"):
        get_check("t.example")


def test_register_requires_docstring_and_known_standards():
    with pytest.raises(RegistryError, match="docstring"):
        register(_make(doc=None))
    with pytest.raises(RegistryError, match="unknown standards"):
        register(_make(standards=("OWASP-ML:ML99",)))


def test_params_resolve_with_types_checked():
    cls = _make()
    assert cls.resolve_params({}) == {"level": 0.5, "n": 3}
    assert cls.resolve_params({"level": 1}) == {"level": 1.0, "n": 3}
    with pytest.raises(ConfigError, match="unknown parameter"):
        cls.resolve_params({"levle": 1.0})
    with pytest.raises(ConfigError, match="expected a number"):
        cls.resolve_params({"level": "high"})
    with pytest.raises(ConfigError, match="expected an integer"):
        cls.resolve_params({"n": True})


def test_describe_lists_parameters_and_metrics():
    info = _make().describe()
    assert info["id"] == "t.example"
    assert info["parameters"][0] == {
        "name": "level",
        "type": "float",
        "default": 0.5,
        "help": "how strict",
    }
    assert info["metrics"] == ["m", "recall.*"]
    assert info["description"] == "Detects things."


def test_context_randomness_depends_on_seed_and_check_only():
    def ctx(seed, cid):
        return CheckContext(None, None, None, {}, Budget.QUICK, seed, cid)

    a, b = ctx(1, "a.b").rng().random(3), ctx(1, "a.b").rng().random(3)
    assert (a == b).all()
    assert not (a == ctx(2, "a.b").rng().random(3)).all()
    assert not (a == ctx(1, "a.c").rng().random(3)).all()
    assert ctx(1, "a.b").torch_seed() == ctx(1, "a.b").torch_seed()


def test_budget_parse():
    assert Budget.parse("quick") is Budget.QUICK
    with pytest.raises(ConfigError, match="unknown budget"):
        Budget.parse("huge")


def test_param_ranges_are_enforced_and_described():
    p = Param("rate", float, 0.5, "r", min=0.0, max=1.0, min_exclusive=True)
    assert p.coerce("c.x", 1) == 1.0
    with pytest.raises(ConfigError, match=r"must be in \(0, 1\], got 0"):
        p.coerce("c.x", 0.0)
    with pytest.raises(ConfigError, match=r"got 1\.5"):
        p.coerce("c.x", 1.5)
    assert p.describe()["min"] == 0.0 and p.describe()["max"] == 1.0
    bad_default = type(
        "Bad",
        (Check,),
        {
            "__doc__": "d",
            "id": "t.bad",
            "title": "t",
            "summary": "s",
            "standards": (),
            "params": (Param("n", int, 0, "n", min=1),),
        },
    )
    with pytest.raises(ConfigError, match=r"must be in \[1, inf\]"):
        bad_default.resolve_params({})


def test_list_items_and_choices_are_validated():
    eps = Param("eps", list, None, "e", item=float, min=0.0, min_exclusive=True)
    assert eps.coerce("c.x", [1, 0.5]) == [1.0, 0.5]
    for bad, words in [([], "empty list"), ([-0.1, 0.05], r"eps\[0\]: must be in \(0, inf\]"),
                       ([0.1, "x"], r"eps\[1\]: expected a number, got a string"),
                       ([float("nan")], "finite"), (0.1, "expected a list")]:  # fmt: skip
        with pytest.raises(ConfigError, match=words):
            eps.coerce("c.x", bad)
    norm = Param("norm", str, "linf", "n", choices=("linf", "l2"))
    assert norm.coerce("c.x", "L2") == "l2"
    with pytest.raises(ConfigError, match="must be one of linf, l2, got 'l1'"):
        norm.coerce("c.x", "l1")
    names = Param("names", list, None, "n", item=str, choices=("a", "b"))
    assert names.coerce("c.x", ["A"]) == ["a"]
    with pytest.raises(ConfigError, match=r"names\[1\]: must be one of a, b"):
        names.coerce("c.x", ["a", "z"])
