import os

import numpy as np
import pytest


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long or huge-memory tests, skipped unless --runslow is given")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def threads():
    """Restore numloss's thread count after a test that changes it."""
    from numloss import _threads

    n = _threads._num_threads  # None: following Numba's thread count
    yield
    _threads._num_threads = n


@pytest.fixture(params=["1 thread", "2 threads"])
def thread_mode(request, monkeypatch):
    """Run a test serially, then with 2 threads and the parallel kernels at every size (drawn
    inputs are far below ``PARALLEL_MIN_WORK``, which would otherwise keep them serial)."""
    import numloss
    from numloss import _threads

    n = _threads._num_threads
    if request.param == "2 threads":
        if _threads._max_threads < 2:
            pytest.skip("Numba has fewer than 2 threads here")
        numloss.set_num_threads(2)
        monkeypatch.setattr(_threads, "PARALLEL_MIN_WORK", 0)
    else:
        numloss.set_num_threads(1)
    yield request.param
    _threads._num_threads = n


def pytest_report_header(config):
    import numloss

    return f"numloss {numloss.__version__} from {os.path.dirname(numloss.__file__)}"
