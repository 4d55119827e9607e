"""Workloads W1-W9 of shared/BENCHMARKS.md, for tapegrad (autograd idiom) and PyTorch.

Each workload is a function ``wN(fw, opts)`` that builds its inputs from the
NumPy ``default_rng`` seeds given in BENCHMARKS.md, computes its check values
on the first (warm-up) run, then times the workload and returns a dict of
results.  Nothing is shared between frameworks except the NumPy data.

Run one (framework, workload) per process -- that is what ``run.py`` does, so
that the peak-RSS figures mean something:

    PYTHONPATH=python python benchmarks/workloads.py --fw tapegrad --wl W3

The last line printed is ``RESULT_JSON: {...}``.

Timing: warm-up excluded; each repetition runs the workload ``inner`` times
(``inner`` chosen so a repetition lasts at least ``min_time`` s) and records the
mean; the figure reported is the median over repetitions.  Every framework runs
with its default number of threads unless --threads is given.  Python's garbage collector is left on
(as in a user's program) for both frameworks.
"""
import argparse
import gc
import json
import math
import os
import resource
import statistics
import sys
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Check values from the table in BENCHMARKS.md.
CHECKS = {
    "W1": {"loss": 0.0981177, "grad_sum": 2.25089e-16},
    "W2": {"loss": 25.1181, "grad_sum": 5.62683e-14},
    "W3": {"loss_step1": 2.96766},
    "W4": {"loss_step1": 2.99192},
    "W5": {"loss": 8.2832, "gA_sum": -4006.8, "gB_sum": 56211.1},
    "W6": {"loss": 695.437, "gw_sum": -243.261, "gb_sum": 3.44558e06},
    "W7": {"loss": 0.37439, "grad_sum": 0.0},
    "W8": {"hv_sum": -18.4952, "hv_abs_sum": 600.683},
    "W9": {"loss_step2000": 0.0096117},
}
CHECK_RTOL = 1e-4
CHECK_ATOL = 1e-30  # for values that are exactly 0 (W7's gradient)

W3_FLOP = 2 * 32 * (64 * 128 + 128 * 10) * 2 + 2 * 32 * 128 * 10  # fwd + wgrad + layer-2 input grad
W4_FLOP = 410_796_032
W5_FLOP = 6 * 1024 ** 3
W6_BYTES = 80_000_000


def compare_checks(wl, got):
    """List of (name, got, expected, ok)."""
    out = []
    for k, exp in CHECKS[wl].items():
        g = got.get(k)
        ok = g is not None and math.isfinite(g) and abs(g - exp) <= CHECK_ATOL + CHECK_RTOL * abs(exp)
        out.append((k, g, exp, ok))
    return out


# --------------------------------------------------------------------------
# helpers

def rss_mib():
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2 ** 20
    except ImportError:  # fall back on /proc
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def import_tapegrad(retries=40, wait=3.0):
    """Import tapegrad from the source tree, retrying while the lead rebuilds _C*.so."""
    sys.path.insert(0, os.path.join(ROOT, "python"))
    for i in range(retries):
        try:
            import tapegrad

            return tapegrad
        except ImportError:
            if i == retries - 1:
                raise
            for k in [k for k in sys.modules if k == "tapegrad" or k.startswith("tapegrad.")]:
                del sys.modules[k]
            time.sleep(wait)


def bench(fn, reps, min_time, warmup=1):
    """Median seconds per call of fn (warm-up excluded) and all rep figures."""
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    fn()
    one = time.perf_counter() - t0
    inner = max(1, int(min_time / max(one, 1e-9)))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times), times, inner


class FW:
    """The few framework functions the workloads need, by name."""

    def __init__(self, name):
        self.name = name
        if name == "tapegrad":
            tg = import_tapegrad()
            self.m = tg
            self.sin, self.exp, self.tanh, self.relu = tg.sin, tg.exp, tg.tanh, tg.relu
            self.no_grad = tg.no_grad
            self.log_softmax = lambda z: tg.log_softmax(z, axis=1)
        elif name == "torch":
            import torch

            self.m = torch
            self.sin, self.exp, self.tanh, self.relu = torch.sin, torch.exp, torch.tanh, torch.relu
            self.no_grad = torch.no_grad
            self.log_softmax = lambda z: torch.log_softmax(z, dim=1)
        else:
            raise ValueError(name)

    def const(self, a):
        """A tensor copied from a NumPy array (keeps its dtype and shape)."""
        if self.name == "torch":
            return self.m.tensor(a)
        return self.m.tensor(np.array(a, order="C"))  # (ascontiguousarray would make a 0-d array 1-d)

    def param(self, a):
        t = self.const(a)
        t.requires_grad_(True) if self.name == "torch" else t.requires_grad_()
        return t

    def grad(self, out, inputs, create_graph=False):
        if self.name == "torch":
            return self.m.autograd.grad(out, inputs, create_graph=create_graph)
        return self.m.grad(out, inputs, create_graph=create_graph)

    def item(self, t):
        return float(t.item())

    def sum_all(self, t):
        """Sum of a tensor's values, in float64 on the NumPy side (checks only)."""
        a = t.detach().numpy() if self.name == "torch" else np.asarray(t)
        return float(np.asarray(a, dtype=np.float64).sum())

    def abs_sum(self, t):
        a = t.detach().numpy() if self.name == "torch" else np.asarray(t)
        return float(np.abs(np.asarray(a, dtype=np.float64)).sum())

    def arange(self, n):
        return self.m.arange(n)


