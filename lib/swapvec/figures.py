"""The report's plots (:mod:`swapvec.report`): the in-group ranks' histogram, and each group's neighbourhood
projected to 2-D (PCA of the group's words and their nearest words), before and after, side by side.

Plots are SVG with their labels as text (the viewer draws the letters): they are drawn faster than PNG and take
about half the bytes; the report is drawn on the driver, once a run.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from swapvec.groups import Group
from swapvec.phrases import readable
from swapvec.similarity.nearest import top_k, unit_rows
from swapvec.summary import group_title

#: Neighbours drawn around each group word.
NEIGHBOURS_SHOWN = 5


def project(points: np.ndarray) -> np.ndarray:
    """2-D PCA of the rows of ``points`` (cosine geometry: rows normalised first); ``n x 2``."""
    normed = points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)
    centred = normed - normed.mean(axis=0)
    if len(points) < 2:
        return np.zeros((len(points), 2))
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    out = centred @ vt[:2].T
    if out.shape[1] < 2:
        out = np.hstack([out, np.zeros((len(out), 2 - out.shape[1]))])
    # A fixed sign per axis (the largest coordinate positive), so before/after plots do not flip at random.
    signs = np.sign(out[np.abs(out).argmax(axis=0), [0, 1]])
    return out * np.where(signs == 0, 1, signs)


def neighbourhood(kv, group: Group, n: int = NEIGHBOURS_SHOWN) -> tuple[list[str], list[str]]:
    """The group's words present in ``kv``, and the ``n`` nearest words outside the group of each (deduplicated,
    in the order found), by the rule of ``swapvec.similarity.nearest`` (ties to the lower row of ``kv``)."""
    words = [w for w in group.words if w in kv.key_to_index]
    if not words:
        return [], []
    kv.fill_norms()  # once per vectors: gensim keeps them
    rows = np.array([kv.key_to_index[w] for w in words])
    inside = set(rows.tolist())
    take = min(n, len(kv) - len(inside))
    if take <= 0:
        return words, []
    # The other group words are among each word's first take + len(inside) - 1 neighbours at most: skipped after.
    found, _ = top_k(unit_rows(kv.vectors[rows]), rows, kv.vectors, take + len(inside) - 1, norms=kv.norms)
    around: list[str] = []
    for neighbours in found:
        for j in [j for j in neighbours.tolist() if j not in inside][:take]:
            if kv.index_to_key[j] not in around:
                around.append(kv.index_to_key[j])
    return words, around


def _draw_space(ax, kv, group: Group, caption: str, joiner: str) -> None:
    words, around = neighbourhood(kv, group)
    ax.set_title(caption, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    if not words:
        ax.text(0.5, 0.5, "no group word in the vocabulary", ha="center", va="center", transform=ax.transAxes)
        return
    labels = words + around
    xy = project(np.array([kv[w] for w in labels], dtype=np.float64))
    pos = dict(zip(labels, xy, strict=True))
    for member in words:
        for mate in group.mates(member):
            if mate in pos:
                ax.plot(*zip(pos[member], pos[mate], strict=True), color="tab:blue", alpha=0.25, lw=1, zorder=1)
    ax.scatter(xy[len(words) :, 0], xy[len(words) :, 1], s=14, color="0.6", zorder=2)
    places = _label_places(xy)
    for i, word in enumerate(labels):
        ours = i < len(words)
        if ours:
            hub = word == group.hub
            ax.scatter(*pos[word], s=90 if hub else 40, marker="*" if hub else "o", color="tab:red", zorder=3)
        ax.annotate(
            readable(word, joiner),
            pos[word],
            fontsize=9 if ours else 7,
            weight="bold" if ours else "normal",
            color="tab:red" if ours else "0.35",
            xytext=places[i][:2],
            textcoords="offset points",
            ha=places[i][2],
            arrowprops={"arrowstyle": "-", "color": "0.75", "lw": 0.5} if places[i][1] != 3 else None,
        )
    ax.margins(0.18)


def _label_places(xy: np.ndarray) -> list[tuple[int, int, str]]:
    """Each label's offset from its point (points) and alignment, so that labels of points close together are
    stacked rather than drawn over each other, and labels stay inside the panel.

    A point in the right 30% of the panel has its label on its left (right-aligned), and a stack of labels near the
    bottom grows upwards: a label running past the panel's edge was cut there (or hidden by the next panel). Greedy,
    in label order (group words first, so theirs stay next to their points): a label that would land within about
    one label of an earlier one is moved a line down (up, near the bottom), up to 8 lines.
    """
    low = xy.min(axis=0) if len(xy) else np.zeros(2)
    span = np.maximum(np.ptp(xy, axis=0), 1e-9) if len(xy) else np.ones(2)
    unit = (xy - low) / span  # the panel is about 1 x 1 in these units
    placed: list[tuple[float, float]] = []  # where each label starts
    places = []
    for x, y in unit:
        left = x > 0.7
        lx, way = (x - 0.16 if left else x), (1 if y < 0.3 else -1)
        for step in range(9):
            ly = y + way * step * 0.045
            if all(abs(lx - px) > 0.16 or abs(ly - py) > 0.04 for px, py in placed):
                break
        placed.append((lx, ly))
        places.append((-4 if left else 4, 3 + way * step * 11, "right" if left else "left"))
    return places


def group_figure(path: Path, group: Group, after: tuple, before: tuple, joiner: str = "_") -> None:
    """``after`` and ``before``: (the vectors, a caption); the before panel is left out when its vectors are None."""
    from matplotlib.figure import Figure

    panels = [before, after] if before[0] is not None else [after]
    fig = Figure(figsize=(5.2 * len(panels), 4.4))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (kv, caption) in zip(axes[0], panels, strict=True):
        _draw_space(ax, kv, group, caption, joiner)
    fig.suptitle(f"line {group.line}: {group_title(group, joiner)}", fontsize=11)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.86, wspace=0.06)
    save(fig, path)


def ranks_figure(path: Path, after: list[int], before: list[int] | None, heads: tuple[str, str]) -> None:
    import matplotlib.pyplot as plt

    top = max([*after, *(before or []), 10])
    bins = np.unique(np.round(np.logspace(0, math.log10(top + 1), 30)).astype(int))
    fig, ax = plt.subplots(figsize=(7.5, 4))
    if before:
        ax.hist(before, bins=bins, histtype="step", lw=2, color="0.5", label=f"{heads[0]} ({len(before)} pairs)")
    ax.hist(after, bins=bins, histtype="stepfilled", alpha=0.55, color="tab:red", label=f"{heads[1]} ({len(after)})")
    ax.axvline(10.5, color="k", ls="--", lw=1)
    ax.text(11, ax.get_ylim()[1] * 0.92, "top 10", fontsize=9)
    ax.set_xscale("log")
    ax.set_xlabel("rank of a group-mate among the member's neighbours (1 = nearest; log scale)")
    ax.set_ylabel("(member, mate) pairs")
    ax.set_title("In-group ranks")
    ax.legend(fontsize=9)
    fig.tight_layout()
    save(fig, path)
    plt.close(fig)


def save(fig, path: Path) -> None:
    """``fig`` as SVG, text left as text, the same bytes for the same plot (no date, fixed element ids); as PNG at
    100 dpi when ``path`` ends in ``.png``."""
    import matplotlib

    if Path(path).suffix == ".png":
        fig.savefig(path, dpi=100)
        return
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "swapvec"}):
        fig.savefig(path, format="svg", metadata={"Date": None})
