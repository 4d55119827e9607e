"""tg.nn: Parameter and Module API, layers' forward against NumPy, PyTorch's initialisation,
losses and their gradients (tg.gradcheck in float64), and checkpoints through
tg.save / tg.load (safetensors; imported here from tapegrad.serialization)."""
import math
import os

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import functional as F
from tapegrad.serialization import load, save


def _erf(a):
    return np.vectorize(math.erf)(a)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.act = nn.Tanh()
        self.fc2 = nn.Linear(8, 2, bias=False)
        self.scale = nn.Parameter(tg.ones(2))
        self.frozen = nn.Parameter(tg.zeros(3), requires_grad=False)
        self.register_buffer("running", tg.zeros(2))
        self.note = "plain attribute"

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) * self.scale + self.running


# ---------------------------------------------------------------- Parameter / Module API
def test_parameter_is_a_trainable_leaf_tensor():
    p = nn.Parameter(tg.tensor([1.0, 2.0]))
    assert isinstance(p, tg.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None and p.trainable
    assert repr(p).startswith("Parameter containing:")
    q = nn.Parameter(np.zeros((2, 2)), requires_grad=False)
    assert not q.requires_grad and not q.trainable and q.dtype is tg.float64
    (p * p).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), [2.0, 4.0])


def test_parameter_is_watched_by_a_tape():
    p = nn.Parameter(tg.tensor([1.0, 2.0]))
    with tg.GradientTape() as tape:
        y = (p * p).sum()
    g = tape.gradient(y, p)
    assert g is not None, "a GradientTape must watch a trainable Parameter it uses (as a tf.Variable)"
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])
    assert p.grad is None  # the tape never writes .grad


def test_module_registration_and_traversal():
    tg.manual_seed(0)
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "frozen", "fc1.weight", "fc1.bias", "fc2.weight"]
    assert len(list(net.parameters())) == 5
    assert [n for n, _ in net.named_children()] == ["fc1", "act", "fc2"]
    assert [type(m).__name__ for m in net.modules()] == ["Net", "Linear", "Tanh", "Linear"]
    assert [n for n, _ in net.named_buffers()] == ["running"]
    tv = net.trainable_variables
    assert len(tv) == 4 and all(p.requires_grad for p in tv) and all(p is not net.frozen for p in tv)
    assert net.note == "plain attribute" and net.fc1.weight.shape == (8, 4)
    with pytest.raises(TypeError, match="Parameter or None expected"):
        net.scale = tg.ones(2)
    net.extra = nn.Parameter(tg.ones(1))
    assert "extra" in dict(net.named_parameters())
    del net.extra
    assert "extra" not in dict(net.named_parameters())
    with pytest.raises(AttributeError):
        net.does_not_exist  # noqa: B018
    assert "Linear(in_features=4, out_features=8, bias=True)" in repr(net)


def test_shared_parameters_listed_once():
    lin = nn.Linear(3, 3)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2


