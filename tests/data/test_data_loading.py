"""load_dataset: round trips for .npz/.csv/.parquet and a one-line DataError for bad input."""

import numpy as np
import pandas as pd
import pytest

import aiarmor.data
from aiarmor.core.errors import ConfigError, DataError
from aiarmor.data import Dataset, load_dataset


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [25, 32, 47, 51, 62, 23],
            "color": ["red", "blue", "red", "green", "blue", "red"],
            "sex": ["f", "m", "f", "m", "f", "m"],
            "income": [1.5, 2.0, 3.25, 4.0, 5.5, 0.5],
            "outcome": ["yes", "no", "yes", "no", "maybe", "yes"],
        }
    )


def _assert_table_dataset(ds: Dataset) -> None:
    assert ds.x.dtype == np.float32
    assert ds.y.dtype == np.int64
    assert ds.classes == ("maybe", "no", "yes")
    assert ds.y.tolist() == [2, 1, 2, 1, 0, 2]
    assert ds.feature_names == ("age", "income", "color=blue", "color=green", "color=red")
    assert ds.x[:, 0].tolist() == [25, 32, 47, 51, 62, 23]
    assert ds.x[:, 2:].tolist()[:2] == [[0, 0, 1], [1, 0, 0]]
    assert ds.sensitive["sex"].tolist() == ["f", "m", "f", "m", "f", "m"]
    assert "sex" not in ds.feature_names


def test_public_api_is_curated():
    assert set(aiarmor.data.__all__) == {
        "Dataset",
        "load_dataset",
        "train_test_split",
        "load_digits_demo",
    }


def test_npz_round_trip_with_sensitive_arrays(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((10, 1, 4, 4))
    y = np.arange(10) % 3
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=y, sensitive_group=np.array(["a", "b"] * 5))
    ds = load_dataset(path)
    assert ds.x.dtype == np.float32 and ds.x.shape == (10, 1, 4, 4)
    np.testing.assert_allclose(ds.x, x.astype(np.float32))
    assert ds.y.dtype == np.int64 and ds.y.tolist() == y.tolist()
    assert ds.sensitive["group"].tolist() == ["a", "b"] * 5
    assert ds.name == str(path) and ds.classes is None


def test_npz_integer_labels_keep_their_meaning_when_a_class_is_absent(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((3, 2)), y=np.array([0.0, 2.0, 2.0]))
    ds = load_dataset(path)
    assert ds.y.tolist() == [0, 2, 2]
    assert ds.n_classes == 3


def test_npz_string_labels_are_encoded(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((3, 2)), y=np.array(["dog", "cat", "dog"]))
    ds = load_dataset(path, name="pets")
    assert ds.y.tolist() == [1, 0, 1]
    assert ds.classes == ("cat", "dog")
    assert ds.name == "pets"


def test_npz_requested_sensitive_array_must_exist(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((2, 2)), y=np.array([0, 1]), sensitive_sex=np.array([0, 1]))
    with pytest.raises(DataError, match=r"no array 'sensitive_race'.*sensitive arrays are: sex"):
        load_dataset(path, sensitive=["race"])


def test_csv_round_trip_with_string_labels_categories_and_sensitive(tmp_path):
    path = tmp_path / "t.csv"
    _table().to_csv(path, index=False)
    _assert_table_dataset(load_dataset(path, label="outcome", sensitive=["sex"]))


def test_parquet_round_trip_with_string_labels_categories_and_sensitive(tmp_path):
    path = tmp_path / "t.parquet"
    _table().to_parquet(path)
    _assert_table_dataset(load_dataset(path, label="outcome", sensitive=["sex"]))


