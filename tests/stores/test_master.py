"""The store master loader: the shipped CSV, other header spellings, and unusable files."""

import logging
from pathlib import Path

import pytest

from retailpulse.stores.master import (
    DEFAULT_STORE_MASTER,
    Store,
    StoreMaster,
    StoreMasterError,
    load_store_master,
)


def write_csv(directory: Path, text: str, name: str = "stores.csv", bom: bool = False) -> Path:
    path = directory / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


@pytest.fixture(scope="module")
def shipped() -> StoreMaster:
    return load_store_master()


def test_the_shipped_store_master_holds_4944_stores(shipped: StoreMaster) -> None:
    assert len(shipped) == 4944
    assert len(list(shipped)) == 4944


def test_the_shipped_store_master_is_the_default_path() -> None:
    assert DEFAULT_STORE_MASTER.name == "store_master.csv"
    assert DEFAULT_STORE_MASTER.is_file()
    assert load_store_master(DEFAULT_STORE_MASTER) == load_store_master()


def test_the_spec_example_stores_are_in_the_shipped_master(shipped: StoreMaster) -> None:
    assert shipped["S00339218"] == Store("S00339218", "BHARAT STORE", "710006")
    assert shipped["S01408764"] == Store("S01408764", "Asha Communication", "710006")


def test_quoted_store_names_with_commas_are_parsed_whole(shipped: StoreMaster) -> None:
    assert shipped["S00839486"] == Store("S00839486", "A.A ENTP,", "700029")
    assert shipped["S00839492"].store_name == "AB AHAD GEN. STORE,-1"


def test_an_unknown_store_id_is_not_in_the_master(shipped: StoreMaster) -> None:
    assert "S99999999" not in shipped
    with pytest.raises(KeyError):
        shipped["S99999999"]


def test_the_store_master_is_read_only(shipped: StoreMaster) -> None:
    with pytest.raises(TypeError):
        shipped["S1"] = Store("S1", "x", "1")  # type: ignore[index]


def test_the_assignments_header_spelling_is_read(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "AreaCode,StoreName,StoreID\n700001,Corner Shop,S1\n")

    assert dict(load_store_master(path)) == {"S1": Store("S1", "Corner Shop", "700001")}


def test_a_snake_case_header_in_another_column_order_is_read(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        'store_id,store_name,area_code\nS1,Corner Shop,700001\nS2,"Big, Bazaar",700002\n',
    )

    assert dict(load_store_master(path)) == {
        "S1": Store("S1", "Corner Shop", "700001"),
        "S2": Store("S2", "Big, Bazaar", "700002"),
    }


def test_spaced_and_mixed_case_headers_are_read(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "Store Name , STORE ID,Area-Code\nCorner Shop,S1,700001\n")

    assert load_store_master(path)["S1"] == Store("S1", "Corner Shop", "700001")


def test_a_byte_order_mark_before_the_header_is_ignored(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "StoreID,StoreName,AreaCode\nS1,Corner Shop,700001\n", bom=True)

    assert load_store_master(path)["S1"] == Store("S1", "Corner Shop", "700001")


def test_only_the_store_id_column_is_required(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "StoreID\nS1\nS2\n")

    master = load_store_master(path)

    assert list(master) == ["S1", "S2"]
    assert master["S2"] == Store("S2", "", "")


def test_extra_columns_are_ignored(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "Region,StoreID,Owner,StoreName\nEast,S1,Asha,Corner Shop\n")

    assert load_store_master(path)["S1"] == Store("S1", "Corner Shop", "")


def test_cells_are_trimmed_and_blank_rows_and_ids_are_skipped(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "StoreID,StoreName,AreaCode\r\n S1 , Corner Shop ,700001\r\n\r\n,,\r\n ,Nameless,1\r\n",
    )

    assert dict(load_store_master(path)) == {"S1": Store("S1", "Corner Shop", "700001")}


def test_a_short_row_fills_the_missing_cells_with_empty_text(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "StoreID,StoreName,AreaCode\nS1,Corner Shop\n")

    assert load_store_master(path)["S1"] == Store("S1", "Corner Shop", "")


