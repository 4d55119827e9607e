"""Train an MLP on scikit-learn's handwritten digits (8x8 images, 10 classes) with tapegrad.

    python examples/train_digits.py                    # PyTorch idiom: loss.backward(); opt.step()
    python examples/train_digits.py --idiom tape       # TensorFlow idiom: GradientTape + apply_gradients

The data (1,797 real images) ships inside scikit-learn: nothing is downloaded. The same
tg.nn model and tg.optim optimizer serve both idioms; only the training step differs.
Needs scikit-learn and tqdm.
"""
import argparse
import time

import numpy as np

import tapegrad as tg
from tapegrad import nn, optim
from tapegrad.nn import functional as F


def load_data(seed=0, test_fraction=0.2):
    """(x_train, y_train, x_test, y_test) as NumPy arrays: pixels scaled to [0, 1], labels int64."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_fraction, random_state=seed,
                                                        stratify=y)
    return x_train, y_train, x_test, y_test


def make_model(hidden=128, dropout=0.1):
    return nn.Sequential(
        nn.Linear(64, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, 10),
    )


def accuracy(model, x, y):
    model.eval()
    with tg.no_grad():
        pred = model(tg.tensor(x)).argmax(axis=1).numpy()
    model.train()
    return float((pred == y).mean())


def train(idiom="autograd", epochs=20, batch_size=64, lr=1e-2, seed=0, progress=True):
    """Train and evaluate; returns {'test_accuracy', 'train_accuracy', 'seconds', 'final_loss'}.

    idiom="autograd": loss.backward(); opt.step(); opt.zero_grad()
    idiom="tape":     tape.gradient(loss, model.trainable_variables); opt.apply_gradients(...)
    """
    if idiom not in ("autograd", "tape"):
        raise ValueError(f"idiom must be 'autograd' or 'tape', got {idiom!r}")
    from tqdm import tqdm

    tg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x_train, y_train, x_test, y_test = load_data(seed)
    model = make_model()
    opt = optim.Adam(model.parameters(), lr=lr)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    variables = model.trainable_variables

    n = len(x_train)
    start = time.perf_counter()
    loss_value = float("nan")
    bar = tqdm(range(epochs), desc=f"digits ({idiom})", unit="epoch", disable=not progress)
    for _epoch in bar:
        order = rng.permutation(n)
        total, count = 0.0, 0
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            xb, yb = tg.tensor(x_train[idx]), tg.tensor(y_train[idx])
            if idiom == "autograd":
                loss = F.cross_entropy(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
            else:
                with tg.GradientTape() as tape:
                    loss = F.cross_entropy(model(xb), yb)
                grads = tape.gradient(loss, variables)
                opt.apply_gradients(zip(grads, variables))
            loss_value = loss.item()
            total += loss_value * len(idx)
            count += len(idx)
        sched.step()
        bar.set_postfix(loss=f"{total / count:.4f}", lr=f"{sched.get_last_lr()[0]:.2e}")
    seconds = time.perf_counter() - start
    return {
        "test_accuracy": accuracy(model, x_test, y_test),
        "train_accuracy": accuracy(model, x_train, y_train),
        "seconds": seconds,
        "final_loss": total / count,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idiom", choices=["autograd", "tape"], default="autograd")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    args = parser.parse_args(argv)
    result = train(args.idiom, args.epochs, args.batch_size, args.lr, args.seed, progress=not args.no_progress)
    print(f"idiom={args.idiom}  test accuracy {result['test_accuracy']:.4f}  "
          f"train accuracy {result['train_accuracy']:.4f}  ({result['seconds']:.2f} s)")
    return result


if __name__ == "__main__":
    main()