def test_train_eval_and_zero_grad():
    net = Net()
    assert net.training and net.fc1.training
    assert net.eval() is net
    assert not net.training and not net.fc1.training and not net.act.training
    net.train()
    assert net.fc2.training
    net(tg.ones((3, 4))).sum().backward()
    assert all(p.grad is not None for p in net.trainable_variables)
    net.zero_grad(set_to_none=False)
    assert all(float(np.abs(p.grad.numpy()).max()) == 0.0 for p in net.trainable_variables)
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_module_call_runs_forward_and_both_idioms_give_grads():
    tg.manual_seed(1)
    net = Net()
    x = tg.randn(5, 4)
    out = net(x)
    assert out.shape == (5, 2)
    out.sum().backward()
    auto = [p.grad.numpy().copy() for p in net.trainable_variables]
    with tg.GradientTape() as tape:
        y = net(x).sum()
    tape_grads = tape.gradient(y, net.trainable_variables)
    assert all(g is not None for g in tape_grads)
    for a, b in zip(auto, tape_grads):
        np.testing.assert_allclose(b.numpy(), a, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- layers
def test_linear_forward_and_init_bounds():
    tg.manual_seed(0)
    lin = nn.Linear(50, 40)
    bound = 1 / math.sqrt(50)
    w, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    assert w.shape == (40, 50) and b.shape == (40,) and lin.weight.dtype is tg.float32
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.9 * bound  # uses the whole range (U(-bound, bound))
    assert abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound
    x = np.random.default_rng(0).standard_normal((7, 50)).astype(np.float32)
    np.testing.assert_allclose(lin(tg.tensor(x)).detach().numpy(), x @ w.T + b, rtol=1e-5, atol=1e-5)
    tg.manual_seed(0)
    again = nn.Linear(50, 40)
    np.testing.assert_array_equal(again.weight.detach().numpy(), w)  # tg.manual_seed reproduces the init
    nb = nn.Linear(3, 2, bias=False, dtype=tg.float64)
    assert nb.bias is None and nb.weight.dtype is tg.float64 and len(list(nb.parameters())) == 1


def test_activations_forward(rng):
    x = rng.standard_normal((4, 5))
    t = tg.tensor(x)
    np.testing.assert_allclose(nn.ReLU()(t).numpy(), np.maximum(x, 0), rtol=1e-15)
    np.testing.assert_allclose(nn.Tanh()(t).numpy(), np.tanh(x), rtol=1e-12)
    np.testing.assert_allclose(nn.Sigmoid()(t).numpy(), 1 / (1 + np.exp(-x)), rtol=1e-12)
    np.testing.assert_allclose(nn.GELU()(t).numpy(), 0.5 * x * (1 + _erf(x / math.sqrt(2))), rtol=1e-10, atol=1e-12)
    approx = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(nn.GELU("tanh")(t).numpy(), approx, rtol=1e-12)
    with pytest.raises(ValueError):
        nn.GELU("fast")


def test_dropout_train_and_eval():
    tg.manual_seed(0)
    drop = nn.Dropout(0.25)
    x = tg.ones((200, 100), requires_grad=True)
    y = drop(x)
    v = y.detach().numpy()
    zeros = (v == 0).mean()
    assert abs(zeros - 0.25) < 0.02
    np.testing.assert_allclose(v[v != 0], 1 / 0.75, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), v, rtol=1e-6)  # the gradient is the same mask and scale
    drop.eval()
    assert drop(x) is x
    assert F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).detach().numpy(), np.zeros((200, 100)))
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


def test_sequential_container():
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and isinstance(seq[-1], nn.Linear)
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2
    seq.append(nn.Sigmoid())
    out = seq(tg.ones((5, 3))).detach().numpy()
    assert out.shape == (5, 2) and ((out > 0) & (out < 1)).all()
    with pytest.raises(IndexError):
        seq[10]


def test_embedding_forward_init_and_padding():
    tg.manual_seed(0)
    emb = nn.Embedding(1000, 16)
    w = emb.weight.detach().numpy()
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1.0) < 0.02  # N(0, 1)
    idx = tg.tensor([[1, 5, 5], [999, 0, 1]])
    out = emb(idx)
    assert out.shape == (2, 3, 16)
    np.testing.assert_array_equal(out.detach().numpy(), w[np.array([[1, 5, 5], [999, 0, 1]])])
    out.sum().backward()
    g = emb.weight.grad.numpy()
    assert (g[5] == 2).all() and (g[1] == 2).all() and (g[0] == 1).all() and (g[2] == 0).all()
    pad = nn.Embedding(10, 4, padding_idx=0)
    np.testing.assert_array_equal(pad.weight.detach().numpy()[0], np.zeros(4))
    pad(tg.tensor([0, 3, 0])).sum().backward()
    np.testing.assert_array_equal(pad.weight.grad.numpy()[0], np.zeros(4))  # no gradient to padding_idx
    np.testing.assert_array_equal(pad.weight.grad.numpy()[3], np.ones(4))
    with pytest.raises(TypeError):
        emb(tg.tensor([0.0, 1.0]))


