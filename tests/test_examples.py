"""The examples in examples/ run and do what they say. The digits example is imported and
trained for fewer epochs than its default, in both idioms (it needs scikit-learn and tqdm,
which the test extra installs)."""
import importlib.util
import math
import pathlib

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"tapegrad_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def digits():
    return _load("train_digits")


@pytest.mark.parametrize("idiom", ["autograd", "tape"])
def test_train_digits_reaches_accuracy(digits, idiom):
    result = digits.train(idiom=idiom, epochs=8, progress=False)
    assert result["test_accuracy"] >= 0.93, result
    assert result["final_loss"] < 0.3, result


def test_train_digits_idioms_agree(digits):
    """Same seed, same model, same optimizer: the two idioms compute the same updates."""
    a = digits.train(idiom="autograd", epochs=2, progress=False)
    b = digits.train(idiom="tape", epochs=2, progress=False)
    assert a["final_loss"] == pytest.approx(b["final_loss"], rel=1e-4)
    assert a["test_accuracy"] == pytest.approx(b["test_accuracy"], abs=0.01)


def test_train_digits_cli_and_bad_idiom(digits, capsys):
    result = digits.main(["--idiom", "tape", "--epochs", "1", "--no-progress"])
    assert "idiom=tape" in capsys.readouterr().out
    assert 0.0 <= result["test_accuracy"] <= 1.0
    with pytest.raises(ValueError, match="idiom"):
        digits.train(idiom="keras", epochs=1, progress=False)


def test_train_digits_data_is_the_real_digits(digits):
    x_train, y_train, x_test, y_test = digits.load_data()
    assert x_train.shape[1] == 64 and len(x_train) + len(x_test) == 1797
    assert set(y_train.tolist()) == set(range(10))
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0


def test_grad_accumulation_example():
    out = _load("grad_accumulation").main(verbose=False)
    assert out["autograd"] < 1e-5 and out["tape"] < 1e-5


def test_clipping_example():
    out = _load("clipping").main(max_norm=1.0, verbose=False)
    assert out["norm_before"] > 1.0
    assert out["norm_after"] == pytest.approx(1.0, rel=1e-4)
    assert out["clipped_norm"] == pytest.approx(1.0, rel=1e-4)
    assert out["global_norm"] == pytest.approx(out["norm_before"], rel=1e-4)
    assert out["largest_after_value_clip"] <= 0.01 + 1e-7


def test_second_derivative_example():
    out = _load("second_derivative").main(verbose=False)
    exact = out["exact"]
    for idiom in ("autograd", "tape"):
        assert out[idiom][0] == pytest.approx(exact[0], rel=1e-12)
        assert out[idiom][1] == pytest.approx(exact[1], rel=1e-12)
    assert math.isfinite(exact[1])
