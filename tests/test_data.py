"""Training data (nodecat.executor.training.data): reading .npz/.npy/.csv columns safely, shaping them for inputs, splitting rows.

Every file is real, written under tmp_path, and the test changes into tmp_path so that the current
directory is one of the data roots, as it is for `nodecat train`.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nodecat.executor.training import data
from nodecat.executor.training.data import (DEMO_DIR, InputUse, Table, TargetUse, data_roots, epoch_order, inside_roots,
                           parse_data_option, prepare, read_table, split_rows)
from nodecat.executor.graph.errors import GraphError, GraphProblem

POINTER = "/train/data"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    monkeypatch.chdir(root)
    return root


def read(*files: str | tuple[str | None, str], extra: tuple[Path, ...] = ()) -> Table:
    pairs = [f if isinstance(f, tuple) else (None, f) for f in files]
    return read_table([(name, Path(path)) for name, path in pairs], data_roots(extra), POINTER)


def problems(*files: str | tuple[str | None, str], extra: tuple[Path, ...] = ()) -> list[GraphProblem]:
    with pytest.raises(GraphError) as caught:
        read(*files, extra=extra)
    return caught.value.problems


def only(found: list[GraphProblem], code: str, *words: str, pointer: str = POINTER) -> GraphProblem:
    """The single problem found, checked for its code, pointer and the words its message must hold."""
    assert [p.code for p in found] == [code], found
    assert found[0].pointer == pointer
    for word in words:
        assert word in found[0].message, (word, found[0].message)
    return found[0]


def write_csv(name: str, text: str) -> str:
    Path(name).write_text(text, encoding="utf-8")
    return name


class Touch:
    """Pickled, it would create `marker` when unpickled: proof of whether unpickling happened."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


# --- roots and options ---

def test_data_roots_are_cwd_demo_and_extra_resolved_without_duplicates(here: Path) -> None:
    extra = here / "sub" / ".." / "more"
    roots = data_roots([extra, here, str(extra)])
    assert roots == (here.resolve(), DEMO_DIR.resolve(), (here / "more").resolve())


def test_inside_roots_resolves_dot_dot_and_refuses_outside(here: Path) -> None:
    (here / "a").mkdir()
    assert inside_roots(Path("a/../x.npz"), [here]) == here.resolve() / "x.npz"
    with pytest.raises(GraphError) as caught:
        inside_roots(Path("../x.npz"), [here], "/p", what="checkpoint")
    found = only(caught.value.problems, "path_outside_roots", "checkpoint", "../x.npz", str(here), pointer="/p")
    assert found.hint == "allow its directory with --data-root DIR"


def test_parse_data_option() -> None:
    assert parse_data_option("digits.npz") == (None, Path("digits.npz"))
    assert parse_data_option("labels=y.npy") == ("labels", Path("y.npy"))
    assert parse_data_option("_x1=dir/a=b.npy") == ("_x1", Path("dir/a=b.npy"))
    assert parse_data_option("1x=a.npy") == (None, Path("1x=a.npy"))  # not a column name: all of it is a path
    assert parse_data_option("my-col=a.npy") == (None, Path("my-col=a.npy"))
    assert parse_data_option("x=") == (None, Path("x="))


# --- reading ---

def test_demo_file_reads(here: Path) -> None:
    table = read(str(DEMO_DIR / "digits.npz"))
    assert table.rows == 1797
    assert set(table.columns) == {"images", "labels"}
    images, labels = table.columns["images"], table.columns["labels"]
    assert images.dtype == np.float32 and images.shape == (1797, 1, 8, 8)
    assert images.min() >= 0 and images.max() <= 1
    assert labels.dtype == np.int64 and set(labels.tolist()) == set(range(10))
    assert table.sources["labels"] == DEMO_DIR / "digits.npz"


def test_npz_and_npy_named_and_by_stem_merge(here: Path) -> None:
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.savez("train.npz", x=x, w=np.ones(4, np.float64))
    np.save("y.npy", np.array([0, 1, 2, 3], np.int32))
    np.save("other.npy", np.array([True, False, True, False]))
    table = read("train.npz", "y.npy", ("flag", "other.npy"))
    assert table.rows == 4
    assert list(table.columns) == ["x", "w", "y", "flag"]
    np.testing.assert_array_equal(table.columns["x"], x)
    assert table.columns["y"].dtype == np.int32 and table.columns["flag"].dtype == np.bool_
    assert table.sources == {"x": Path("train.npz"), "w": Path("train.npz"), "y": Path("y.npy"),
                             "flag": Path("other.npy")}


