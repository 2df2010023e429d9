import aiarmor


def test_all_equals_the_public_names():
    public = {
        n
        for n in vars(aiarmor)
        if not n.startswith("_") and not isinstance(getattr(aiarmor, n), type(aiarmor))
    } | {"__version__"}
    assert set(aiarmor.__all__) == public


def test_version_is_consistent():
    from importlib.metadata import version

    assert aiarmor.__version__ == version("aiarmor")
