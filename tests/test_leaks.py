"""Memory: flat RSS over 10,000 training steps, and every graph freed by reference
counting alone (ISSUE #7, SPEC §7: "a graph whose outputs are dropped is freed at once
by reference counting, without waiting for Python's cycle collector").

A saved tensor is observed through the NumPy array it shares (tg.from_numpy): the array
stays alive exactly as long as some tensor storage still uses its buffer, and NumPy
arrays take weak references. The cycle collector is disabled around each check, so a
reference cycle shows up as a leak instead of being cleaned later.
"""
import contextlib
import gc
import json
import os
import subprocess
import sys
import weakref

import numpy as np
import pytest

import tapegrad as tg

TRAIN = r"""
import gc, json, os, sys
import numpy as np
import tapegrad as tg

STEPS = int(sys.argv[1])
PAGE = os.sysconf("SC_PAGE_SIZE")

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE

gc.disable()  # a reference cycle per step must show up as growth
rng = np.random.default_rng(0)
x = tg.tensor(rng.standard_normal((32, 10)).astype(np.float32))
y = tg.tensor(rng.standard_normal((32, 1)).astype(np.float32))
params = [tg.tensor((rng.standard_normal(s) * 0.3).astype(np.float32), requires_grad=True)
          for s in [(10, 16), (16,), (16, 1), (1,)]]
w1, b1, w2, b2 = params
lr = 0.01
marks = {}
for step in range(1, STEPS + 1):
    h = tg.relu(x @ w1 + b1)
    diff = h @ w2 + b2 - y
    loss = (diff * diff).mean()
    loss.backward()
    with tg.no_grad():
        for p in params:
            p.sub_(p.grad * lr)
            p.grad = None
    if step in (1, 100, 1000, 2000, 4000, 6000, 8000, STEPS):
        marks[step] = rss()
print("RESULT " + json.dumps({"rss": marks, "loss": loss.item(), "gc_objects": len(gc.get_objects())}))
"""


def test_rss_flat_over_10000_training_steps():
    env = dict(os.environ)
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(tg.__file__)))
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    r = subprocess.run([sys.executable, "-c", TRAIN, "10000"], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr[-3000:]}"
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert line, r.stdout
    res = json.loads(line[0][len("RESULT "):])
    rss = {int(k): v for k, v in res["rss"].items()}
    growth = rss[10000] - rss[1000]
    trace = ", ".join(f"{k}: {v / 2**20:.2f} MiB" for k, v in sorted(rss.items()))
    print(f"\n[leaks] RSS by step: {trace}; growth 1000->10000: {growth / 1024:.0f} KiB; final loss {res['loss']:.4f}")
    assert np.isfinite(res["loss"])
    assert growth < 2 ** 20, f"RSS grew by {growth / 2**20:.2f} MiB between step 1,000 and 10,000 ({trace})"


# ------------------------------------------------------------- graph lifetime ----

@contextlib.contextmanager
def no_cycle_collector():
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def shared_array(shape=(3, 4), dtype=np.float64, seed=0):
    """A tensor sharing a fresh NumPy array, and a weak reference to that array (the
    only strong reference to it is then the tensor's storage)."""
    a = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    ref = weakref.ref(a)
    t = tg.from_numpy(a)
    del a
    assert ref() is not None
    return t, ref


def test_from_numpy_keeps_the_array_alive_exactly_while_used():
    with no_cycle_collector():
        s, ref = shared_array()
        v = s[1:]  # a view shares the storage
        del s
        assert ref() is not None, "the array died while a view of its tensor was alive"
        del v
        assert ref() is None, "the array outlived every tensor that used it"


def test_saved_tensor_freed_after_backward_and_del_loss():
    with no_cycle_collector():
        x = tg.tensor(np.ones((3, 4)), requires_grad=True)
        s, ref = shared_array()
        loss = (x * s).sum()  # mul saves s for x's gradient
        del s
        assert ref() is not None, "the graph did not keep the saved tensor alive"
        loss.backward()
        np.testing.assert_allclose(x.grad.numpy(), np.random.default_rng(0).standard_normal((3, 4)))
        del loss
        assert ref() is None, "a tensor saved for backward is still alive after backward() and del loss"


def test_backward_frees_saved_tensors_even_while_the_loss_lives():
    """PyTorch frees the saved values when backward() runs without retain_graph."""
    with no_cycle_collector():
        x = tg.tensor(np.ones((3, 4)), requires_grad=True)
        s, ref = shared_array()
        loss = tg.exp(x * s).sum()
        del s
        loss.backward()
        assert ref() is None, "backward() without retain_graph kept a saved tensor alive"
        with pytest.raises(RuntimeError, match="retain_graph"):
            loss.backward()
        del loss


def test_retain_graph_keeps_then_del_frees():
    with no_cycle_collector():
        x = tg.tensor(np.ones((3, 4)), requires_grad=True)
        s, ref = shared_array()
        loss = (x * s).sum()
        del s
        loss.backward(retain_graph=True)
        assert ref() is not None, "retain_graph=True freed the saved tensor"
        loss.backward()
        del loss
        assert ref() is None


def test_dropped_output_frees_graph_without_backward():
    with no_cycle_collector():
        x = tg.tensor(np.ones((3, 4)), requires_grad=True)
        s, ref = shared_array()
        y = tg.tanh(x @ s.T) * s.sum()  # a few nodes, s saved by two of them
        z = (y * y).sum()
        del s
        assert ref() is not None
        del y
        assert ref() is not None, "an intermediate dropped while the output lives freed the graph"
        del z
        assert ref() is None, "a tensor saved by a graph whose outputs were dropped is still alive"


