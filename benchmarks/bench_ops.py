"""Forward-op timings: tapegrad vs PyTorch vs NumPy, measured in the same run.

Each framework runs in a fresh subprocess of its own (so that one library's
thread pool cannot slow another's kernels down).  Inputs are float32 NumPy
arrays from default_rng(0), copied into each framework; none requires grad.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_ops.py [--quick]

Ops: ``x * 0.9`` and ``sin(x)`` on 1-element (shape (1,)), 16x16 and 4,000,000-element
tensors; ``tanh(x)``, ``x * w + b`` and ``sum(x)`` on 4,000,000 elements (GB/s counts the
minimal traffic: reads of every input plus the write of the output); 1024x1024
matmul (GFLOP/s = 2*1024^3 / time); and ``import`` time in a fresh process.
``--rounds N`` runs the whole sequence N times, frameworks alternating, and keeps each
op's best time per framework, so a drift of the machine's memory bandwidth during the run
does not land on one framework only.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
N_BIG = 4_000_000
FWS = ["tapegrad", "torch", "numpy"]

# name, shape, bytes moved (None: report µs only), flops (matmul)
OPS = [
    ("x*0.9", (1,), None, None),
    ("x*0.9", (16, 16), None, None),
    ("x*0.9", (N_BIG,), 8 * N_BIG, None),
    ("sin(x)", (1,), None, None),
    ("sin(x)", (16, 16), None, None),
    ("sin(x)", (N_BIG,), 8 * N_BIG, None),
    ("tanh(x)", (N_BIG,), 8 * N_BIG, None),
    ("x*w+b", (N_BIG,), 16 * N_BIG, None),
    ("sum(x)", (N_BIG,), 4 * N_BIG, None),
    ("matmul", (1024, 1024), None, 2 * 1024 ** 3),
]


def worker(fw, reps, min_time, threads=0):
    import numpy as np

    sys.path.insert(0, HERE)
    from workloads import bench

    if fw == "tapegrad":
        from workloads import import_tapegrad

        m = import_tapegrad()

        conv = m.tensor
        sin, tanh, tsum = m.sin, m.tanh, m.sum
        if threads:
            m.set_num_threads(threads)
    elif fw == "torch":
        import torch as m

        if threads:
            m.set_num_threads(threads)

        conv = m.from_numpy
        sin, tanh, tsum = m.sin, m.tanh, m.sum
    else:
        m = np
        conv = lambda a: a  # noqa: E731
        sin, tanh, tsum = np.sin, np.tanh, np.sum

    rng = np.random.default_rng(0)
    res = {}
    for name, shape, nbytes, flops in OPS:
        key = f"{name} {'x'.join(map(str, shape))}"
        try:
            if name == "matmul":
                a = conv(rng.standard_normal(shape).astype(np.float32))
                b = conv(rng.standard_normal(shape).astype(np.float32))
                fn = lambda: a @ b  # noqa: E731
            else:
                x = conv(rng.standard_normal(shape).astype(np.float32))
                if name == "x*0.9":
                    fn = lambda: x * 0.9  # noqa: E731
                elif name == "sin(x)":
                    fn = lambda: sin(x)  # noqa: E731
                elif name == "tanh(x)":
                    fn = lambda: tanh(x)  # noqa: E731
                elif name == "sum(x)":
                    fn = lambda: tsum(x)  # noqa: E731
                elif name == "x*w+b":
                    w = conv(rng.standard_normal(shape).astype(np.float32))
                    b = conv(rng.standard_normal(shape).astype(np.float32))
                    fn = lambda: x * w + b  # noqa: E731
            out = fn()
            ok_dtype = str(getattr(out, "dtype", "")).endswith("float32")
            t = bench(fn, reps, min_time, warmup=2)[0]
            r = {"us": t * 1e6, "float32_out": ok_dtype}
            if nbytes:
                r["gbps"] = nbytes / t / 1e9
            if flops:
                r["gflops"] = flops / t / 1e9
            res[key] = r
        except Exception as e:
            res[key] = {"error": f"{type(e).__name__}: {e}"}
    return res


def best_of(old, new):
    """Per op, the faster of two worker results (an error only where both failed)."""
    if not old or "error" in old:
        return new
    if "error" in new:
        return old
    merged = dict(old)
    for key, r in new.items():
        if "error" not in r and ("error" in merged.get(key, {"error": 1}) or r["us"] < merged[key]["us"]):
            merged[key] = r
    return merged


IMPORT_SNIPPET = "import time; t=time.perf_counter(); import {mod}; print(time.perf_counter()-t)"


def _wait_importable(env):
    """Retry (up to ~2 min) while tapegrad's extension is being rebuilt."""
    for _ in range(40):
        p = subprocess.run([sys.executable, "-c", "import tapegrad"], capture_output=True, env=env, cwd=ROOT)
        if p.returncode == 0:
            return
        time.sleep(3)


