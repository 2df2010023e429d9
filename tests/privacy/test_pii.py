"""privacy.pii: validated recognisers, masking, scanning, the check, and reports without values."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from aiarmor import audit
from aiarmor.core.errors import ConfigError, DataError
from aiarmor.core.findings import Severity
from aiarmor.data import Dataset, load_dataset
from aiarmor.privacy.pii import Entity, mask, scan_pii, scan_text
from aiarmor.privacy.pii_patterns import card_brand, iban_ok, luhn_ok, ssn_ok
from aiarmor.privacy.pii_phones_dates import e164_ok, looks_like_birth_dates

sys.path.insert(0, str(Path(__file__).parent))
from pii_corpus import labelled_cases

POSITIVE = [
    ("notes", "mail jane.doe@example.com today", Entity.EMAIL),
    ("notes", "Tel: +44 20 7946 0958", Entity.PHONE),
    ("notes", "call (415) 555-0132", Entity.PHONE),
    ("mobile", "4155550132", Entity.PHONE),
    ("notes", "4111 1111 1111 1111", Entity.CARD),
    ("notes", "3782 822463 10005", Entity.CARD),
    ("cc_number", "5555555555554444", Entity.CARD),
    ("notes", "paid by card 4012888888881881", Entity.CARD),
    ("notes", "GB82 WEST 1234 5698 7654 32", Entity.IBAN),
    ("notes", "DE89370400440532013000", Entity.IBAN),
    ("notes", "536-22-1234", Entity.SSN),
    ("ssn", "536221234", Entity.SSN),
    ("notes", "AB 12 34 56 C", Entity.NINO),
    ("log", "from 81.2.69.142", Entity.IP),
    ("log", "peer 2001:4860:4860::8888", Entity.IP),
    ("date_of_birth", "1985-03-12", Entity.DOB),
    ("notes", "born on 12 March 1985", Entity.DOB),
]

NEGATIVE = [
    ("order_id", "4539578763621486"),  # passes Luhn, Visa range, but no card context or format
    ("notes", "4111 1111 1111 1112"),  # fails Luhn
    ("notes", "DE89 3704 0044 0532 0130 01"),  # fails mod-97
    ("notes", "078-05-1120"),  # the Woolworth wallet SSN, never issued
    ("notes", "666-12-3456"),  # area 666 is never issued
    ("notes", "912-34-5678"),  # area 9xx is never issued
    ("version", "1.2.3.4"),
    ("notes", "upgraded to v2.10.3.1"),
    ("notes", "oid 1.3.6.1.4.1.311"),
    ("client_ip", "192.168.1.20"),  # private
    ("mac", "00:1A:2B:3C:4D:5E"),
    ("clock", "12:30:45"),
    ("created_at", "1985-03-12 10:22:00"),  # a timestamp, not a birth date
    ("order_date", "2019-05-04"),
    ("notes", "meeting on 12 March 2019"),
    ("sku", "AB123456C"),  # NINO-shaped without context
    ("asset", "icon@2x.png"),
    ("user", "root@localhost"),
    ("contact", "+999 726 8728"),  # unassigned calling code
    ("ref", "123-456-7890"),  # NANP area codes never start with 1
    ("ts", "1700000000"),
]


@pytest.mark.parametrize(("column", "text", "entity"), POSITIVE)
def test_recogniser_finds_positive(column, text, entity):
    assert entity in scan_text(column, text)


@pytest.mark.parametrize(("column", "text"), NEGATIVE)
def test_recogniser_rejects_hard_negative(column, text):
    assert scan_text(column, text) == {}


def test_validators():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert card_brand("378282246310005") == "amex" and card_brand("9111111111111111") is None
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB82 WEST 1234 5698 7654 33")
    assert not iban_ok("GB82WEST12345698765432XX")  # wrong length for GB
    assert ssn_ok("536", "22", "1234") and not ssn_ok("536", "00", "1234")
    assert not ssn_ok("536", "22", "0000")
    assert e164_ok("442079460958") and not e164_ok("44207946095899") and not e164_ok("9997268728")


def test_iban_digits_are_not_also_cards_or_phones():
    found = scan_text("notes", "IBAN DE89 3704 0044 0532 0130 00, tel +44 20 7946 0958")
    assert found == {
        Entity.IBAN: ["DE89 3704 0044 0532 0130 00"],
        Entity.PHONE: ["+44 20 7946 0958"],
    }


def test_precision_and_recall_on_the_labelled_corpus():
    cases = labelled_cases(seed=3, n=15)
    tp, fp, fn = {}, {}, {}
    for column, text, expected in cases:
        got = {e.value for e in scan_text(column, text)}
        for e in got & expected:
            tp[e] = tp.get(e, 0) + 1
        for e in got - expected:
            fp[e] = fp.get(e, 0) + 1
        for e in expected - got:
            fn[e] = fn.get(e, 0) + 1
    assert set(tp) == {e.value for e in Entity}
    for e in Entity:
        t = tp[e.value]
        assert t / (t + fp.get(e.value, 0)) >= 0.95, e
        assert t / (t + fn.get(e.value, 0)) >= 0.9, e


def test_column_scan_agrees_with_cell_by_cell_recognition():
    """The vectorised prefilters never drop what the recognisers would find."""
    cases = labelled_cases(seed=4, n=10)
    by_column: dict[str, list[str]] = {}
    expected: dict[tuple[str, Entity], int] = {}
    for column, text, _ in cases:
        by_column.setdefault(column, []).append(text)
        for entity in scan_text(column, text):
            expected[column, entity] = expected.get((column, entity), 0) + 1
    got = {}
    for column, texts in by_column.items():
        for hit in scan_pii({column: texts}).hits:
            got[column, hit.entity] = hit.rows
    assert got == expected


@pytest.mark.parametrize(
    ("entity", "value", "masked"),
    [
        (Entity.EMAIL, "jane.doe@example.com", "j***@e***.com"),
        (Entity.EMAIL, "x@y.org", "***@***.org"),
        (Entity.CARD, "4111 1111 1111 1234", "**** **** **** 1234"),
        (Entity.IBAN, "DE89 3704 0044 0532 0130 00", "DE** **** **** **** **** 00"),
        (Entity.SSN, "536-22-1234", "***-**-**34"),
        (Entity.PHONE, "+44 20 7946 0958", "+** ** **** **58"),
        (Entity.IP, "81.2.69.142", "81.*.*.*"),
        (Entity.DOB, "1985-03-12", "****-**-**"),
        (Entity.NINO, "AB 12 34 56 C", "AB ** ** ** *"),
    ],
)
def test_masking(entity, value, masked):
    assert mask(entity, value) == masked


@given(st.sampled_from(list(Entity)), st.text(alphabet="0123456789ABCXYZ -./@", min_size=6))
def test_masking_never_returns_the_value_itself(entity, value):
    assume(sum(ch.isalnum() for ch in value) >= 6 and value.count("@") <= 1)
    assert value not in mask(entity, value)


def test_scan_counts_rows_and_distinct_values_per_column():
    frame = pd.DataFrame({
        "email": ["a.b@example.com", "a.b@example.com", "c.d@example.org", None],
        "notes": ["card 4111 1111 1111 1111", "nothing", "IBAN GB82 WEST 1234 5698 7654 32", "x"],
        "phone": [4155550132, 4155550133, 4155550134, 4155550135],  # numeric, named like phones
        "amount": [4111111111111111, 2, 3, 4],  # numeric without a hint: never scanned
    })  # fmt: skip
    rep = scan_pii(frame)
    got = {(h.column, h.entity): (h.rows, h.distinct) for h in rep.hits}
    assert got == {
        ("email", Entity.EMAIL): (2 + 1, 2),
        ("notes", Entity.CARD): (1, 1),
        ("notes", Entity.IBAN): (1, 1),
        ("phone", Entity.PHONE): (4, 4),
    }
    assert rep.columns_scanned == ("email", "notes", "phone")
    assert rep.rows_by_entity()[Entity.EMAIL] == 3 and not rep.sampled


def test_scan_samples_long_columns_and_filters_entities():
    values = [f"user{i}@example.com" for i in range(500)] + ["536-22-1234"] * 500
    rep = scan_pii({"c": values}, max_rows=100, seed=1, entities=["email"])
    assert rep.sampled and rep.rows_scanned == 100
    (hit,) = rep.hits
    assert hit.entity is Entity.EMAIL and 20 < hit.rows < 80 and hit.rows_scanned == 100
    again = scan_pii({"c": values}, max_rows=100, seed=1, entities=["email"])
    assert again == rep


def test_scan_rejects_bad_input():
    with pytest.raises(DataError):
        scan_pii(["not", "a", "table"])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="passport"):
        scan_pii({"a": ["x"]}, entities=["passport"])
    with pytest.raises(ConfigError):
        scan_pii({"a": ["x"]}, max_rows=0)


def test_birth_date_columns_are_recognised_by_their_values():
    rng = np.random.default_rng(0)
    born = pd.Series([f"{y}-0{m}-1{d}" for y, m, d in zip(rng.integers(1940, 2000, 300),
                      rng.integers(1, 9, 300), rng.integers(0, 9, 300), strict=True)])  # fmt: skip
    recent = pd.Series([f"2024-0{m}-1{d}" for m, d in zip(rng.integers(1, 9, 300),
                        rng.integers(0, 9, 300), strict=True)])  # fmt: skip
    assert looks_like_birth_dates("d", born)
    assert not looks_like_birth_dates("hire_date", born)
    assert not looks_like_birth_dates("d", recent)
    rep = scan_pii({"d": born, "e": recent})
    assert [(h.column, h.entity) for h in rep.hits] == [("d", Entity.DOB)]


def test_datetime_columns_only_count_as_birth_dates_without_a_time():
    days = pd.to_datetime(["1980-01-02", "1975-05-06", "1990-07-08"])
    stamps = pd.to_datetime(["1980-01-02 10:00", "1975-05-06 11:00", "1990-07-08 12:00"])
    rep = scan_pii(pd.DataFrame({"birth_date": days, "login_time": stamps}))
    assert [(h.column, h.entity, h.rows) for h in rep.hits] == [("birth_date", Entity.DOB, 3)]
    assert rep.hits[0].examples == ("****-**-**",)


# ----------------------------------------------------------------------- the check in audits

PLANTED = {
    "email": "grace.hopper@navy.example.com",
    "card": "4539 1488 0343 6467",
    "iban": "GB82 WEST 1234 5698 7654 32",
    "ssn": "536-22-1234",
    "phone": "+44 20 7946 0958",
    "ip": "81.2.69.142",
}


def _table(n=80, seed=0):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    notes = [f"row {i}" for i in range(n)]
    notes[3] = f"card {PLANTED['card']} / {PLANTED['iban']}"
    notes[7] = f"SSN {PLANTED['ssn']}, tel {PLANTED['phone']}, from {PLANTED['ip']}"
    email = [f"user{i}@example.org" for i in range(n)]
    email[5] = PLANTED["email"]
    return pd.DataFrame({"x1": x1, "x2": x2, "email": email, "notes": notes,
                         "label": (x1 + x2 > 0).astype(int)})  # fmt: skip


class _Model:
    """A stand-in model: the check never queries it."""

    n_classes = 2
    bounds = None
    name = "stand-in"

    def predict(self, x):
        return np.zeros(len(x), dtype=np.int64)


def test_check_through_an_audit_on_csv_never_writes_a_value(tmp_path):
    from aiarmor.reporting import write_reports

    _table(seed=0).to_csv(tmp_path / "train.csv", index=False)
    _table(seed=1).to_csv(tmp_path / "test.csv", index=False)
    train = load_dataset(tmp_path / "train.csv", label="label")
    test = load_dataset(tmp_path / "test.csv", label="label", reference=train)
    report = audit(_Model(), test, train=train, checks=["privacy.pii"], seed=0)
    result = report.check("privacy.pii")
    assert result.status.value == "failed"
    assert result.metrics["rows.email"] == 160 and result.metrics["rows.card"] == 2
    severity = {f.evidence["entity"]: f.severity for f in result.findings}
    assert severity["card"] is Severity.HIGH and severity["email"] is Severity.MEDIUM
    assert severity["ip"] is Severity.LOW
    assert set(severity) == {"email", "card", "iban", "ssn", "phone", "ip"}
    paths = write_reports(report, tmp_path / "out")
    assert len(paths) >= 4
    texts = {p: Path(p).read_text(encoding="utf-8") for p in paths.values()}
    for value in [*PLANTED.values(), "user17@example.org"]:
        for variant in {value, value.replace(" ", ""), value.replace(" ", "-")}:
            for path, text in texts.items():
                assert variant not in text, f"{variant} leaked into {path}"
    assert "**** **** **** 6467" in texts[paths["json"]]


def test_check_is_skipped_on_numeric_arrays():
    rng = np.random.default_rng(0)
    images = Dataset(x=rng.random((20, 1, 4, 4), dtype=np.float32), y=np.zeros(20, np.int64))
    report = audit(_Model(), images, checks=["privacy.pii"])
    result = report.check("privacy.pii")
    assert result.status.value == "skipped" and "numeric arrays" in (result.reason or "")


def test_check_scans_text_sensitive_attributes_of_array_data():
    x = np.zeros((3, 2), np.float32)
    contact = np.array(["a.b@example.com", "-", "c.d@example.com"])
    ds = Dataset(x=x, y=np.zeros(3, np.int64), sensitive={"contact": contact})
    result = audit(_Model(), ds, checks=["privacy.pii"]).check("privacy.pii")
    assert result.metrics["rows.email"] == 2


def test_check_params_filter_entities_and_minimum_count():
    from aiarmor.core.policy import Policy

    frame = _table()
    ds = Dataset(x=np.zeros((len(frame), 1), np.float32), y=np.zeros(len(frame), np.int64),
                 table=frame)  # fmt: skip
    policy = Policy(checks={"privacy.pii": {"entities": ["email", "card"], "min_count": 2}})
    result = audit(_Model(), ds, checks=["privacy.pii"], policy=policy).check("privacy.pii")
    assert {f.evidence["entity"] for f in result.findings} == {"email"}  # 1 card row < 2
    assert set(result.metrics) >= {"rows.email", "rows.card"} and "rows.ssn" not in result.metrics
    bad = Policy(checks={"privacy.pii": {"entities": ["passport"]}})
    from aiarmor.core.errors import ConfigError

    with pytest.raises(ConfigError, match="passport"):  # refused before any check runs
        audit(_Model(), ds, checks=["privacy.pii"], policy=bad)


def test_dataset_keeps_the_table_row_aligned(tmp_path):
    _table().to_csv(tmp_path / "t.csv", index=False)
    ds = load_dataset(tmp_path / "t.csv", label="label")
    assert ds.table is not None and list(ds.table.columns)[:3] == ["x1", "x2", "email"]
    sub = ds.subset(np.array([5, 7]))
    assert sub.table is not None and sub.table["email"].tolist()[0] == PLANTED["email"]
    with pytest.raises(DataError, match="rows"):
        Dataset(x=ds.x, y=ds.y, table=ds.table.iloc[:3])


def test_aiarmor_audit_cli_runs_the_check_on_csv_tables(tmp_path, monkeypatch, capsys):
    from aiarmor.cli.main import main

    _table(seed=0).to_csv(tmp_path / "train.csv", index=False)
    _table(seed=1).to_csv(tmp_path / "test.csv", index=False)
    (tmp_path / "model.py").write_text(
        "import numpy as np\n\ndef build():\n    return lambda x: np.full((len(x), 2), 0.5)\n"
    )
    args = ["audit", "--model", f"{tmp_path / 'model.py'}:build", "--n-classes", "2",
            "--data", tmp_path / "test.csv", "--train", tmp_path / "train.csv",
            "--label", "label", "--checks", "privacy.pii", "--out", tmp_path / "out"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["aiarmor", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    assert exit_info.value.code == 1, captured.err  # high-severity card/SSN/IBAN findings
    written = [p for p in (tmp_path / "out").iterdir() if p.is_file()]
    assert {p.suffix for p in written} >= {".json", ".html", ".sarif", ".xml"}
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert not [v for v in PLANTED.values() if v in text], path
    for value in PLANTED.values():
        assert value not in captured.out + captured.err
