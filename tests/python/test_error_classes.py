"""Each class of the exception hierarchy provoked for real: ``lsm_vec.Error`` (a RuntimeError)
and its subclasses ClosedError, BusyError, CorruptionError and IoError, and the causes chained
through ``__cause__`` (an OSError with its errno for a system call, fjall's error for damage
the storage engine found). ValueError and KeyError keep their classes."""

import errno
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import lsm_vec
from conftest import make_options

DIM = 8
N = 300


def reopen_options():
    opts = make_options(DIM)
    opts.reinit = False
    return opts


def causes(e):
    """``e.__cause__``, its ``__cause__``, ... (outermost first)."""
    out = []
    c = e.__cause__
    while c is not None:
        out.append(c)
        c = c.__cause__
    return out


@pytest.fixture
def closed_db(tmp_path):
    """A closed database of N vectors (flushed, so that the LSM has tables) and its path."""
    path = tmp_path / "db"
    x = np.random.default_rng(7).random((N, DIM), dtype=np.float32)
    db = lsm_vec.LSMVecDB.open(str(path), make_options(DIM))
    db.insert_batch(list(range(N)), x)
    db.flush()
    db.close()
    return path


def copy_of(src, tmp_path, name="copy"):
    dst = tmp_path / name
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("name", ["CorruptionError", "BusyError", "ClosedError", "IoError"])
def test_every_class_is_a_runtime_error(name):
    cls = getattr(lsm_vec, name)
    assert issubclass(cls, lsm_vec.Error)
    assert issubclass(cls, RuntimeError)
    assert not issubclass(cls, (ValueError, KeyError, OSError))
    assert issubclass(lsm_vec.Error, RuntimeError)


# --- ClosedError ----------------------------------------------------------------------------


def test_closed_handle_is_closed_error(open_db):
    db = open_db(DIM)
    db.insert(1, [0.5] * DIM)
    db.close()
    with pytest.raises(lsm_vec.ClosedError, match="closed") as info:
        db.get(1)
    assert isinstance(info.value, lsm_vec.Error) and isinstance(info.value, RuntimeError)
    assert info.value.__cause__ is None  # found by lsm-vec itself: no lower-level cause
    with pytest.raises(lsm_vec.ClosedError):
        db.search_knn([0.5] * DIM, k=1, ef_search=4)
    with pytest.raises(RuntimeError, match="closed"):
        db.insert(2, [0.5] * DIM)


# --- BusyError ------------------------------------------------------------------------------


def test_second_handle_in_this_process_is_busy_error(closed_db):
    with lsm_vec.LSMVecDB.open(str(closed_db), reopen_options()) as db:
        with pytest.raises(lsm_vec.BusyError, match="already open") as info:
            lsm_vec.LSMVecDB.open(str(closed_db), reopen_options())
        assert str(closed_db) in str(info.value)  # names the database
        assert isinstance(info.value, RuntimeError)
        assert len(db) == N  # the first handle is unaffected