def test_leaf_and_grad_do_not_keep_the_graph():
    """After backward, x.grad and x themselves hold no path back to the graph."""
    with no_cycle_collector():
        x = tg.tensor(np.ones((3, 4)), requires_grad=True)
        s, ref = shared_array()
        loss = (x * s * 2.0).sum()
        del s
        loss.backward()
        del loss
        assert ref() is None
        assert x.grad is not None and x.grad.grad_fn is None


def test_non_persistent_tape_frees_its_graph_after_gradient():
    with no_cycle_collector():
        v = tg.Variable(np.ones((3, 4)))
        s, ref = shared_array()
        with tg.GradientTape() as tape:
            y = (v * s).sum()
        del s
        assert ref() is not None, "the tape did not keep the saved tensor alive"
        g = tape.gradient(y, v)
        np.testing.assert_allclose(g.numpy(), np.random.default_rng(0).standard_normal((3, 4)))
        assert ref() is None, "a non-persistent tape kept its graph after gradient()"
        del y, tape


def test_persistent_tape_frees_its_graph_when_deleted():
    with no_cycle_collector():
        v = tg.Variable(np.ones((3, 4)))
        s, ref = shared_array()
        with tg.GradientTape(persistent=True) as tape:
            y = (v * s).sum()
        del s
        tape.gradient(y, v)
        tape.gradient(y, v)
        assert ref() is not None, "a persistent tape freed its graph while still usable"
        del tape, y
        assert ref() is None, "a deleted persistent tape's graph is still alive"


def test_tape_dropped_without_gradient_frees_its_graph():
    with no_cycle_collector():
        v = tg.Variable(np.ones((3, 4)))
        s, ref = shared_array()
        with tg.GradientTape() as tape:
            y = tg.sigmoid(v * s).sum()
        del s, y, tape
        assert ref() is None, "an unused tape's graph is still alive after the tape and its outputs were dropped"


def test_create_graph_gradients_free_everything():
    """Higher-order graphs (create_graph=True) are freed too once the results are dropped."""
    with no_cycle_collector():
        x = tg.tensor(np.ones((3, 4)), requires_grad=True)
        s, ref = shared_array()
        y = (x * x * s).sum()
        del s
        (g,) = tg.grad(y, x, create_graph=True)
        (gg,) = tg.grad(g.sum(), x)
        np.testing.assert_allclose(gg.numpy(), 2 * np.random.default_rng(0).standard_normal((3, 4)))
        del y, g, gg
        assert ref() is None, "a create_graph=True graph is still alive after its results were dropped"


def test_nested_tapes_free_everything():
    with no_cycle_collector():
        v = tg.Variable(np.ones((3, 4)))
        s, ref = shared_array()
        with tg.GradientTape() as outer:
            with tg.GradientTape() as inner:
                y = (v * v * s).sum()
            g = inner.gradient(y, v)
            z = g.sum()
        gg = outer.gradient(z, v)
        np.testing.assert_allclose(gg.numpy(), 2 * np.random.default_rng(0).standard_normal((3, 4)))
        del s, y, g, z, gg, inner, outer
        assert ref() is None, "nested tapes left a graph alive"


def test_optimizer_step_frees_graph():
    with no_cycle_collector():
        lin = tg.nn.Linear(4, 3)
        opt = tg.optim.Adam(lin.parameters(), lr=1e-3)
        s, ref = shared_array((5, 4), np.float32)
        loss = (lin(s) ** 2).mean()  # matmul saves its input s
        del s
        loss.backward()
        opt.step()
        opt.zero_grad()
        del loss
        assert ref() is None, "a training step (Adam) left the graph alive"


def test_hook_closures_do_not_keep_graphs_alive():
    with no_cycle_collector():
        x = tg.tensor(np.ones((3, 4)), requires_grad=True)
        s, ref = shared_array()
        y = x * s
        seen = []
        y.register_hook(lambda g: seen.append(g.shape))
        loss = y.sum()
        del s, y
        loss.backward()
        del loss
        assert seen == [(3, 4)]
        assert ref() is None, "a tensor with a hook kept its graph alive after backward"


def test_writes_through_views_free_everything():
    """A view keeps its base (for in-place writes through it), and nodes save views: a
    node saving a view must not keep the view's base, whose history can come to lead back
    to that node (x.mul_(x[0]), v.mul_(w) for two views of one base)."""
    with no_cycle_collector():
        x = tg.tensor(np.ones((3, 4)), requires_grad=True)
        for write in (lambda s: s.mul_(s[0]),
                      lambda s: s[0:1].mul_(s[2:3]),
                      lambda s: s.__setitem__(slice(1, 3), s[0] * 2.0),
                      lambda s: s.__setitem__([0, 2], s[1] * s[1])):
            s, ref = shared_array()
            s.add_(x)  # s gets a history through x
            write(s)
            loss = (s * s).sum()
            del s
            assert ref() is not None
            del loss
            assert ref() is None, "a graph with writes through views is still alive after its outputs were dropped"


def test_tape_watching_a_view_frees_everything():
    with no_cycle_collector():
        s, ref = shared_array()
        with tg.GradientTape() as tape:
            v = s[1:3]
            tape.watch(v)
            s[0] = v.sum(0)
        del s, v, tape
        assert ref() is None, "a watched view and its base's history form a cycle"
