"""Plot the training curves of a run (losses and FID/KID over steps) to `curves.png`.

Reads the records of `metrics.jsonl` (one dict per log point, see `run_dir.MetricsLog`) and draws,
with matplotlib's non-interactive Agg backend, one panel with every loss-like series
(`d_loss`, `g_loss`, regularizer terms), one with the augmentation probability `aug_p` and D's
real-sign mean `ada_r_t` (r_t = E[sign(D(T(real)))], the ADA controller's signal) when adaptive (an
`ada_r_t` series or a changing `aug_p`), and one with FID (left axis) and KID (right axis) at the
evaluation steps. A run that diverged (`faults.TrainingDiverged`, see `diverged.json`) gets a
vertical `DIVERGED_COLOR` line at the divergence step on every panel, labelled with the value.

Example:
    >>> records = [{"step": 10, "d_loss": 1.2, "g_loss": 0.8},
    ...            {"step": 20, "d_loss": 1.1, "g_loss": 0.9, "fid": 120.0, "kid": 0.1}]
    >>> plot_curves(records, "/tmp/curves.png")
    '/tmp/curves.png'
"""

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
from matplotlib import pyplot as plt  # noqa: E402

#: Colour of the divergence marker (used by nothing else on the figure).
DIVERGED_COLOR = "#ff00ff"

#: The series of the adaptive-augmentation panel, with their colours.
ADA_SERIES = (("aug_p", "tab:purple"), ("ada_r_t", "tab:green"))

_NOT_LOSSES = {
    "step",
    "fid",
    "kid",
    "aug_p",
    "ada_r_t",
    "real_score",
    "fake_score",
    "epoch",
    "time",
    "wall_time",
    "learning_rate",
}


def series(records, key):
    """Returns `(steps, values)` of `key` over the records that hold a finite number for it."""
    steps, values = [], []
    for record in records:
        value = record.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
            steps.append(record["step"])
            values.append(float(value))
    return steps, values


def divergence_label(diverged):
    """The marker's legend text: `"diverged at step 20 (g_loss = nan)"`."""
    value = diverged.get("value")
    what = "non-finite weights" if diverged.get("key") == "weights" else f"{diverged.get('key')} = {value}"
    return f"diverged at step {diverged['step']} ({what})"


def plot_curves(records, path, title=None, diverged=None):
    """Draws losses, `aug_p` and FID/KID against steps and saves the figure to `path`.

    Args:
        records: list of dicts with a `step` key (e.g. `MetricsLog.read()`).
        path: output image path (PNG).
        title: optional figure title (e.g. the run folder name).
        diverged: optional dict with `step`, `key` and `value` (`TrainingDiverged.record()`):
            marks the step on every panel.

    Returns:
        `path`.
    """
    keys = []
    for record in records:
        for key in record:
            if key not in keys:
                keys.append(key)
    loss_keys = [k for k in keys if k not in _NOT_LOSSES and series(records, k)[0]]
    # A constant p without r_t (fixed DiffAugment) needs no panel.
    has_p = len(set(series(records, "aug_p")[1])) > 1 or bool(series(records, "ada_r_t")[0])
    panels = 2 + int(has_p)
    fig, axes = plt.subplots(panels, 1, figsize=(8, 3 * panels), sharex=True, squeeze=False)
    axes = axes[:, 0]

    ax = axes[0]
    for key in loss_keys:
        ax.plot(*series(records, key), label=key, linewidth=1)
    for key in ("real_score", "fake_score"):
        if series(records, key)[0]:
            ax.plot(*series(records, key), label=key, linewidth=1, linestyle=":")
    ax.set_ylabel("loss")
    if ax.lines:
        ax.legend(loc="upper right", fontsize="small")
    ax.grid(alpha=0.3)

    if has_p:
        for key, color in ADA_SERIES:
            if series(records, key)[0]:
                axes[1].plot(*series(records, key), color=color, label=key)
        axes[1].set_ylabel("p, r_t")
        axes[1].set_ylim(-1.02, 1.02)  # r_t = mean sign in [-1, 1], p in [0, 1]
        axes[1].legend(loc="upper right", fontsize="small")
        axes[1].grid(alpha=0.3)

    ax = axes[-1]
    fid_steps, fid = series(records, "fid")
    if fid_steps:
        ax.plot(fid_steps, fid, "o-", color="tab:red", label="FID")
    ax.set_ylabel("FID")
    kid_steps, kid = series(records, "kid")
    if kid_steps:
        twin = ax.twinx()
        twin.plot(kid_steps, kid, "s--", color="tab:blue", label="KID")
        twin.set_ylabel("KID")
    if not fid_steps and not kid_steps:
        ax.text(0.5, 0.5, "no evaluation yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    if diverged is not None:
        for index, panel in enumerate(axes):
            label = divergence_label(diverged) if index == 0 else None
            panel.axvline(diverged["step"], color=DIVERGED_COLOR, linewidth=2, label=label)
        axes[0].legend(loc="upper left", fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