def test_the_first_row_for_a_duplicated_store_id_wins(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "StoreID,StoreName,AreaCode\nS1,First,1\nS1,Second,2\n")

    master = load_store_master(path)

    assert len(master) == 1
    assert master["S1"].store_name == "First"


def test_a_header_only_file_is_refused_as_every_job_would_fail(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "StoreID,StoreName,AreaCode\n")

    with pytest.raises(StoreMasterError) as caught:
        load_store_master(path)

    assert str(caught.value) == (
        f"{path}: no stores in it, so every job would fail "
        "(--allow-empty-store-master starts anyway)"
    )


def test_a_header_only_file_gives_an_empty_master_when_allowed(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "StoreID,StoreName,AreaCode\n")

    assert len(load_store_master(path, allow_empty=True)) == 0


def test_a_master_of_blank_ids_only_is_refused_as_empty(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "StoreID,StoreName\n ,Nameless\n")

    with pytest.raises(StoreMasterError, match="no stores in it"):
        load_store_master(path)


def test_odd_rows_are_counted_in_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_csv(
        tmp_path,
        "StoreID,StoreName,AreaCode\n"
        "S1,First,1\nS1,Again,2\nS1,Thrice,3\nS2,Other,4\nS2,Twice,5\n"  # 3 duplicates
        ",Nameless,6\n ,Spaces,7\n"  # 2 blank ids
        "S3,Short\n",  # 1 ragged row
    )

    with caplog.at_level(logging.WARNING, logger="retailpulse.stores.master"):
        master = load_store_master(path)

    assert sorted(master) == ["S1", "S2", "S3"]
    assert [r.getMessage() for r in caplog.records] == [
        f"store master {path}: "
        "3 rows with a duplicated store id (the first row of each is kept); "
        "2 rows with a blank store id (skipped); "
        "1 row with a cell count unlike the header's (missing cells are empty)"
    ]


def test_a_clean_master_loads_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="retailpulse.stores.master"):
        load_store_master()

    assert caplog.records == []


@pytest.mark.parametrize(
    ("delimiter", "named"), [(";", "semicolons (;)"), ("\t", "tabs"), ("|", "bars (|)")]
)
def test_a_file_separated_by_another_delimiter_is_refused_naming_it(
    tmp_path: Path, delimiter: str, named: str
) -> None:
    row = delimiter.join
    path = write_csv(tmp_path, f"{row(['StoreID', 'StoreName'])}\n{row(['S1', 'Shop'])}\n")

    with pytest.raises(StoreMasterError) as caught:
        load_store_master(path)

    assert str(caught.value) == (
        f"{path}: its header is separated by {named}, not commas; "
        "the store master must be comma-separated (CSV)"
    )


def test_a_missing_file_is_a_store_master_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "no-such.csv"

    with pytest.raises(StoreMasterError) as caught:
        load_store_master(path)

    assert str(path) in str(caught.value)
    assert "cannot read" in str(caught.value)


def test_a_directory_is_a_store_master_error(tmp_path: Path) -> None:
    with pytest.raises(StoreMasterError, match="cannot read"):
        load_store_master(tmp_path)


def test_a_header_without_a_store_id_column_is_a_store_master_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "AreaCode,StoreName\n700001,Corner Shop\n")

    with pytest.raises(StoreMasterError) as caught:
        load_store_master(path)

    assert str(path) in str(caught.value)
    assert "no store id column" in str(caught.value)


def test_an_empty_file_is_a_store_master_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "")

    with pytest.raises(StoreMasterError, match="empty"):
        load_store_master(path)


def test_a_file_that_is_not_utf8_text_is_a_store_master_error(tmp_path: Path) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(b"StoreID\n\xff\xfe\xfa\n")

    with pytest.raises(StoreMasterError, match="not a readable CSV"):
        load_store_master(path)


def test_the_store_master_error_is_a_value_error() -> None:
    assert issubclass(StoreMasterError, ValueError)