def test_second_process_is_busy_error(closed_db):
    """Another process opening the directory while this one holds it gets BusyError."""
    child = textwrap.dedent(
        """
        import sys
        import lsm_vec
        opts = lsm_vec.LSMVecDBOptions()
        opts.dim = %d
        try:
            lsm_vec.LSMVecDB.open(sys.argv[1], opts).close()
        except lsm_vec.BusyError as e:
            print("BusyError", isinstance(e, RuntimeError), e)
        except Exception as e:
            print("other", type(e).__name__, e)
        else:
            print("opened")
        """
        % DIM
    )
    with lsm_vec.LSMVecDB.open(str(closed_db), reopen_options()) as db:
        out = subprocess.run(
            [sys.executable, "-c", child, str(closed_db)],
            capture_output=True, text=True, timeout=120, env=dict(os.environ),
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("BusyError True "), out.stdout + out.stderr
        assert "already open" in out.stdout
        assert len(db) == N
    # once this process lets go, another can open it
    out = subprocess.run(
        [sys.executable, "-c", child, str(closed_db)],
        capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )
    assert out.stdout.strip() == "opened", out.stdout + out.stderr


# --- CorruptionError ------------------------------------------------------------------------


def overwrite(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


@pytest.mark.parametrize("what, offset, length", [
    ("magic", 0, 8),  # the header's first bytes
    ("header", 20, 4),  # inside the header: its checksum fails
    ("records", 4096, 64),  # the first records, after the header page
])
def test_damaged_vector_file_is_corruption_error(closed_db, tmp_path, what, offset, length):
    path = copy_of(closed_db, tmp_path)
    overwrite(path / "vectors.bin", offset, b"\xa5" * length)
    with pytest.raises(lsm_vec.CorruptionError) as info:
        with lsm_vec.LSMVecDB.open(str(path), reopen_options()) as db:
            for i in range(N):  # a record's damage may only be seen when it is read
                db.get(i)
    e = info.value
    assert isinstance(e, lsm_vec.Error) and isinstance(e, RuntimeError)
    assert "vectors.bin" in str(e), str(e)  # the message names the file
    assert "offset" in str(e), str(e)


def test_damaged_lsm_table_is_corruption_error_with_fjall_cause(closed_db, tmp_path):
    """Damage that the storage engine (fjall) finds: the message names the LSM directory and
    says what fjall reported; fjall's own error is chained as ``__cause__``."""
    path = copy_of(closed_db, tmp_path)
    tables = sorted((path / "lsm").glob("keyspaces/*/tables/*"))
    assert tables, "a flushed database has LSM tables"
    for t in tables:
        data = bytearray(t.read_bytes())
        mid = len(data) // 2
        data[mid:mid + 16] = bytes(b ^ 0xFF for b in data[mid:mid + 16])
        t.write_bytes(bytes(data))
    with pytest.raises(lsm_vec.CorruptionError) as info:
        with lsm_vec.LSMVecDB.open(str(path), reopen_options()) as db:
            for i in range(N):
                db.get(i)
            db.search_knn(np.full(DIM, 0.5, dtype=np.float32), k=10, ef_search=64)
    e = info.value
    assert isinstance(e, RuntimeError)
    msg = str(e)
    assert str(path / "lsm") in msg, msg
    assert "fjall: " in msg, msg  # what fjall reported, in words
    chain = causes(e)
    assert len(chain) >= 1, "fjall's error is the cause"
    assert type(chain[0]) is RuntimeError and "Fjall" in str(chain[0]), repr(chain[0])
    assert e.__suppress_context__


def test_lost_lsm_file_is_corruption_error(closed_db, tmp_path):
    path = copy_of(closed_db, tmp_path)
    (path / "lsm" / "version").unlink()
    with pytest.raises(lsm_vec.CorruptionError, match="version") as info:
        lsm_vec.LSMVecDB.open(str(path), reopen_options())
    assert str(path / "lsm") in str(info.value)


# --- IoError --------------------------------------------------------------------------------


def test_io_error_chains_the_os_error(tmp_path):
    log = tmp_path / "no-such-dir" / "log.txt"
    opts = make_options(DIM, log_file_path=str(log))
    with pytest.raises(lsm_vec.IoError) as info:
        lsm_vec.LSMVecDB.open(str(tmp_path / "db"), opts)
    e = info.value
    assert isinstance(e, lsm_vec.Error) and isinstance(e, RuntimeError)
    assert not isinstance(e, OSError)  # the class is the database's; the OS error is the cause
    assert str(log) in str(e), str(e)  # names the file
    cause = e.__cause__
    assert isinstance(cause, FileNotFoundError), repr(cause)
    assert cause.errno == errno.ENOENT
    assert cause.strerror and cause.strerror in str(e)  # the message carries the cause's
    assert "os error" not in cause.strerror
    assert e.__suppress_context__


def test_a_file_where_the_directory_should_be_is_io_error(tmp_path):
    f = tmp_path / "not_a_dir"
    f.write_text("hello")
    with pytest.raises(lsm_vec.IoError) as info:
        lsm_vec.LSMVecDB.open(str(f), make_options(DIM))
    assert str(f) in str(info.value), str(info.value)
    assert isinstance(info.value.__cause__, OSError), repr(info.value.__cause__)
    assert info.value.__cause__.errno is not None


# --- ValueError / KeyError are unchanged ----------------------------------------------------


def test_value_and_key_errors_keep_their_classes(open_db):
    db = open_db(DIM)
    db.insert(1, [0.5] * DIM)
    with pytest.raises(ValueError) as info:
        db.insert(2, [0.5] * (DIM - 1))
    assert type(info.value) is ValueError and info.value.__cause__ is None
    assert not isinstance(info.value, lsm_vec.Error)
    with pytest.raises(KeyError) as info:
        db.get(2)
    assert type(info.value) is KeyError and info.value.__cause__ is None
    assert not isinstance(info.value, lsm_vec.Error)