def test_reference_aligns_features_and_classes(tmp_path):
    train_path, test_path = tmp_path / "train.csv", tmp_path / "test.csv"
    _table().to_csv(train_path, index=False)
    test = pd.DataFrame(
        {"age": [30], "color": ["purple"], "sex": ["f"], "income": [1.0], "outcome": ["no"]}
    )
    test.to_csv(test_path, index=False)
    train = load_dataset(train_path, label="outcome", sensitive=["sex"])
    ds = load_dataset(test_path, label="outcome", sensitive=["sex"], reference=train)
    assert ds.feature_names == train.feature_names
    assert ds.x.tolist() == [[30, 1.0, 0, 0, 0]]  # unseen colour: all one-hot columns zero
    assert ds.classes == train.classes and ds.y.tolist() == [1]


def test_reference_rejects_labels_outside_its_classes(tmp_path):
    train_path, test_path = tmp_path / "train.csv", tmp_path / "test.csv"
    _table().to_csv(train_path, index=False)
    _table().assign(outcome="never").to_csv(test_path, index=False)
    train = load_dataset(train_path, label="outcome")
    with pytest.raises(DataError, match="not among the reference classes: never"):
        load_dataset(test_path, label="outcome", reference=train)


def _write(tmp_path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_missing_file(tmp_path):
    path = tmp_path / "nope.npz"
    with pytest.raises(DataError, match=r"nope\.npz: no such file"):
        load_dataset(path)


def test_object_array_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, x=np.array([[{"a": 1}]], dtype=object), y=np.array([0]))
    with pytest.raises(DataError, match=r"obj\.npz: array 'x' holds Python objects"):
        load_dataset(path)


def test_truncated_npz(tmp_path):
    full = tmp_path / "full.npz"
    np.savez(full, x=np.zeros((50, 3)), y=np.zeros(50, dtype=int))
    path = _write(tmp_path, "cut.npz", full.read_bytes()[:300])
    with pytest.raises(DataError, match=r"cut\.npz: not a valid \.npz file"):
        load_dataset(path)


@pytest.mark.parametrize("name", ["junk.npz", "junk.parquet"])
def test_random_bytes_with_a_data_suffix(tmp_path, name):
    path = _write(tmp_path, name, np.random.default_rng(0).bytes(256))
    with pytest.raises(DataError, match=f"{name}: not a valid"):
        load_dataset(path)


def test_random_bytes_named_csv(tmp_path):
    path = _write(tmp_path, "junk.csv", b"\xff\xfe\x00\x81" * 64)
    with pytest.raises(DataError, match=r"junk\.csv: ") as info:
        load_dataset(path, label="y")
    assert "\n" not in str(info.value)


def test_npy_is_not_a_dataset(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((3, 2)))
    with pytest.raises(DataError, match="a dataset needs labels too"):
        load_dataset(path)


def test_unknown_format(tmp_path):
    path = _write(tmp_path, "d.json", b'{"x": 1}')
    with pytest.raises(DataError, match="unsupported data format"):
        load_dataset(path)


def test_empty_file(tmp_path):
    with pytest.raises(DataError, match="the file is empty"):
        load_dataset(_write(tmp_path, "e.csv", b""), label="y")


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((3, 2)), "y": np.zeros(4, dtype=int)}, "x has 3 samples but y has 4"),
        ({"x": np.zeros((3, 2))}, "no array named 'y'; arrays are: x"),
        ({"x": np.zeros(3), "y": np.zeros(3, dtype=int)}, r"x must have one sample per row"),
        ({"x": np.zeros((0, 2)), "y": np.zeros(0, dtype=int)}, "the dataset is empty"),
        ({"x": np.zeros((2, 2)), "y": np.array([0.0, 0.5])}, "non-integer values such as 0.5"),
        ({"x": np.zeros((2, 2)), "y": np.zeros((2, 3))}, "labels must be 1-D"),
        ({"x": np.array([["a", "b"]]), "y": np.array([0])}, "x must be numeric"),
        (
            {"x": np.array([[0.0, np.nan], [1.0, 2.0], [np.inf, 0]]), "y": np.zeros(3, int)},
            r"NaN or infinite values in 2 of 3 sample\(s\) \(first at row 0\)",
        ),
        (
            {"x": np.zeros((2, 2)), "y": np.array([0, 1]), "sensitive_a": np.zeros(3)},
            r"sensitive attribute 'a' must have shape \(2,\)",
        ),
    ],
)
def test_bad_npz_contents(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message) as info:
        load_dataset(path)
    assert str(info.value).startswith(str(path))