def test_csv_integer_columns_are_int64_and_others_float32(here: Path) -> None:
    path = write_csv("t.csv", " a , b ,c,big\n1,2.5,-3,1\n+4,1e3,7,99999999999999999999\n\n")
    table = read(path)
    assert table.rows == 2
    assert table.columns["a"].dtype == np.int64 and table.columns["a"].tolist() == [1, 4]
    assert table.columns["b"].dtype == np.float32 and table.columns["b"].tolist() == [2.5, 1000.0]
    assert table.columns["c"].dtype == np.int64 and table.columns["c"].tolist() == [-3, 7]
    assert table.columns["big"].dtype == np.float32  # integers beyond int64 fall back to float


def test_csv_pixel_columns_stack_and_reshape_to_an_image_input(here: Path) -> None:
    digits = read(str(DEMO_DIR / "digits.npz"))
    images, labels = digits.columns["images"][:5], digits.columns["labels"][:5]
    names = [f"p{i}" for i in range(64)]
    lines = [",".join(names + ["label"])]
    lines += [",".join([repr(float(v)) for v in image.ravel()] + [str(label)]) for image, label in zip(images, labels)]
    table = read(write_csv("pixels.csv", "\n".join(lines) + "\n"))
    use = InputUse("image", tuple(names), (None, 1, 8, 8), "float32", "/train/feed/image")
    ready = prepare(table, [use], [TargetUse("label", "/train/loss/inputs/target")])
    assert ready.rows == 5
    assert ready.inputs["image"].shape == (5, 1, 8, 8) and ready.inputs["image"].flags.c_contiguous
    np.testing.assert_array_equal(ready.inputs["image"], images)
    assert ready.targets["label"].dtype == np.int64 and ready.targets["label"].tolist() == labels.tolist()


# --- reading: errors ---

