"""Shared fixtures of the Python test suite."""

import numpy as np
import pytest

import lsm_vec


@pytest.fixture
def in_tmp_cwd(tmp_path, monkeypatch):
    """Runs the test with a fresh temporary directory as the working directory (the
    specification's examples write ./db and ./run/db)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def make_options(dim, **kwargs):
    """Options for a fresh database of dimension ``dim``."""
    opts = lsm_vec.LSMVecDBOptions()
    opts.dim = dim
    opts.reinit = True
    for key, value in kwargs.items():
        setattr(opts, key, value)
    return opts


@pytest.fixture
def open_db(tmp_path):
    """Factory: ``open_db(dim, **options)`` opens a fresh database under tmp_path and closes
    it at the end of the test."""
    opened = []

    def factory(dim=8, name="db", **kwargs):
        db = lsm_vec.LSMVecDB.open(str(tmp_path / name), make_options(dim, **kwargs))
        opened.append(db)
        return db

    yield factory
    for db in opened:
        db.close()


@pytest.fixture
def rng():
    """A seeded numpy generator."""
    return np.random.default_rng(1234)