def test_label_option_is_for_tables(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((2, 2)), y=np.array([0, 1]))
    with pytest.raises(DataError, match="--label is for tables"):
        load_dataset(path, label="target")


def _csv(tmp_path, text: str):
    return _write(tmp_path, "t.csv", text.encode())


def test_label_column_not_found(tmp_path):
    path = _csv(tmp_path, "a,b\n1,2\n")
    with pytest.raises(DataError, match="label column 'foo' not found; columns are: a, b"):
        load_dataset(path, label="foo")


def test_table_needs_a_label(tmp_path):
    with pytest.raises(DataError, match="needs its label column"):
        load_dataset(_csv(tmp_path, "a,b\n1,2\n"))


def test_sensitive_column_not_found(tmp_path):
    path = _csv(tmp_path, "a,y\n1,0\n")
    with pytest.raises(DataError, match="sensitive column 'sex' not found"):
        load_dataset(path, label="y", sensitive=["sex"])


def test_nan_features_name_rows_and_columns(tmp_path):
    path = _csv(tmp_path, "a,b,c,y\n1,,3,0\n1,2,,1\n1,2,3,0\n")
    with pytest.raises(DataError, match=r"2 row\(s\) have missing.*in columns: b, c"):
        load_dataset(path, label="y")


def test_fractional_and_missing_table_labels(tmp_path):
    with pytest.raises(DataError, match=r"non-integer values such as 0\.5"):
        load_dataset(_csv(tmp_path, "a,y\n1,0.5\n2,1\n"), label="y")
    with pytest.raises(DataError, match=r"label column 'y' has 1 missing value"):
        load_dataset(_csv(tmp_path, "a,y\n1,\n2,1\n"), label="y")


def test_float_labels_that_are_whole_numbers_are_fine(tmp_path):
    ds = load_dataset(_csv(tmp_path, "a,y\n1,1.0\n2,0.0\n"), label="y")
    assert ds.y.tolist() == [1, 0]


def test_negative_integer_labels_are_encoded(tmp_path):
    ds = load_dataset(_csv(tmp_path, "a,y\n1,-1\n2,1\n"), label="y")
    assert ds.y.tolist() == [0, 1] and ds.classes == ("-1", "1")


def test_header_only_table_is_empty(tmp_path):
    with pytest.raises(DataError, match="the table has no rows"):
        load_dataset(_csv(tmp_path, "a,y\n"), label="y")


def test_no_features_left(tmp_path):
    with pytest.raises(DataError, match="no feature columns left"):
        load_dataset(_csv(tmp_path, "s,y\na,1\n"), label="y", sensitive=["s"])


def test_parquet_without_pyarrow_is_a_config_error(tmp_path, monkeypatch):
    path = tmp_path / "t.parquet"
    _table().to_parquet(path)
    monkeypatch.setitem(__import__("sys").modules, "pyarrow", None)
    with pytest.raises(ConfigError, match="pip install 'aiarmor\\[parquet\\]'"):
        load_dataset(path, label="outcome")


def test_free_text_columns_leave_the_features_but_stay_in_the_table(tmp_path):
    n = 1200
    frame = pd.DataFrame(
        {
            "email": [f"user{i}@example.org" for i in range(n)],
            "plan": ["a", "b", "c"] * (n // 3),
            "age": np.arange(n) % 70 + 18,
            "y": np.arange(n) % 2,
        }
    )
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    with pytest.warns(UserWarning, match="left out of the model's features.*email"):
        ds = load_dataset(path, label="y")
    assert ds.feature_names == ("age", "plan=a", "plan=b", "plan=c")
    assert ds.table is not None and ds.table["email"].iloc[5] == "user5@example.org"
