"""``numloss plot``: the curves against torch and finite differences, the PNGs, the errors."""
import pathlib
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

from numloss import _registry, plot
from numloss.cli import main

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")

NAMES = [c.name for c in _registry.CASES]


def test_every_registered_loss_has_a_slice():
    assert sorted(plot.SLICES) == sorted(NAMES)


def test_huber_curve_is_torchs_at_chosen_points():
    # Points on both sides of the kinks at +-delta and at them: 0.5 * x^2 inside, delta * (|x| - delta / 2) outside.
    s, loss, grad = plot.curves("huber_loss", -3, 3, points=13, delta=1.5)
    x = torch.tensor(s, requires_grad=True)
    ref = torch.nn.functional.huber_loss(x, torch.zeros_like(x), reduction="none", delta=1.5)
    (ref_grad,) = torch.autograd.grad(ref.sum(), x)
    np.testing.assert_allclose(loss, ref.detach().numpy(), rtol=1e-12, atol=0)
    np.testing.assert_allclose(grad, ref_grad.numpy(), rtol=1e-12, atol=0)
    assert loss[6] == 0 and loss[0] == 1.5 * (3 - 0.75)  # s[6] = 0, s[0] = -3


def _torch_curves(name, lo, hi, points, target=None):
    """The slice's inputs through torch's loss; d loss / d s from torch's autograd and the tangents."""
    case = _registry.BY_NAME[name]
    sl = plot.SLICES[name]
    s = np.linspace(lo, hi, points)
    args, tangents = sl.build(s, sl.target if target is None else target, **sl.fixed)
    targs = [torch.tensor(np.ascontiguousarray(a)) for a in args]
    for k in case.grad_of:
        targs[k].requires_grad_(True)
    loss = case.torch_loss(torch, *targs, reduction="none")
    grads = torch.autograd.grad(loss.sum(), [targs[k] for k in case.grad_of])
    axis = sl.batch_axis
    dloss = sum(np.moveaxis(g.numpy() * d, axis, 0).reshape(points, -1).sum(1)
                for g, d in zip(grads, tangents) if d is not None)
    return loss.detach().numpy().reshape(points, -1).sum(1), dloss


@pytest.mark.parametrize("name", NAMES)
def test_curves_are_torchs_on_the_same_slice(name):
    lo, hi = plot.SLICES[name].range
    s, loss, grad = plot.curves(name, points=41)
    ref_loss, ref_grad = _torch_curves(name, lo, hi, 41)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-12)


KINKED = ["l1_loss", "huber_loss", "smooth_l1_loss", "rmse_loss", "hinge_loss", "hinge_embedding_loss",
          "margin_ranking_loss", "multi_margin_loss", "multilabel_margin_loss", "triplet_margin_loss"]


@pytest.mark.parametrize("name", KINKED)
def test_gradients_at_the_kinks_are_torchs(name):
    # The grid -2, -1, 0, 1, 2 holds these slices' kinks (at 0 or +-1; the triplet's within 1e-6 of 2).
    target = plot.SLICES[name].target
    for t in (None,) if target is None else (target, -target):
        s, loss, grad = plot.curves(name, -2, 2, target=t, points=5)
        ref_loss, ref_grad = _torch_curves(name, -2, 2, 5, t)
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_curve_is_the_slope_of_the_loss_curve(name):
    # Central differences away from the kinks (which sit at fractions 0.4, 0.5, 0.6, 0.625 and
    # 0.66 of the default ranges): this checks the slices' tangents, which the torch test shares.
    lo, hi = plot.SLICES[name].range
    h = 1e-6
    for frac in (0.13, 0.29, 0.44, 0.57, 0.71, 0.86):
        s0 = lo + frac * (hi - lo)
        _, loss, grad = plot.curves(name, s0 - h, s0 + h, points=3)
        slope = (loss[2] - loss[0]) / (2 * h)
        assert slope == pytest.approx(grad[1], rel=1e-6, abs=1e-7), (name, s0)


def test_target_and_options_reach_the_loss():
    s, loss, grad = plot.curves("HingeLoss", target=-1.0, margin=2.0, points=5)
    np.testing.assert_allclose(loss, np.maximum(0, 2 + s))
    with pytest.raises(ValueError, match="--target does not apply to cross_entropy"):
        plot.curves("cross_entropy", target=1.0)


def test_set_goes_to_the_losses_that_take_it():
    specs = plot._specs(["huber_loss:delta=0.5", "L1Loss", "smooth_l1_loss"], ["beta=2"])
    assert specs == [("huber_loss", {"delta": 0.5}), ("l1_loss", {}), ("smooth_l1_loss", {"beta": 2})]
    with pytest.raises(ValueError, match="--set beta: none of l1_loss takes it"):
        plot._specs(["l1_loss"], ["beta=2"])


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_writes_pngs(tmp_path, capsys):
    out = tmp_path / "overlay.png"
    assert main(["plot", "l1_loss", "SmoothL1Loss", "huber_loss:delta=0.5", "-o", str(out)]) == 0
    assert _png_size(out) == (640, 320)
    for name in ("cross_entropy", "triplet_margin_loss", "ctc_loss"):
        path = tmp_path / f"{name}.png"
        assert main(["plot", name, "--range", "0.5", "2", "-o", str(path)]) == 0
        assert _png_size(path) == (640, 320)
    assert capsys.readouterr().out.count("wrote ") == 4


@pytest.mark.parametrize("argv, message", [
    (["nope_loss"], "numloss plot: unknown loss 'nope_loss'; valid names (or their class names): l1_loss, "),
    (["cross_entropy", "--target", "1"], "numloss plot: --target does not apply to cross_entropy"),
    (["binary_cross_entropy", "--range", "-1", "1"], "numloss plot: "),
    (["l1_loss", "--set", "delta"], "numloss plot: --set takes KEY=VALUE, got 'delta'"),
    (["l1_loss", "--range", "2", "1"], "numloss plot: --range must be two finite numbers A < B"),
    (["--all-to", "x", "l1_loss"], "numloss plot: --all-to draws every loss at its defaults"),
])
def test_bad_input_exits_2_with_one_line(argv, message, tmp_path, capsys):
    assert main(["plot", *argv, "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err
    assert not (tmp_path / "x.png").exists()


def test_unknown_name_lists_every_loss(capsys):
    assert main(["plot", "HuberLos"]) == 2
    err = capsys.readouterr().err
    assert all(n in err for n in NAMES)


def test_command_line_exit_status(tmp_path):
    run = subprocess.run([sys.executable, "-m", "numloss", "plot", "nope"], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and not list(tmp_path.iterdir())


def test_missing_matplotlib_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes "import matplotlib" raise ImportError
    assert main(["plot", "l1_loss"]) == 2
    assert capsys.readouterr().err == "numloss plot: needs matplotlib: pip install matplotlib\n"


def test_docs_show_every_loss_in_the_readme_order():
    root = pathlib.Path(__file__).resolve().parents[1]
    readme = re.findall(r"^\| `(\w+)` \|", (root / "README.md").read_text(), re.M)
    headings = re.findall(r"^## `(\w+)`", (root / "docs" / "losses.md").read_text(), re.M)
    assert headings == readme and sorted(headings) == sorted(NAMES)
    for name in NAMES:
        assert _png_size(root / "docs" / "img" / f"{name}.png") == (640, 320)
