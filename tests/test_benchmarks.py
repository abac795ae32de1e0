"""The benchmark suite and the comparison command stay runnable (speed itself is measured by
asv and ``numloss bench``, never here)."""
import importlib
import json
import os
import pathlib
import subprocess
import sys


ASV_DIR = pathlib.Path(os.environ.get("NUMLOSS_ASV_DIR", pathlib.Path(__file__).parent.parent / "asv_benchmarks"))


def _benchmark_classes():
    sys.path.insert(0, str(ASV_DIR))
    try:
        for path in sorted((ASV_DIR / "benchmarks").glob("*.py")):
            if path.stem in ("__init__", "common"):
                continue
            mod = importlib.import_module(f"benchmarks.{path.stem}")
            for name, obj in vars(mod).items():
                if isinstance(obj, type) and not name.startswith("_") and obj.__module__ == mod.__name__:
                    yield obj
    finally:
        sys.path.remove(str(ASV_DIR))


def test_asv_config_is_valid_json_with_comments():
    text = "\n".join(line for line in (ASV_DIR / "asv.conf.json").read_text().splitlines()
                     if not line.strip().startswith("//"))
    conf = json.loads(text)
    assert conf["repo"] == ".." and conf["environment_type"] == "virtualenv"


def test_every_registry_loss_is_benchmarked():
    from numloss._registry import CASES

    covered = set()
    for cls in _benchmark_classes():
        if getattr(cls, "params", None) and cls.param_names[0] == "loss":
            covered.update(cls.params[0])
    assert covered == {c.name for c in CASES}


def test_benchmarks_run_on_small_inputs(threads):
    ran = 0
    for cls in _benchmark_classes():
        # the registry-driven classes; the others (sample_weight, metrics) time fixed 1e7 inputs
        if getattr(cls, "param_names", None) != ["loss", "dtype", "size", "threads"]:
            continue
        for name in cls.params[0]:
            bench = cls()
            params = (name, "float32", "small", 1)
            bench.setup(*params)
            for attr in dir(bench):
                if attr.startswith(("time_", "peakmem_")):
                    getattr(bench, attr)(*params)
                    ran += 1
                elif attr.startswith("track_"):
                    assert getattr(bench, attr)(*params) > 0
                    ran += 1
    assert ran > 0


def test_bench_command_writes_json_and_plot(tmp_path):
    out_json = tmp_path / "bench.json"
    out_png = tmp_path / "bench.png"
    proc = subprocess.run(
        [sys.executable, "-m", "numloss", "bench", "--quick", "--size", "small", "--only", "mse_loss",
         "--only", "kl_div", "--no-recycle", "--json", str(out_json), "--plot", str(out_png)],
        capture_output=True, text=True, timeout=600, check=True,
    )
    assert "mse_loss" in proc.stdout and "kl_div" in proc.stdout and "torch" in proc.stdout
    assert "output memory fresh" in proc.stdout
    data = json.loads(out_json.read_text())
    assert data["meta"]["recycle"] is False
    assert [r["name"] for r in data["results"]] == ["mse_loss", "kl_div"]
    for row in data["results"]:
        for key in ("numloss", "numloss_grad", "torch", "torch_grad", "numpy", "floor", "floor_rw"):
            assert row[key] > 0
    # scikit-learn's loss module has a squared error but no KL divergence
    assert data["results"][0]["sklearn"] > 0 and data["results"][0]["sklearn_grad"] > 0
    assert "sklearn" not in data["results"][1]
    assert "sklearn" in proc.stdout and "rw floor" in proc.stdout
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_metrics_suite_runs_selected_metrics(tmp_path):
    out_json = tmp_path / "metrics.json"
    proc = _numloss("bench", "--suite", "metrics", "--quick", "--size", "small", "--only", "mean_squared_error",
                    "--only", "log_loss (binary)", "--json", str(out_json))
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out_json.read_text())
    assert [r["name"] for r in data["results"]] == ["mean_squared_error", "log_loss (binary)"]
    assert all(r["numloss"] > 0 and r["floor"] > 0 for r in data["results"])
    # a metric is not a loss of the default suite, and a loss is not a metric
    for args, message in ((["--only", "mean_squared_error"], "unknown loss"),
                          (["--suite", "metrics", "--only", "mse_loss"], "unknown metric")):
        proc = _numloss("bench", "--quick", *args)
        assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_bench_rejects_unknown_loss():
    proc = subprocess.run([sys.executable, "-m", "numloss", "bench", "--only", "nope"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "unknown loss" in proc.stderr


def _numloss(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "numloss", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_bench_checks_its_arguments_before_running(tmp_path):  # issue 17 item 16
    for args in (["--threads", "0"], ["--threads", "-1"], ["--threads", "100000"],
                 ["--json", str(tmp_path / "missing" / "b.json")], ["--plot", str(tmp_path)]):
        proc = _numloss("bench", "--quick", "--size", "small", "--only", "mse_loss", *args)
        assert proc.returncode == 2, (args, proc.stderr[-500:])
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and args[0] in lines[0] and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert "[" not in proc.stderr  # failed before the progress bar of a run
    assert list(tmp_path.iterdir()) == []


def test_command_line_help(tmp_path):  # issue 17 item 21
    top = _numloss("--help")
    assert top.returncode == 0 and "``" not in top.stdout
    bare = _numloss()
    assert bare.returncode == 0 and bare.stdout == top.stdout
    import argparse

    from numloss.bench import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    helps = {a.option_strings[0]: a.help for a in parser._actions if a.option_strings}
    assert helps["--size"] and helps["--dtype"]
    unknown = _numloss("bench", "--only", "nope")
    assert unknown.returncode == 2 and "cross_entropy" in unknown.stderr and "mse_loss" in unknown.stderr
    out = tmp_path / "b.json"
    by_class = _numloss("bench", "--quick", "--size", "small", "--only", "MSELoss", "--json", str(out))
    assert by_class.returncode == 0, by_class.stderr[-1000:]
    assert [r["name"] for r in json.loads(out.read_text())["results"]] == ["mse_loss"]
