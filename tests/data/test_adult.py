"""The bundled UCI Adult table: packaging, attribution, cleaning and the loader."""

import gzip
from importlib import resources

import numpy as np
import pytest

from aiarmor.core.errors import ConfigError
from aiarmor.data import load_dataset
from aiarmor.data.adult import (
    ADULT_COLUMNS,
    BUNDLED_FILE,
    MISSING,
    adult_frame,
    adult_table,
    build_adult_table,
    load_adult,
)

BUNDLED = resources.files("aiarmor.data").joinpath("bundled")


@pytest.fixture(scope="module")
def frame():
    return adult_frame()


@pytest.fixture(scope="module")
def adult():
    return load_adult()


def test_the_table_ships_compressed_with_its_attribution():
    data = BUNDLED.joinpath(BUNDLED_FILE).read_bytes()
    assert data[:2] == b"\x1f\x8b" and len(data) < 1_000_000
    attribution = BUNDLED.joinpath("ATTRIBUTION").read_text(encoding="utf-8")
    for required in ("CC BY 4.0", "10.24432/C5XW20", "Becker", "Kohavi", "UCI"):
        assert required in attribution


def test_the_table_is_the_published_split(frame):
    assert list(frame.columns) == [*ADULT_COLUMNS, "split"]
    assert frame["split"].value_counts().to_dict() == {"train": 32561, "test": 16281}
    assert set(frame["income"]) == {"<=50K", ">50K"}  # the test file's trailing '.' is gone
    text = frame.select_dtypes(exclude="number")
    assert not text.isin(["?"]).any().any()  # unknowns are missing values, not "?"
    assert frame["occupation"].isna().sum() > 0


def test_load_adult_keeps_sensitive_attributes_out_of_the_features(adult):
    train, test = adult
    assert (len(train), len(test)) == (32561, 16281)
    assert train.classes == test.classes == ("<=50K", ">50K")
    assert set(train.sensitive) == {"sex", "race"}
    assert set(np.unique(train.sensitive["sex"])) == {"Female", "Male"}
    names = train.feature_names
    assert names == test.feature_names and len(names) == train.x.shape[1] == test.x.shape[1]
    roots = {n.split("=", 1)[0] for n in names}
    assert not roots & {"sex", "race", "income", "fnlwgt", "education"}
    assert {"age", "education-num", "relationship", "native-country"} <= roots
    assert f"workclass={MISSING}" in names
    assert 0.2 < train.y.mean() < 0.3 and 0.2 < test.y.mean() < 0.3


def test_load_adult_can_keep_race_as_a_feature():
    train, _ = load_adult(sensitive=("sex",))
    assert set(train.sensitive) == {"sex"}
    assert "race=White" in train.feature_names


def test_unknown_attributes_are_refused():
    with pytest.raises(ConfigError, match="not an Adult attribute"):
        load_adult(sensitive=("postcode",))
    with pytest.raises(ConfigError, match="split"):
        adult_table("validation")


def test_a_written_split_loads_into_the_same_features(tmp_path, adult):
    train, test = adult
    path = tmp_path / "adult-test.csv"
    adult_table("test").to_csv(path, index=False)
    again = load_dataset(path, label="income", sensitive=["sex", "race"], reference=train)
    assert again.feature_names == test.feature_names
    assert np.array_equal(again.x, test.x) and np.array_equal(again.y, test.y)


def test_build_cleans_the_published_format_deterministically(tmp_path):
    row = "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, "
    data = tmp_path / "adult.data"
    data.write_text(row + "White, Male, 2174, 0, 40, United-States, <=50K\n\n")
    test = tmp_path / "adult.test"
    test.write_text(
        "|1x3 Cross validator\n"
        "25, ?, 226802, 11th, 7, Never-married, ?, Own-child, Black, Male, 0, 0, 40, ?, >50K.\n"
    )
    out = tmp_path / "adult.csv.gz"
    assert build_adult_table(data, test, out) == 2
    first = out.read_bytes()
    assert build_adult_table(data, test, out) == 2 and out.read_bytes() == first
    lines = gzip.decompress(first).decode().splitlines()
    assert lines[0].split(",") == [*ADULT_COLUMNS, "split"]
    assert lines[1].endswith(",<=50K,train") and " " not in lines[1]
    assert lines[2] == "25,,226802,11th,7,Never-married,,Own-child,Black,Male,0,0,40,,>50K,test"