def test_symlink_inside_a_root_pointing_outside_is_refused(here: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    np.save(outside / "secret.npy", np.arange(3))
    os.symlink(outside / "secret.npy", here / "link.npy")
    found = only(problems("link.npy"), "path_outside_roots", "link.npy", str(outside / "secret.npy"))
    assert found.hint == "allow its directory with --data-root DIR"
    assert read("link.npy", extra=(outside,)).columns["link"].tolist() == [0, 1, 2]  # once allowed, it reads


def test_dot_dot_outside_the_roots_is_refused(here: Path, tmp_path: Path) -> None:
    np.savez(tmp_path / "x.npz", a=np.arange(3))
    only(problems("../x.npz"), "path_outside_roots", "../x.npz")


def test_missing_file_and_directory_are_file_not_found(here: Path) -> None:
    only(problems("nope.npz"), "file_not_found", "nope.npz")
    Path("folder.npz").mkdir()
    only(problems("folder.npz"), "file_not_found", "folder.npz", "directory")


def test_unsupported_suffix_names_the_supported_ones(here: Path) -> None:
    Path("data.txt").write_text("1,2\n")
    only(problems("data.txt"), "bad_data", "data.txt", ".txt", ".npz", ".npy", ".csv")


def test_a_file_over_the_size_limit_is_refused_before_reading(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    np.save("big.npy", np.zeros(100, np.float32))
    monkeypatch.setattr(data, "MAX_DATA_BYTES", 200)
    monkeypatch.setattr(data.npy_format, "read_magic", lambda fp: pytest.fail("the file was read"))
    only(problems("big.npy"), "bad_data", "big.npy", "200")


def test_a_small_npz_that_unpacks_past_the_limit_is_refused(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    np.savez_compressed("bomb.npz", zeros=np.zeros(1_000_000, np.float32))
    assert Path("bomb.npz").stat().st_size < 100_000
    monkeypatch.setattr(data, "MAX_DATA_BYTES", 100_000)
    only(problems("bomb.npz"), "bad_data", "bomb.npz", "unpacks")


def test_a_header_declaring_more_data_than_the_file_holds_is_refused(here: Path) -> None:
    with open("huge.npy", "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
        handle.write(b"\0" * 16)
    only(problems("huge.npy"), "bad_data", "huge.npy", "declares")


def test_corrupt_files_are_bad_data(here: Path) -> None:
    Path("junk.npz").write_bytes(b"not a zip at all")
    Path("junk.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    Path("noise.npy").write_bytes(b"\x80\x04 pickle-looking bytes")
    Path("latin.csv").write_bytes(b"a\n\xff\xfe\n")
    for name in ("junk.npz", "junk.npy", "noise.npy", "latin.csv"):
        only(problems(name), "bad_data", name, "cannot be read")


def test_pickled_npy_is_refused_without_unpickling(here: Path, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    np.save("objects.npy", np.array([Touch(marker), 1], dtype=object), allow_pickle=True)
    only(problems("objects.npy"), "bad_data", "objects.npy", "Python objects")
    assert not marker.exists()
    np.load("objects.npy", allow_pickle=True)  # positive control: unpickling would have left the marker
    assert marker.exists()


def test_npz_with_an_object_array_is_refused_without_unpickling(here: Path, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    np.savez("mixed.npz", good=np.arange(2), bad=np.array([Touch(marker), 2], dtype=object))
    only(problems("mixed.npz"), "bad_data", "mixed.npz", "'bad'", "Python objects")
    assert not marker.exists()


def test_npz_members_must_be_arrays(here: Path) -> None:
    with zipfile.ZipFile("odd.npz", "w") as archive:
        archive.writestr("notes.txt", "hello")
    only(problems("odd.npz"), "bad_data", "odd.npz", "notes.txt")
    with zipfile.ZipFile("twice.npz", "w") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        for _ in range(2):
            with archive.open("x.npy", "w") as member:
                np.save(member, np.arange(3))
    only(problems("twice.npz"), "bad_data", "twice.npz", "'x' twice")


def test_string_arrays_are_refused(here: Path) -> None:
    np.save("words.npy", np.array(["a", "b"]))
    only(problems("words.npy"), "bad_data", "words.npy", "dtype")


def test_empty_inputs_are_empty_data(here: Path) -> None:
    Path("zero.npy").write_bytes(b"")
    write_csv("zero.csv", "")
    write_csv("header.csv", "a,b\n")
    np.save("none.npy", np.zeros((0, 3), np.float32))
    np.savez("nothing.npz")
    for name in ("zero.npy", "zero.csv", "header.csv", "none.npy", "nothing.npz"):
        only(problems(name), "empty_data", name)


def test_a_0d_array_is_bad_data(here: Path) -> None:
    np.save("scalar.npy", np.float32(3))
    only(problems("scalar.npy"), "bad_data", "scalar", "0-d")


def test_ragged_csv_names_the_line(here: Path) -> None:
    write_csv("ragged.csv", "a,b\n1,2\n3\n")
    only(problems("ragged.csv"), "bad_data", "ragged.csv", "line 3", "1 cells")


def test_non_numeric_csv_cell_names_file_line_and_column(here: Path) -> None:
    write_csv("words.csv", "a,b\n1,2\n3,cat\n")
    only(problems("words.csv"), "bad_data", "words.csv", "line 3", "'b'", "'cat'")


def test_non_finite_values_name_the_column_and_first_bad_row(here: Path) -> None:
    x = np.zeros((5, 2), np.float32)
    x[3, 1] = np.nan
    np.save("x.npy", x)
    only(problems("x.npy"), "bad_data", "'x'", "row 3")
    write_csv("inf.csv", "a,b\n1,2\n3,inf\n")
    only(problems("inf.csv"), "bad_data", "'b'", "row 1")


def test_a_column_name_in_two_files_is_bad_data(here: Path) -> None:
    np.savez("a.npz", x=np.arange(3))
    np.save("x.npy", np.arange(3))
    only(problems("a.npz", "x.npy"), "bad_data", "'x'", "a.npz", "x.npy")


def test_a_name_given_with_npz_or_csv_is_bad_data(here: Path) -> None:
    np.savez("a.npz", x=np.arange(3))
    write_csv("b.csv", "y\n1\n")
    only(problems(("cols", "a.npz")), "bad_data", "'cols'", "a.npz")
    only(problems(("cols", "b.csv")), "bad_data", "'cols'", "b.csv")


def test_row_counts_that_differ_are_data_mismatch(here: Path) -> None:
    np.save("x.npy", np.zeros((5, 2), np.float32))
    np.save("y.npy", np.zeros(4, np.int64))
    only(problems("x.npy", "y.npy"), "data_mismatch", "'x': 5 rows", "'y': 4 rows")


def test_problems_of_several_files_come_in_one_error(here: Path) -> None:
    np.save("ok.npy", np.arange(3))
    Path("data.txt").write_text("x")
    found = problems("missing.npz", "ok.npy", "data.txt", "../outside.npz")
    assert [p.code for p in found] == ["file_not_found", "bad_data", "path_outside_roots"]
    assert all(p.pointer == POINTER for p in found)


# --- preparing inputs and targets ---

def table_of(**columns: np.ndarray) -> Table:
    return Table(columns, {name: Path("t.npz") for name in columns})


def prepare_problems(table: Table, inputs: list[InputUse],
                     targets: tuple[TargetUse, ...] = ()) -> list[GraphProblem]:
    with pytest.raises(GraphError) as caught:
        prepare(table, inputs, targets)
    return caught.value.problems


def test_prepare_casts_to_the_declared_dtype_and_shares_a_column_with_a_target() -> None:
    values = np.asfortranarray(np.arange(12, dtype=np.float64).reshape(4, 3))
    table = table_of(v=values, cls=np.array([0, 1, 2, 1], np.int32), on=np.array([True, False, True, True]))
    ready = prepare(table, [InputUse("x", ("v",), (None, 3), "bfloat16", "/f/x"),
                            InputUse("c", ("cls",), (None,), "float32", "/f/c")],
                    [TargetUse("v", "/l/v"), TargetUse("cls", "/l/cls"), TargetUse("on", "/l/on")])
    assert ready.inputs["x"].dtype == np.float32 and ready.inputs["x"].flags.c_contiguous
    np.testing.assert_array_equal(ready.inputs["x"], values)
    assert ready.inputs["c"].dtype == np.float32
    assert ready.targets["v"].dtype == np.float32 and ready.targets["cls"].dtype == np.int64
    assert ready.targets["on"].dtype == np.bool_ and ready.rows == 4


def test_a_1d_column_feeds_an_input_of_one_value_per_row() -> None:
    ready = prepare(table_of(y=np.arange(3, dtype=np.float32)), [InputUse("y", ("y",), (None, 1), "float32", "/f")], [])
    assert ready.inputs["y"].shape == (3, 1)


def test_unknown_column_names_it_and_hints_a_close_match() -> None:
    table = table_of(images=np.zeros((2, 4), np.float32), labels=np.zeros(2, np.int64))
    found = prepare_problems(table, [InputUse("image", ("imagse",), (None, 4), "float32", "/train/feed/image")],
                             [TargetUse("lables", "/train/loss/inputs/target")])
    assert [(p.code, p.node, p.pointer) for p in found] == [("unknown_column", "image", "/train/feed/image"),
                                                            ("unknown_column", "", "/train/loss/inputs/target")]
    assert "'imagse'" in found[0].message and "did you mean 'images'?" in found[0].hint
    assert "'labels'" in found[0].hint and "did you mean 'labels'?" in found[1].hint
    far = prepare_problems(table, [], [TargetUse("zzz", "/t")])[0]
    assert "did you mean" not in far.hint and "'images'" in far.hint


def test_wrong_shape_names_column_and_input() -> None:
    table = table_of(images=np.zeros((2, 64), np.float32))
    found = prepare_problems(table, [InputUse("image", ("images",), (None, 1, 8, 9), "float32", "/f/image")])
    problem = only(found, "data_mismatch", "column 'images' has rows of shape (64,), input 'image' takes (1, 8, 9)",
                   pointer="/f/image")
    assert problem.node == "image"
    # rank mismatch that is not flat rows: 3-D data into a 4-D input
    found = prepare_problems(table_of(images=np.zeros((2, 8, 8), np.float32)),
                             [InputUse("image", ("images",), (None, 1, 8, 8), "float32", "/f/image")])
    only(found, "data_mismatch", "(8, 8)", "(1, 8, 8)", pointer="/f/image")
    # an open dim cannot be reshaped into
    found = prepare_problems(table, [InputUse("image", ("images",), (None, 1, None, 8), "float32", "/f/image")])
    only(found, "data_mismatch", "(64,)", pointer="/f/image")


def test_float_data_into_an_int_input_is_data_mismatch() -> None:
    found = prepare_problems(table_of(x=np.zeros(3, np.float32)), [InputUse("ids", ("x",), (None,), "int64", "/f")])
    only(found, "data_mismatch", "float32", "int64", "'ids'", pointer="/f")


def test_a_declared_batch_dim_is_data_mismatch_with_a_hint() -> None:
    found = prepare_problems(table_of(x=np.zeros((3, 2), np.float32)), [InputUse("x", ("x",), (3, 2), "float32", "/f")])
    assert only(found, "data_mismatch", "batch", pointer="/f").hint == "leave the batch dimension open with null"


def test_stacking_needs_1d_columns() -> None:
    table = table_of(a=np.zeros(3, np.float32), b=np.zeros((3, 2), np.float32))
    only(prepare_problems(table, [InputUse("x", ("a", "b"), (None, 3), "float32", "/f")]),
         "data_mismatch", "'b'", "1-D", pointer="/f")


def test_prepare_collects_every_problem_into_one_error() -> None:
    table = table_of(images=np.zeros((2, 64), np.float32), labels=np.zeros(2, np.int64))
    found = prepare_problems(table, [InputUse("a", ("nope",), (None,), "float32", "/f/a"),
                                     InputUse("b", ("images",), (None, 3), "float32", "/f/b"),
                                     InputUse("c", ("images",), (None, 64), "int8", "/f/c")],
                             [TargetUse("gone", "/l")])
    assert [(p.code, p.pointer) for p in found] == [("unknown_column", "/f/a"), ("data_mismatch", "/f/b"),
                                                    ("data_mismatch", "/f/c"), ("unknown_column", "/l")]


# --- splitting and ordering rows ---

def test_split_rows_is_disjoint_covering_and_seeded() -> None:
    train, valid = split_rows(100, 0.2, seed=7)
    assert train.dtype == np.int64 and valid.dtype == np.int64
    assert len(train) == 80 and len(valid) == 20
    assert sorted(np.concatenate([train, valid]).tolist()) == list(range(100))
    again = split_rows(100, 0.2, seed=7)
    assert np.array_equal(again[0], train) and np.array_equal(again[1], valid)
    assert not np.array_equal(split_rows(100, 0.2, seed=8)[1], valid)
    permutation = np.random.default_rng(7).permutation(100)
    assert np.array_equal(valid, permutation[:20]) and np.array_equal(train, permutation[20:])


def test_split_rows_sizes() -> None:
    assert [len(part) for part in split_rows(10, 0.0, 0)] == [10, 0]
    assert [len(part) for part in split_rows(10, 0.01, 0)] == [9, 1]  # a split asked for holds out one row
    assert [len(part) for part in split_rows(1, 0.2, 0)] == [1, 0]
    assert [len(part) for part in split_rows(7, 0.5, 0)] == [3, 4]  # round(3.5) == 4


def test_split_rows_without_training_rows_is_empty_data() -> None:
    for rows, share in ((2, 0.9), (0, 0.2), (5, 1.0)):
        with pytest.raises(GraphError) as caught:
            split_rows(rows, share, 0)
        assert caught.value.code == "empty_data" and f"{rows} rows" in str(caught.value)


def test_epoch_order_is_a_seeded_permutation_per_epoch() -> None:
    train, _ = split_rows(50, 0.2, seed=3)
    first = epoch_order(train, seed=3, epoch=0, shuffle=True)
    assert sorted(first.tolist()) == sorted(train.tolist())
    assert np.array_equal(first, epoch_order(train, seed=3, epoch=0, shuffle=True))
    assert not np.array_equal(first, epoch_order(train, seed=3, epoch=1, shuffle=True))
    assert not np.array_equal(first, epoch_order(train, seed=4, epoch=0, shuffle=True))
    assert not np.array_equal(first, train)
    assert np.array_equal(epoch_order(train, seed=3, epoch=5, shuffle=False), train)
