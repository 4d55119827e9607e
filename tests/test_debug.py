"""Gradient debugging tools: detect_anomaly, check_numerics, grad_norms, plot_grad_flow."""
import math

import numpy as np
import pytest

import tapegrad as tg


def test_detect_anomaly_names_the_op_and_its_forward_location():
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    with tg.detect_anomaly():
        y = tg.sqrt(x)  # d/dx sqrt at 0 is inf
        loss = (y * 2).sum()
        with pytest.raises(RuntimeError) as info:
            loss.backward()
    msg = str(info.value)
    assert "SqrtBackward" in msg and "nan or inf" in msg
    assert "test_debug.py" in msg and "y = tg.sqrt(x)" in msg  # where the op was created


def test_without_anomaly_mode_backward_gives_inf_silently_and_records_no_trace():
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    (tg.sqrt(x) * 2).sum().backward()
    assert math.isinf(x.grad.tolist()[0])
    assert not tg.debug.is_anomaly_enabled()


def test_detect_anomaly_check_nan_false_records_but_does_not_raise():
    x = tg.tensor([0.0], requires_grad=True)
    with tg.detect_anomaly(check_nan=False):
        tg.sqrt(x).sum().backward()
    assert math.isinf(x.grad.item())


def test_detect_anomaly_as_decorator_and_restores_state():
    @tg.detect_anomaly()
    def run():
        assert tg.debug.is_anomaly_enabled()
        x = tg.tensor([-1.0], requires_grad=True)
        tg.log(x).sum().backward()  # log of a negative: nan forward, -1 backward (finite)
        return x.grad

    assert run().tolist() == [-1.0]
    assert not tg.debug.is_anomaly_enabled()


def test_detect_anomaly_catches_nan_from_a_tape_gradient():
    x = tg.constant([0.0])
    with tg.detect_anomaly():
        with tg.GradientTape() as tape:
            tape.watch(x)
            y = tg.sqrt(x)
        with pytest.raises(RuntimeError, match="SqrtBackward"):
            tape.gradient(y, x)


def test_check_numerics_passes_finite_and_returns_the_tensor():
    t = tg.tensor([1.0, 2.0])
    assert tg.debug.check_numerics(t, "weights") is t
    assert tg.debug.check_numerics(tg.tensor([1, 2]), "ints") is not None


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_check_numerics_raises_with_the_message(bad):
    t = tg.tensor([1.0, bad])
    with pytest.raises(tg.debug.NumericsError, match="layer 3 activations"):
        tg.debug.check_numerics(t, "layer 3 activations")


def test_check_numerics_rejects_non_tensors():
    with pytest.raises(TypeError, match="check_numerics"):
        tg.debug.check_numerics([1.0], "x")


def test_grad_norms_reports_flags_and_missing_grads():
    model = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.ReLU(), tg.nn.Linear(4, 2))
    x = tg.tensor(np.ones((5, 3), np.float32))
    model(x).sum().backward()
    params = list(model.named_parameters())
    with tg.no_grad():
        params[0][1].grad.mul_(1e6)   # exploding
        params[1][1].grad.zero_()     # vanishing
    params[3][1].grad = None          # no gradient
    rows = tg.utils.grad_norms(model)
    assert [r["name"] for r in rows] == [n for n, _ in params]
    by = {r["name"]: r for r in rows}
    n0, n1, n2, n3 = (name for name, _ in params)
    assert by[n0]["exploding"] and not by[n0]["vanishing"]
    assert by[n1]["vanishing"] and by[n1]["norm"] == 0.0
    assert by[n3]["norm"] is None and not by[n3]["vanishing"] and not by[n3]["exploding"]
    expected = float(np.linalg.norm(params[2][1].grad.numpy()))
    assert by[n2]["norm"] == pytest.approx(expected, rel=1e-6)
    assert by[n2]["shape"] == tuple(params[2][1].shape)


def test_grad_norms_of_a_plain_parameter_list():
    a = tg.tensor([3.0, 4.0], requires_grad=True)
    (a * a).sum().backward()  # grad 2a = [6, 8], norm 10
    rows = tg.utils.grad_norms([a], exploding=5.0)
    assert rows[0]["name"] == "param0" and rows[0]["norm"] == pytest.approx(10.0) and rows[0]["exploding"]


def test_plot_grad_flow_saves_a_png_or_says_what_is_missing(tmp_path):
    model = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.Linear(4, 1))
    model(tg.tensor(np.ones((2, 3), np.float32))).sum().backward()
    path = tmp_path / "flow.png"
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="matplotlib"):
            tg.utils.plot_grad_flow(model, str(path))
        return
    assert tg.utils.plot_grad_flow(model, str(path)) == str(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
