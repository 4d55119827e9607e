"""Thread-count control and determinism of the multi-threaded kernels (SPEC §2).

Tests that change the thread count and then run kernels do so in a subprocess: if
resizing the thread pool crashes the interpreter, that shows up as one failing test
instead of killing the whole pytest session.
"""
import threading

import numpy as np
import pytest

import tapegrad as tg
from conftest import T, assert_clean_subprocess, run_python


def test_get_num_threads_default_positive():
    n = tg.get_num_threads()
    assert isinstance(n, int) and n >= 1


def test_set_get_round_trip():
    code = """
        import tapegrad as tg
        n0 = tg.get_num_threads()
        for n in (1, 2, 3, 1, 4, n0):
            tg.set_num_threads(n)
            assert tg.get_num_threads() == n, (n, tg.get_num_threads())
        print("ok")
    """
    r = assert_clean_subprocess(code)
    assert "ok" in r.stdout


IDENTICAL = """
    import json
    import numpy as np
    import tapegrad as tg
    x = (np.random.default_rng(5).standard_normal(4_000_000) * 3).astype(np.float32)
    fs = {
        "tanh": tg.tanh,
        "sum": tg.sum,
        "exp-add": lambda t: tg.exp(t * 0.1) + t,
        "sum-axis0": lambda t: tg.sum(t.reshape(2000, 2000), axis=0),
        "max": tg.max,
        "mean": tg.mean,
        "softmax": lambda t: tg.softmax(t.reshape(1000, 4000), axis=1),
    }
    t = tg.tensor(x)
    def run(n):
        tg.set_num_threads(n)
        assert tg.get_num_threads() == n
        return {k: f(t).numpy().copy() for k, f in fs.items()}
    r1 = run(1)
    r2 = run(2)
    r1b = run(1)
    out = {k: {"run_to_run": bool(np.array_equal(r1[k], r1b[k])),
               "threads_1_vs_2": bool(np.array_equal(r1[k], r2[k])),
               "max_abs_diff": float(np.max(np.abs(r1[k].astype(np.float64) - r2[k]))) if r1[k].size else 0.0}
           for k in fs}
    print("RESULT" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def identical_results():
    """One subprocess computes every case with 1, 2, then 1 threads again."""
    import json

    r = run_python(IDENTICAL, timeout=180)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT")]
    return r, (json.loads(line[0][len("RESULT"):]) if line else None)


@pytest.mark.parametrize("name", ["tanh", "sum", "exp-add", "sum-axis0", "max", "mean", "softmax"])
def test_results_identical_with_1_and_2_threads(name, identical_results):
    proc, res = identical_results
    assert proc.returncode == 0 and res is not None, (
        f"subprocess exited with {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    assert res[name]["run_to_run"], f"{name}: not deterministic from run to run"
    assert res[name]["threads_1_vs_2"], (
        f"{name}: result differs between 1 and 2 threads (max abs diff {res[name]['max_abs_diff']})")


def test_results_correct_with_each_thread_count():
    code = """
        import numpy as np
        import tapegrad as tg
        x = (np.random.default_rng(5).standard_normal(4_000_000) * 3).astype(np.float32)
        ref_tanh = np.tanh(x.astype(np.float64)).astype(np.float32)
        ref_sum = np.sum(x.astype(np.float64))
        for n in (1, 2, 3):
            tg.set_num_threads(n)
            t = tg.tensor(x)
            np.testing.assert_allclose(tg.tanh(t).numpy(), ref_tanh, rtol=2e-6, atol=1e-6)
            s = tg.sum(t).item()
            assert abs(s - ref_sum) <= 1e-5 * abs(ref_sum) + 0.1, (n, s, ref_sum)
        print("correct")
    """
    r = assert_clean_subprocess(code, timeout=120)
    assert "correct" in r.stdout


def test_thread_pool_resize_stress():
    # alternate the thread count while running parallel kernels
    code = """
        import tapegrad as tg
        t = tg.ones(4_000_000)
        for i in range(150):
            tg.set_num_threads(1 + i % 2)
            assert tg.tanh(t).numpy()[-1] > 0.76
        print("survived")
    """
    r = assert_clean_subprocess(code, timeout=120)
    assert "survived" in r.stdout


def test_deterministic_in_process_default_threads():
    # the same computation twice with the default thread count gives identical bits
    x = (np.random.default_rng(6).standard_normal(4_000_000) * 3).astype(np.float32)
    t = T(x)
    a = tg.sum(tg.tanh(t)).item()
    b = tg.sum(tg.tanh(t)).item()
    assert a == b
    assert a == pytest.approx(np.tanh(x.astype(np.float64)).sum(), rel=1e-4, abs=1e-1)


def test_many_python_threads_share_the_library():
    # heavy kernels release the GIL; concurrent callers must each get correct results
    rng = np.random.default_rng(9)
    arrays = [rng.standard_normal(300_000).astype(np.float32) for _ in range(4)]
    results = [None] * 4
    errors = []

    def work(i):
        try:
            t = T(arrays[i])
            for _ in range(3):
                results[i] = (tg.sum(tg.tanh(t)).item(), (t @ t).item())
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    for a, (s, d) in zip(arrays, results):
        assert s == pytest.approx(np.tanh(a.astype(np.float64)).sum(), rel=1e-4, abs=1e-2)
        assert d == pytest.approx(float(a.astype(np.float64) @ a.astype(np.float64)), rel=1e-4)


def test_forked_child_gets_a_working_thread_pool():
    # fork copies only the calling thread: the child must not wait on the parent's workers.
    r = assert_clean_subprocess("""
        import os
        import numpy as np
        import tapegrad as tg
        tg.set_num_threads(2)
        x = tg.tensor(np.ones(1_000_000, np.float32))
        assert float((x * 2).sum()) == 2_000_000
        pid = os.fork()
        if pid == 0:
            ok = float((x * 3).sum()) == 3_000_000 and tg.get_num_threads() == 2
            a = tg.tensor(np.ones((256, 256), np.float32))
            ok = ok and float((a @ a).sum()) == 256.0 ** 3
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        print("child exit", os.waitstatus_to_exitcode(status))
    """, timeout=60)
    assert "child exit 0" in r.stdout


def test_openblas_runs_single_threaded_from_the_first_product():
    # matmul splits products over tapegrad's own pool; OpenBLAS's threads spinning beside
    # it cost a 2-thread W3 step 40%. A first small product (no pool yet) must already
    # make OpenBLAS single-threaded.
    r = assert_clean_subprocess("""
        import ctypes, os
        import numpy as np
        import scipy_openblas32
        import tapegrad as tg
        blas = ctypes.CDLL(os.path.join(scipy_openblas32.get_lib_dir(), "libscipy_openblas.so"))
        blas.scipy_openblas_set_num_threads(2)
        a = tg.tensor(np.ones((8, 8), np.float32))
        assert float((a @ a).sum()) == 512.0
        print("openblas threads", blas.scipy_openblas_get_num_threads())
    """)
    assert "openblas threads 1" in r.stdout