def chain(x, n, sin, exp):
    """Op i of the chain is CYCLE[i % 6]: x*0.9, x+0.1, sin, x*0.5, exp, x-1.0."""
    full, rem = divmod(n, 6)
    for _ in range(full):
        x = x * 0.9
        x = x + 0.1
        x = sin(x)
        x = x * 0.5
        x = exp(x)
        x = x - 1.0
    if rem:
        ops = (lambda v: v * 0.9, lambda v: v + 0.1, sin, lambda v: v * 0.5, exp, lambda v: v - 1.0)
        for i in range(rem):
            x = ops[i](x)
    return x


# --------------------------------------------------------------------------
# W1 / W2 / W7: the chain

def _chain_workload(fw, opts, shape, seed, n_ops, wl):
    rng = np.random.default_rng(seed)
    x0 = np.asarray(rng.uniform(0.2, 0.8, size=shape), dtype=np.float32)
    x = fw.param(x0)
    xc = fw.const(x0)
    sin, exp = fw.sin, fw.exp

    def fwd_bwd():
        x.grad = None
        loss = chain(x, n_ops, sin, exp).sum()
        loss.backward()
        return loss, x.grad

    def fwd_only():
        with fw.no_grad():
            return chain(xc, n_ops, sin, exp).sum()

    loss, g = fwd_bwd()
    checks = {"loss": fw.item(loss), "grad_sum": fw.sum_all(g)}
    del loss, g
    res = {"checks": checks}
    t, times, inner = bench(fwd_bwd, opts.reps, opts.min_time)
    res.update(fwdbwd_s=t, fwdbwd_us_per_op=t / n_ops * 1e6, fwdbwd_reps=times, inner=inner)
    t, times, inner = bench(fwd_only, opts.reps, opts.min_time)
    res.update(fwd_s=t, fwd_us_per_op=t / n_ops * 1e6, fwd_reps=times)
    return res


def w1(fw, opts):
    return _chain_workload(fw, opts, (), 1, 300, "W1")


def w2(fw, opts):
    return _chain_workload(fw, opts, (16, 16), 1, 300, "W2")


def w7(fw, opts, n_ops=100_000, reps=None):
    rng = np.random.default_rng(7)
    x0 = np.asarray(rng.uniform(0.2, 0.8, size=(4,)), dtype=np.float32)
    x = fw.param(x0)
    sin, exp = fw.sin, fw.exp
    gc.collect()
    base = rss_mib()

    def fwd_bwd():
        x.grad = None
        loss = chain(x, n_ops, sin, exp).sum()
        loss.backward()
        return loss, x.grad

    reps = reps or opts.w7_reps
    res = {"n_ops": n_ops, "ran": False}
    t0 = time.perf_counter()
    loss, g = fwd_bwd()  # warm-up, also the check
    res["first_s"] = time.perf_counter() - t0
    res["checks"] = {"loss": fw.item(loss), "grad_sum": fw.sum_all(g)}
    del loss, g
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fwd_bwd()
        times.append(time.perf_counter() - t0)
    t = statistics.median(times)
    res.update(ran=True, fwdbwd_s=t, us_per_op=t / n_ops * 1e6, reps=times,
               rss_base_mib=base, peak_rss_delta_mib=peak_rss_mib() - base)
    return res


# --------------------------------------------------------------------------
# W3 / W4 / W9: MLPs

def _mlp_init(sizes, seed):
    rng = np.random.default_rng(seed)
    ps = []
    for fi, fo in zip(sizes[:-1], sizes[1:]):
        W = (rng.standard_normal((fi, fo)) * np.sqrt(2.0 / fi)).astype(np.float32)
        ps += [W, np.zeros(fo, dtype=np.float32)]
    return ps


