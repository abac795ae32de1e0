"""The installed package: compiled extension, command line, threads, public names."""
import os
import subprocess
import sys
import pathlib
import textwrap

import pytest

import numloss
from numloss._registry import CASES
from numloss.losses._base import Loss

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _loss_classes():
    """{function: class name} of the loss classes numloss exports."""
    return {
        obj.function: name
        for name, obj in vars(numloss).items()
        if isinstance(obj, type) and issubclass(obj, Loss) and obj.function is not None
    }


def test_compiled_extension_is_importable():
    from numloss import _ctc

    assert _ctc.__file__.endswith((".so", ".pyd"))
    assert isinstance(_ctc.OPENMP, bool)


def _run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "numloss", *args], capture_output=True, text=True,
                          timeout=300, env=env, check=True).stdout


def test_info_reports_the_facts():
    out = _run("info")
    from numloss import _ctc

    assert f"numloss:          {numloss.__version__}" in out
    assert f"loaded ({_ctc.__file__}), OpenMP: {'yes' if _ctc.OPENMP else 'no'}" in out
    import numba
    import numpy

    assert f"numba:            {numba.__version__}" in out and f"numpy:            {numpy.__version__}" in out
    assert "threading layer:" in out and "compile cache:" in out


def test_console_script_exists():
    exe = os.path.join(os.path.dirname(sys.executable), "numloss")
    assert os.path.exists(exe)
    assert "numloss" in subprocess.run([exe, "info"], capture_output=True, text=True, timeout=300).stdout


def test_demo_runs_beside_torch():
    out = _run("demo")
    assert "mse_loss" in out and "torch" in out


def test_public_names():
    """Every torch.nn loss (21) and the three extras, as functions and as classes: every loss of
    the registry is exported with a functional alias and a class, and nothing else is."""
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)) == 24
    assert set(numloss.functional.__all__) == set(names)
    classes = _loss_classes()
    assert len(classes) == 24
    for name in names:
        fn = getattr(numloss, name)
        assert callable(fn), name
        assert getattr(numloss.functional, name) is fn
        assert fn in classes, f"{name} has no loss class"
        assert getattr(numloss, classes[fn]).function is fn


def test_every_public_loss_has_a_readme_row():
    """The README's loss table lists every registry loss with its class."""
    rows = [line for line in README.read_text().splitlines() if line.startswith("|")]
    classes = _loss_classes()
    for case in CASES:
        cls = classes[getattr(numloss, case.name)]
        assert any(f"`{case.name}`" in row and f"`{cls}`" in row for row in rows), (
            f"README has no table row for {case.name} / {cls}"
        )


def test_set_num_threads_validates(threads):
    import numba

    numloss.set_num_threads(1)
    assert numloss.get_num_threads() == 1
    with pytest.raises(ValueError, match="n must be"):
        numloss.set_num_threads(numba.config.NUMBA_NUM_THREADS + 1)
    with pytest.raises(ValueError):
        numloss.set_num_threads(0)
    with pytest.raises(TypeError):
        numloss.set_num_threads(1.5)


def test_import_does_not_import_torch_or_sklearn():
    code = "import sys, numloss; print('torch' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False False"


def test_second_process_loads_compiled_code_from_cache(tmp_path):
    """The first call in a fresh process compiles nothing: every kernel comes from the cache."""
    code = textwrap.dedent("""
        import numpy as np, numloss
        from numloss.losses.regression import _MSE
        from numloss.losses.probabilistic import _BCE_LOGITS
        x = np.linspace(-1, 1, 100, dtype=np.float32)
        numloss.mse_loss(x, x[::-1], return_grad=True)
        numloss.binary_cross_entropy_with_logits(x, (x > 0).astype(np.float32), reduction="none", return_grad=True)
        misses = {}
        for k in (_MSE, _BCE_LOGITS):
            for kern in k._kernels.values():
                d = kern.dispatcher(False)
                misses[kern.name] = (sum(d.stats.cache_misses.values()), sum(d.stats.cache_hits.values()))
        print(repr(misses))
    """)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600, check=True)
    second = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600, check=True)
    stats1 = eval(first.stdout)
    stats2 = eval(second.stdout)
    assert stats1 and all(m > 0 for m, _ in stats1.values()), "the first process should compile"
    for name, (misses, hits) in stats2.items():
        assert misses == 0, f"{name} recompiled in a second process"
        assert hits > 0