def import_times(mod, n, nice=0):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "python") + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    ts, walls = [], []
    _wait_importable(env)
    for _ in range(n):
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", IMPORT_SNIPPET.format(mod=mod)], capture_output=True, text=True,
                           env=env, cwd=ROOT, preexec_fn=(lambda: os.nice(nice)) if nice else None)
        walls.append(time.perf_counter() - t0)
        try:
            ts.append(float(p.stdout.strip().splitlines()[-1]))
        except (ValueError, IndexError):
            return {"error": p.stderr[-500:]}
    return {"import_s": statistics.median(ts), "process_wall_s": statistics.median(walls), "all": ts}


def fmt(v, digits=3):
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.{digits}g}"


RUNS = [("tapegrad", 0, "tapegrad"), ("torch", 0, "torch"), ("numpy", 0, "numpy"),
        ("tapegrad", 1, "tapegrad1"), ("torch", 1, "torch1")]


def _status(q, ok):
    return "not measured" if q is None else ("met" if ok(q) else "NOT met")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", choices=FWS)
    ap.add_argument("--threads", type=int, default=0, help="worker: set_num_threads(n) (tapegrad, torch)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-1t", action="store_true", dest="no_1t", help="skip the 1-thread runs")
    ap.add_argument("--nice", type=int, default=0, help="nice increment for the workers (e.g. -10, needs root)")
    ap.add_argument("--json", default=os.path.join(HERE, "results_ops.json"))
    ap.add_argument("--md", default=os.path.join(HERE, "results_ops.md"))
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every worker this many times, frameworks alternating, and keep each op's "
                         "best time: a shared VM's memory bandwidth drifts over minutes")
    args = ap.parse_args()
    reps, min_time, n_imp = (5, 0.02, 3) if args.quick else (11, 0.05, 7)
    if args.worker:
        print("RESULT_JSON: " + json.dumps(worker(args.worker, reps, min_time, args.threads)))
        return 0

    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "python") + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    res = {}
    runs = RUNS[:3] if args.no_1t else RUNS
    for rnd, (fw, threads, tag) in ((r, run) for r in range(args.rounds) for run in runs):
        print(f"ops: round {rnd + 1}: {tag} (load {os.getloadavg()[0]:.2f}) ...", file=sys.stderr, flush=True)
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", fw] + (["--quick"] if args.quick else [])
        if threads:
            cmd += ["--threads", str(threads)]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
                               preexec_fn=(lambda: os.nice(args.nice)) if args.nice else None)
        except subprocess.TimeoutExpired:
            res[tag] = {"error": "worker timed out after 300 s (hung?)"}
            continue
        line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT_JSON: ")]
        got = json.loads(line[-1][13:]) if line else {"error": f"exit {p.returncode}: {p.stderr[-1000:]}"}
        res[tag] = best_of(res.get(tag), got)
    imports = {}
    for fw in FWS:
        print(f"import {fw} ...", file=sys.stderr, flush=True)
        imports[fw] = import_times(fw, n_imp, args.nice)

    tags = [t for _, _, t in runs]
    hdr = ["op", "shape", "metric", "tapegrad", "torch", "numpy", "tg/torch", "tg/numpy"]
    if not args.no_1t:
        hdr += ["tapegrad-1t", "torch-1t", "tg-1t/torch-1t"]
    rows = []

    def val(tag, key, mk):
        d = res.get(tag, {})
        if "error" in d:
            return "ERROR"
        c = d.get(key, {})
        return "ERROR" if "error" in c else c.get(mk)

    def ratio(a, b):
        return a / b if isinstance(a, float) and isinstance(b, float) and b else None

    for name, shape, nbytes, flops in OPS:
        key = f"{name} {'x'.join(map(str, shape))}"
        metrics = [("µs", "us")]
        if nbytes:
            metrics.append(("GB/s (↑)", "gbps"))
        if flops:
            metrics.append(("GFLOP/s (↑)", "gflops"))
        for label, mk in metrics:
            v = {t: val(t, key, mk) for t in tags}
            row = [name, "x".join(map(str, shape)), label, fmt(v["tapegrad"]), fmt(v["torch"]), fmt(v["numpy"]),
                   fmt(ratio(v["tapegrad"], v["torch"])), fmt(ratio(v["tapegrad"], v["numpy"]))]
            if not args.no_1t:
                row += [fmt(v["tapegrad1"]), fmt(v["torch1"]), fmt(ratio(v["tapegrad1"], v["torch1"]))]
            rows.append(row)
    imp = {fw: imports[fw].get("import_s") for fw in FWS}
    row = ["import", "", "s (in-process, median)", fmt(imp["tapegrad"]), fmt(imp["torch"]), fmt(imp["numpy"]),
           fmt(ratio(imp["tapegrad"], imp["torch"])), fmt(ratio(imp["tapegrad"], imp["numpy"]))]
    if not args.no_1t:
        row += ["", "", ""]
    rows.append(row)
    errors = []
    for t in tags:
        d = res.get(t, {})
        if "error" in d:
            errors.append((t, "all", d["error"]))
        else:
            errors += [(t, k, c["error"]) for k, c in d.items() if isinstance(c, dict) and "error" in c]

    # SPEC targets, judged default-vs-default and 1-thread-vs-1-thread
    def r(key, mk, one=False):
        a, b = (val("tapegrad1", key, mk), val("torch1", key, mk)) if one else (val("tapegrad", key, mk),
                                                                                val("torch", key, mk))
        return ratio(a, b)

    tg_list = []
    checks = [(f"forward 1-element {op} ≤ 1/6 of torch's time", f"{op} 1", "us", lambda q: q <= 1 / 6)
              for op in ("x*0.9", "sin(x)")]
    checks += [(f"4M-element {op} GB/s ≥ torch's", f"{op} {N_BIG}", "gbps", lambda q: q >= 1)
               for op in ("tanh(x)", "x*w+b", "sum(x)")]
    checks += [("1024 matmul GFLOP/s ≥ 0.95 × torch's", "matmul 1024x1024", "gflops", lambda q: q >= 0.95)]
    for label, key, mk, ok in checks:
        q = r(key, mk)
        row = [label, fmt(q), _status(q, ok)]
        if not args.no_1t:
            q1 = r(key, mk, one=True)
            row += [fmt(q1), _status(q1, ok)]
        tg_list.append(row)
    it = imp["tapegrad"]
    tg_list.append(["import tapegrad < 0.15 s", fmt(it), _status(it, lambda q: q < 0.15)] +
                   ([] if args.no_1t else ["", ""]))
    thdr = ["target", "tg/torch", "status"] + ([] if args.no_1t else ["tg-1t/torch-1t", "status (1 thread)"])

    def text(h, rr):
        w = [max(len(str(x)) for x in col) for col in zip(h, *rr)]
        line = lambda r_: "  ".join(str(c).ljust(w[i]) for i, c in enumerate(r_))  # noqa: E731
        return "\n".join([line(h), line(["-" * x for x in w])] + [line(r_) for r_ in rr])

    def md(h, rr):
        return "\n".join(["| " + " | ".join(h) + " |", "|" + "---|" * len(h)] +
                         ["| " + " | ".join(map(str, r_)) + " |" for r_ in rr])

    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')}  load {os.getloadavg()[0]:.2f}")
    print("ratio = tapegrad / other (µs rows: < 1 means tapegrad faster; (↑) rows: > 1 means tapegrad faster)")
    print(text(hdr, rows))
    print("import: process wall (python -c 'import X') median: " + ", ".join(
        f"{fw} {imports[fw].get('process_wall_s', float('nan')):.3f} s" for fw in FWS))
    print("\nSPEC targets (ops):")
    print(text(thdr, tg_list))
    for t, k, e in errors:
        print(f"ERROR {t} {k}: {e}")
    with open(args.json, "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "nice": args.nice,
                   "loadavg": os.getloadavg(), "command": " ".join(sys.argv), "results": res, "imports": imports,
                   "targets": tg_list}, f, indent=1)
    with open(args.md, "w") as f:
        f.write(md(hdr, rows) + "\n\n" + md(thdr, tg_list) + "\n")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