def _mlp_data(batch, fan_in, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, fan_in)).astype(np.float32)
    y = rng.integers(0, 10, size=batch).astype(np.int64)
    return X, y


def _mlp_loss_fn(fw, params, X, y, batch):
    relu, log_softmax = fw.relu, fw.log_softmax
    ar = fw.arange(batch)
    n_layers = len(params) // 2

    def loss_fn():
        h = X
        for i in range(n_layers):
            h = h @ params[2 * i] + params[2 * i + 1]
            if i < n_layers - 1:
                h = relu(h)
        return -log_softmax(h)[ar, y].mean()

    return loss_fn


def _mlp_setup(fw, sizes, batch, pseed, dseed, optim):
    p_np = _mlp_init(sizes, pseed)
    X_np, y_np = _mlp_data(batch, sizes[0], dseed)
    params = [fw.param(a) for a in p_np]
    X, y = fw.const(X_np), fw.const(y_np)
    loss_fn = _mlp_loss_fn(fw, params, X, y, batch)
    if fw.name == "torch":
        import torch

        optim_mod = torch.optim
    else:
        optim_mod = fw.m.optim  # tg.optim, as torch.optim on the other side: each group updates in one C++ call
    opt = (optim_mod.SGD(params, lr=0.01) if optim == "sgd"
           else optim_mod.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8))

    def train_step():
        opt.zero_grad()  # set_to_none=True, the default
        loss = loss_fn()
        loss.backward()
        opt.step()
        return loss

    return params, X, y, train_step


def w3(fw, opts):
    params, X, y, train_step = _mlp_setup(fw, [64, 128, 10], 32, 3, 103, "sgd")
    res = {"checks": {"loss_step1": fw.item(train_step())}}
    t, times, inner = bench(train_step, opts.reps, opts.min_time)
    res.update(step_s=t, step_us=t * 1e6, gflops=W3_FLOP / t / 1e9, reps=times, inner=inner)
    if fw.name == "torch":
        # Extra, for information: the same step with torch's fused F.cross_entropy.
        import torch
        import torch.nn.functional as F

        params2, X2, y2, _ = _mlp_setup(fw, [64, 128, 10], 32, 3, 103, "sgd")
        opt = torch.optim.SGD(params2, lr=0.01)

        def step2():
            opt.zero_grad()
            h = torch.relu(X2 @ params2[0] + params2[1])
            loss = F.cross_entropy(h @ params2[2] + params2[3], y2)
            loss.backward()
            opt.step()
            return loss

        res["fused_xent_loss_step1"] = float(step2().item())
        t2, _, _ = bench(step2, opts.reps, opts.min_time)
        res["fused_xent_step_us"] = t2 * 1e6
    return res


def w4(fw, opts):
    params, X, y, train_step = _mlp_setup(fw, [784, 512, 512, 10], 128, 4, 104, "adam")
    res = {"checks": {"loss_step1": fw.item(train_step())}}
    t, times, inner = bench(train_step, opts.reps, opts.min_time)
    res.update(step_s=t, step_ms=t * 1e3, gflops=W4_FLOP / t / 1e9, reps=times, inner=inner)
    return res


def w9(fw, opts):
    params, X, y, train_step = _mlp_setup(fw, [64, 128, 10], 32, 3, 103, "sgd")
    n = 2000
    rss100 = None
    t_total = 0.0
    loss = None
    for i in range(1, n + 1):
        t0 = time.perf_counter()
        loss = train_step()
        t_total += time.perf_counter() - t0
        if i == 100:
            rss100 = rss_mib()
    rss2000 = rss_mib()
    return {"checks": {"loss_step2000": fw.item(loss)}, "rss100_mib": rss100, "rss2000_mib": rss2000,
            "growth_mib": rss2000 - rss100, "mean_step_us": t_total / n * 1e6}


# --------------------------------------------------------------------------
# W5 / W6 / W8

def w5(fw, opts):
    rng = np.random.default_rng(5)
    A_np = (rng.standard_normal((1024, 1024)) / 32).astype(np.float32)
    B_np = (rng.standard_normal((1024, 1024)) / 32).astype(np.float32)
    A, B = fw.param(A_np), fw.param(B_np)

    def step():
        A.grad = None
        B.grad = None
        loss = (A @ B).sum()
        loss.backward()
        return loss, A.grad, B.grad

    loss, gA, gB = step()
    res = {"checks": {"loss": fw.item(loss), "gA_sum": fw.sum_all(gA), "gB_sum": fw.sum_all(gB)}}
    del loss, gA, gB
    t, times, inner = bench(step, opts.reps, opts.min_time)
    res.update(step_s=t, step_ms=t * 1e3, gflops=W5_FLOP / t / 1e9, reps=times, inner=inner)
    return res


