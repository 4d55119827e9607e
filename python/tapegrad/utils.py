"""Gradient inspection helpers for training loops."""
from . import _C


def _named_params(module_or_params):
    if hasattr(module_or_params, "named_parameters"):
        return list(module_or_params.named_parameters())
    if isinstance(module_or_params, dict):
        return list(module_or_params.items())
    return [(f"param{i}", p) for i, p in enumerate(module_or_params)]


def grad_norms(module_or_params, vanishing=1e-7, exploding=1e3):
    """Per-parameter gradient L2 norms.

    Returns a list of dicts {name, shape, norm, vanishing, exploding}, in parameter
    order; norm is None for parameters without a gradient. A norm below `vanishing`
    or above `exploding` (or not finite) is flagged."""
    rows = []
    for name, p in _named_params(module_or_params):
        g = p.grad
        norm = None if g is None else float(_C.norm(g))
        rows.append({
            "name": name,
            "shape": tuple(p.shape),
            "norm": norm,
            "vanishing": norm is not None and norm < vanishing,
            "exploding": norm is not None and not (norm <= exploding),
        })
    return rows


def plot_grad_flow(module_or_params, path, title="Gradient flow"):
    """Save a bar chart of each parameter's mean and max |grad| to `path` (needs the
    optional matplotlib extra: pip install "tapegrad[plot]")."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("plot_grad_flow needs matplotlib: pip install 'tapegrad[plot]'") from e
    names, means, maxes = [], [], []
    for name, p in _named_params(module_or_params):
        if p.grad is None:
            continue
        a = abs(p.grad.numpy())
        names.append(name)
        means.append(float(a.mean()) if a.size else 0.0)
        maxes.append(float(a.max()) if a.size else 0.0)
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(names) + 2), 4))
    xs = range(len(names))
    ax.bar(xs, maxes, alpha=0.4, label="max |grad|")
    ax.bar(xs, means, alpha=0.8, label="mean |grad|")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("gradient magnitude")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