def test_layer_norm_forward_and_init(rng):
    ln = nn.LayerNorm((3, 4))
    np.testing.assert_array_equal(ln.weight.detach().numpy(), np.ones((3, 4)))
    np.testing.assert_array_equal(ln.bias.detach().numpy(), np.zeros((3, 4)))
    x = rng.standard_normal((2, 3, 4)).astype(np.float32) * 5 + 2
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(ln(tg.tensor(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-5)
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    x64 = rng.standard_normal((5, 4))
    out = F.layer_norm(tg.tensor(x64), 4, tg.tensor(w), tg.tensor(b), eps=1e-3)
    ref = (x64 - x64.mean(-1, keepdims=True)) / np.sqrt(x64.var(-1, keepdims=True) + 1e-3) * w + b
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-12)
    assert nn.LayerNorm(4, elementwise_affine=False).weight is None
    with pytest.raises(RuntimeError, match="normalized_shape"):
        F.layer_norm(tg.ones((3, 4)), (3,))


# ---------------------------------------------------------------- losses
def _log_softmax(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_forward(reduction, rng):
    x = rng.standard_normal((6, 4)) * 3
    y = rng.integers(0, 4, 6)
    per = -_log_softmax(x)[np.arange(6), y]
    expected = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    out = F.cross_entropy(tg.tensor(x), tg.tensor(y), reduction=reduction)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    mod = nn.CrossEntropyLoss(reduction=reduction)(tg.tensor(x), tg.tensor(y))
    np.testing.assert_allclose(mod.numpy(), expected, rtol=1e-12)


def test_cross_entropy_other_shapes_and_errors(rng):
    x = rng.standard_normal((2, 3, 5))  # (N, C, d)
    y = rng.integers(0, 3, (2, 5))
    lsm = _log_softmax(x, axis=1)
    per = -np.take_along_axis(lsm, y[:, None, :], axis=1)[:, 0, :]
    np.testing.assert_allclose(F.cross_entropy(tg.tensor(x), tg.tensor(y), reduction="none").numpy(), per, rtol=1e-12)
    np.testing.assert_allclose(F.cross_entropy(tg.tensor(x), tg.tensor(y)).numpy(), per.mean(), rtol=1e-12)
    v = rng.standard_normal(4)  # (C,) with a 0-d label
    np.testing.assert_allclose(F.cross_entropy(tg.tensor(v), tg.tensor(2)).numpy(), -_log_softmax(v)[2], rtol=1e-12)
    logits = tg.tensor(rng.standard_normal((3, 4)))
    with pytest.raises(IndexError, match="out of range"):
        F.cross_entropy(logits, tg.tensor([0, 1, 4]))
    with pytest.raises(TypeError):
        F.cross_entropy(logits, tg.tensor([0, 1, 2], dtype=tg.bool))
    with pytest.raises(ValueError):
        F.cross_entropy(logits, tg.tensor([0, 1]))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(logits, tg.tensor([0, 1, 2]), reduction="avg")


def test_mse_and_bce_forward(rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(F.mse_loss(tg.tensor(a), tg.tensor(b)).numpy(), ((a - b) ** 2).mean(), rtol=1e-12)
    np.testing.assert_allclose(nn.MSELoss("sum")(tg.tensor(a), tg.tensor(b)).numpy(), ((a - b) ** 2).sum(),
                               rtol=1e-12)
    with pytest.raises(ValueError, match="shapes must match"):
        F.mse_loss(tg.tensor(a), tg.tensor(b[:, :2]))
    x = np.array([-100.0, -3.0, 0.0, 2.0, 50.0])
    y = np.array([0.0, 1.0, 0.5, 1.0, 0.0])
    sig = 1 / (1 + np.exp(-x))
    with np.errstate(divide="ignore"):
        naive = -(y * np.log(sig) + (1 - y) * np.log1p(-sig))
    naive[0], naive[-1] = 0.0, 50.0  # the exact limits where the naive formula loses everything
    got = F.binary_cross_entropy_with_logits(tg.tensor(x), tg.tensor(y), reduction="none").numpy()
    np.testing.assert_allclose(got, naive, rtol=1e-9, atol=1e-12)
    pw = np.array([2.0, 2.0, 2.0, 2.0, 2.0])
    got = F.binary_cross_entropy_with_logits(tg.tensor(x[1:4]), tg.tensor(y[1:4]), pos_weight=tg.tensor(pw[1:4]),
                                             reduction="sum").numpy()
    ref = -(2 * y[1:4] * np.log(sig[1:4]) + (1 - y[1:4]) * np.log1p(-sig[1:4])).sum()
    np.testing.assert_allclose(got, ref, rtol=1e-12)


# ---------------------------------------------------------------- gradients
def _f64(rng, shape):
    return tg.tensor(rng.standard_normal(shape), requires_grad=True)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradcheck_cross_entropy(reduction, rng):
    y = tg.tensor(rng.integers(0, 5, 4))
    assert tg.gradcheck(lambda x: F.cross_entropy(x, y, reduction=reduction), (_f64(rng, (4, 5)),))
    assert tg.gradgradcheck(lambda x: F.cross_entropy(x, y, reduction=reduction), (_f64(rng, (4, 5)),))
    probs = tg.tensor(rng.dirichlet(np.ones(5), 4))
    assert tg.gradcheck(lambda x: F.cross_entropy(x, probs, reduction=reduction), (_f64(rng, (4, 5)),))


def test_gradcheck_layer_norm(rng):
    fn = lambda x, w, b: F.layer_norm(x, (2, 3), w, b, eps=1e-5)  # noqa: E731
    assert tg.gradcheck(fn, (_f64(rng, (4, 2, 3)), _f64(rng, (2, 3)), _f64(rng, (2, 3))))
    assert tg.gradcheck(lambda x: F.layer_norm(x, 3), (_f64(rng, (2, 3)),))


def test_gradgradcheck_layer_norm(rng):
    """SPEC 3: create_graph=True makes gradients differentiable to any order."""
    fn = lambda x, w, b: F.layer_norm(x, (3,), w, b)  # noqa: E731
    assert tg.gradgradcheck(fn, (_f64(rng, (2, 3)), _f64(rng, (3,)), _f64(rng, (3,))))


def test_gradcheck_mse_bce_linear_gelu_embedding(rng):
    t = tg.tensor(rng.standard_normal((3, 4)))
    yb = tg.tensor(rng.random((3, 4)))
    pw = tg.tensor(rng.random(4) + 0.5)
    wt = tg.tensor(rng.random((3, 4)))
    assert tg.gradcheck(lambda x: F.mse_loss(x, t), (_f64(rng, (3, 4)),))
    assert tg.gradcheck(lambda x: F.binary_cross_entropy_with_logits(x, yb, weight=wt, pos_weight=pw),
                        (_f64(rng, (3, 4)),))
    assert tg.gradcheck(lambda x, w, b: F.linear(x, w, b), (_f64(rng, (5, 4)), _f64(rng, (3, 4)), _f64(rng, (3,))))
    assert tg.gradcheck(lambda x: F.gelu(x, approximate="tanh"), (_f64(rng, (6,)),))
    idx = tg.tensor([0, 2, 2, 1])  # (padding_idx deliberately has no gradient, so it is not checked here)
    assert tg.gradcheck(lambda w: F.embedding(idx, w), (_f64(rng, (3, 2)),))


def test_gradcheck_through_a_model_in_float64(rng):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.LayerNorm(4), nn.Linear(4, 2)).double()
    assert all(p.dtype is tg.float64 for p in model.parameters())
    y = tg.tensor([1, 0])
    w = model[0].weight
    assert isinstance(w, nn.Parameter) and w.requires_grad
    assert tg.gradcheck(lambda x: F.cross_entropy(model(x), y), (_f64(rng, (2, 3)),))


# ---------------------------------------------------------------- state_dict / checkpoints
def test_state_dict_keys_and_load_errors():
    tg.manual_seed(0)
    net = Net()
    sd = net.state_dict()
    assert list(sd) == ["scale", "frozen", "running", "fc1.weight", "fc1.bias", "fc2.weight"]
    assert all(not v.requires_grad for v in sd.values())
    assert sd["fc1.weight"].data_ptr() == net.fc1.weight.data_ptr()  # shares memory, as PyTorch
    other = Net()
    bad = dict(sd)
    bad.pop("scale")
    bad["extra"] = tg.ones(1)
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "scale"') as e:
        other.load_state_dict(bad)
    assert 'Unexpected key(s) in state_dict: "extra"' in str(e.value)
    result = other.load_state_dict(bad, strict=False)
    assert result.missing_keys == ["scale"] and result.unexpected_keys == ["extra"]
    wrong = dict(sd)
    wrong["fc1.bias"] = tg.ones(3)
    with pytest.raises(RuntimeError, match="size mismatch for fc1.bias"):
        other.load_state_dict(wrong)


def test_state_dict_round_trip_through_save_load(tmp_path):
    tg.manual_seed(0)
    net = Net()
    with tg.no_grad():
        net.running.copy_(tg.tensor([0.5, -0.5]))
    path = tmp_path / "net.safetensors"
    save(net.state_dict(), path)
    loaded = load(path)
    assert list(loaded) == list(net.state_dict())
    tg.manual_seed(1)
    other = Net()
    x = tg.randn(3, 4)
    assert not np.allclose(other(x).detach().numpy(), net(x).detach().numpy())
    other.load_state_dict(loaded)
    np.testing.assert_array_equal(other(x).detach().numpy(), net(x).detach().numpy())
    assert isinstance(other.fc1.weight, nn.Parameter) and other.fc1.weight.requires_grad
    # a standard safetensors file: other readers see the same tensors
    from safetensors.numpy import load_file

    raw = load_file(str(path))
    np.testing.assert_array_equal(raw["fc1.weight"], net.fc1.weight.detach().numpy())


def test_save_load_nested_structures_and_dtypes(tmp_path):
    obj = {
        "model": {"w": tg.tensor([[1.0, 2.0]]), "n": tg.tensor(3, dtype=tg.int64)},
        "optim": {"state": {0: {"step": 7, "exp_avg": tg.tensor([0.5], dtype=tg.float64)}},
                  "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "params": [0],
                                    "nesterov": False, "name": None}]},
        "epoch": 3,
        "best": math.inf,
        "mask": tg.tensor([True, False]),
        "scalar": tg.tensor(2.5),
    }
    save(obj, tmp_path / "ckpt.safetensors")
    back = load(tmp_path / "ckpt.safetensors")
    assert back["epoch"] == 3 and back["best"] == math.inf
    assert back["optim"]["state"][0]["step"] == 7
    assert back["optim"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert back["optim"]["param_groups"][0]["name"] is None
    assert back["model"]["n"].dtype is tg.int64 and back["model"]["n"].shape == () and back["model"]["n"].item() == 3
    assert back["optim"]["state"][0]["exp_avg"].dtype is tg.float64
    assert back["mask"].dtype is tg.bool and back["mask"].tolist() == [True, False]
    assert back["scalar"].shape == () and back["scalar"].item() == 2.5
    np.testing.assert_array_equal(back["model"]["w"].numpy(), [[1.0, 2.0]])


def test_save_refuses_what_it_cannot_store_without_pickle(tmp_path):
    with pytest.raises(TypeError, match="never pickled"):
        save({"fn": lambda: 1}, tmp_path / "x.safetensors")
    assert not os.path.exists(tmp_path / "x.safetensors")


def _good_file(tmp_path):
    path = tmp_path / "good.safetensors"
    save({"w": tg.ones((64, 64)), "b": tg.zeros(64)}, path)
    return path, path.read_bytes()


@pytest.mark.parametrize("damage", ["truncated_half", "truncated_data", "garbage", "empty", "bad_header_json",
                                    "header_length_lies"])
def test_corrupt_or_truncated_file_rejected_clearly(damage, tmp_path):
    _, data = _good_file(tmp_path)
    bad = tmp_path / f"bad-{damage}.safetensors"
    header_len = int.from_bytes(data[:8], "little")
    payload = {
        "truncated_half": data[: len(data) // 2],
        "truncated_data": data[:-100],
        "garbage": b"\x00not a checkpoint at all" * 8,
        "empty": b"",
        "bad_header_json": data[:8] + b"{" * header_len + data[8 + header_len:],
        "header_length_lies": (10 ** 6).to_bytes(8, "little") + data[8:],
    }[damage]
    bad.write_bytes(payload)
    with pytest.raises(ValueError) as e:
        load(bad)
    assert str(bad) in str(e.value)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        load(tmp_path / "nope.safetensors")


def test_module_to_dtype_and_load_numpy_values():
    lin = nn.Linear(2, 2)
    lin.load_state_dict({"weight": np.eye(2), "bias": np.array([1.0, 2.0])})
    assert lin.weight.dtype is tg.float32
    np.testing.assert_array_equal(lin(tg.tensor([[1.0, 1.0]])).detach().numpy(), [[2.0, 3.0]])
    lin.double()
    assert lin.weight.dtype is tg.float64 and lin.bias.dtype is tg.float64
    assert lin(tg.tensor([[1.0, 1.0]], dtype=tg.float64)).dtype is tg.float64