def w6(fw, opts):
    rng = np.random.default_rng(6)
    n = 4_000_000
    x_np = rng.standard_normal(n).astype(np.float32)
    w_np = (rng.standard_normal(n) * 0.5).astype(np.float32)
    b_np = (rng.standard_normal(n) * 0.1).astype(np.float32)
    x, w, b = fw.const(x_np), fw.param(w_np), fw.param(b_np)
    del x_np, w_np, b_np
    tanh = fw.tanh
    gc.collect()
    base = rss_mib()

    def step():
        w.grad = None
        b.grad = None
        loss = tanh(x * w + b).sum()
        loss.backward()
        return loss, w.grad, b.grad

    loss, gw, gb = step()
    res = {"checks": {"loss": fw.item(loss), "gw_sum": fw.sum_all(gw), "gb_sum": fw.sum_all(gb)}}
    del loss, gw, gb
    t, times, inner = bench(step, opts.reps, opts.min_time)
    res.update(step_s=t, step_ms=t * 1e3, gbps=W6_BYTES / t / 1e9, reps=times, inner=inner,
               rss_base_mib=base, peak_rss_delta_mib=peak_rss_mib() - base)
    return res


def w8(fw, opts):
    rng = np.random.default_rng(8)
    x_np = rng.standard_normal(1000).astype(np.float32)
    v_np = rng.standard_normal(1000).astype(np.float32)
    x, v = fw.param(x_np), fw.const(v_np)
    tanh = fw.tanh

    def hvp():
        f = (tanh(x) ** 3).sum()
        (g,) = fw.grad(f, [x], create_graph=True)
        (hv,) = fw.grad((g * v).sum(), [x])
        return hv

    hv = hvp()
    res = {"checks": {"hv_sum": fw.sum_all(hv), "hv_abs_sum": fw.abs_sum(hv)}}
    t, times, inner = bench(hvp, opts.reps, opts.min_time)
    res.update(hvp_s=t, hvp_us=t * 1e6, reps=times, inner=inner)
    return res


WORKLOADS = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6, "W7": w7, "W8": w8, "W9": w9}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fw", required=True, choices=["tapegrad", "torch"])
    ap.add_argument("--wl", required=True, help="W1..W9, or W7S:<n_ops> (tapegrad chain scaling)")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--min-time", type=float, default=0.05, dest="min_time")
    ap.add_argument("--w7-reps", type=int, default=4, dest="w7_reps")
    ap.add_argument("--threads", type=int, default=0, help="set_num_threads(n) in either framework (tapegrad's pool also runs its matrix products); 0 = default")
    opts = ap.parse_args()

    rss_start = rss_mib()
    t0 = time.perf_counter()
    out = {"fw": opts.fw, "wl": opts.wl, "ok": False, "loadavg_start": os.getloadavg()[0]}
    try:
        fw = FW(opts.fw)
        out["import_s"] = time.perf_counter() - t0
        out["rss_after_import_mib"] = rss_mib()
        if opts.threads:
            fw.m.set_num_threads(opts.threads)
        if opts.fw == "torch":
            out["version"] = fw.m.__version__
            out["threads"] = fw.m.get_num_threads()
        else:
            out["version"] = fw.m.__version__
            out["threads"] = fw.m.get_num_threads()
            out["cpu_capability"] = fw.m._cpu_capability()
            so = fw.m._C.__file__
            out["so_mtime"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(os.path.getmtime(so)))
        if opts.wl.startswith("W7S:"):
            n = int(opts.wl.split(":")[1])
            reps = opts.w7_reps if n <= 100_000 else max(2, opts.w7_reps - 1)
            res = w7(fw, opts, n_ops=n, reps=reps)
        else:
            res = WORKLOADS[opts.wl](fw, opts)
        out.update(res)
        if opts.wl in CHECKS:
            cmp = compare_checks(opts.wl, res.get("checks", {}))
            out["checks_ok"] = all(c[3] for c in cmp)
            out["check_table"] = cmp
        out["ok"] = True
    except Exception as e:  # report, never hide
        out["error"] = f"{type(e).__name__}: {e}"
        out["traceback"] = traceback.format_exc()
    out["rss_start_mib"] = rss_start
    out["peak_rss_mib"] = peak_rss_mib()
    out["loadavg_end"] = os.getloadavg()[0]
    sys.stdout.flush()
    print("RESULT_JSON: " + json.dumps(out))


if __name__ == "__main__":
    main()
