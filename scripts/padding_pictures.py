"""Draw the pictures of docs/padding.md: what ``gx.pad(img, 2, mode=...)`` does to a 4x5 image
in each of the five modes, one PNG per mode and one with all of them, in docs/images/padding/.

    python scripts/padding_pictures.py [--out docs/images/padding]

The padded arrays are computed by ``gx.pad`` itself (and checked against ``numpy.pad``), so the
pictures show what graphexec does.  Each of the 20 pixels has its own colour (its row picks the
hue, its column the shade) and its number, so a padded cell shows which pixel it copies.  Needs
matplotlib; re-running gives the same bytes (no dates in the PNG metadata).
"""

from __future__ import annotations

import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.patches import Rectangle

import graphexec as gx
from graphexec.ops.pad import MODES

ROOT = pathlib.Path(__file__).resolve().parents[1]
IMG = np.arange(1, 21).reshape(4, 5)  # pixel values 1..20, row-major
PAD = 2
DPI = 110
#: no Software or date chunk, so a re-run writes the same bytes
METADATA = {"Software": None}

#: what each mode does, as the panel subtitles say it
WHAT = {
    "constant": "fills with a value (0 here)",
    "reflect": "mirrors, not repeating the edge",
    "symmetric": "mirrors, repeating the edge",
    "edge": "repeats the edge pixel",
    "wrap": "repeats the image periodically",
}
ROW_HUES = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")  # one hue per image row
FILL_COLOUR = "#f2f2f2"  # a constant cell
OUTLINE = "#111111"


def padded(mode: str) -> np.ndarray:
    """``IMG`` padded by ``PAD`` on every side in ``mode``, by ``gx.pad``; the same as
    ``numpy.pad`` gives, or AssertionError."""
    out = gx.pad(gx.constant(IMG), PAD, mode=mode).numpy()
    want = np.pad(IMG, PAD, mode=mode)
    assert out.dtype == want.dtype and np.array_equal(out, want), (mode, out, want)
    return out


def colour(value: int) -> tuple[float, float, float]:
    """The colour of pixel ``value`` (1..20): its row's hue, lighter to the right."""
    if value == 0:
        return to_rgb(FILL_COLOUR)
    row, col = divmod(value - 1, IMG.shape[1])
    mix = 0.2 + 0.6 * col / (IMG.shape[1] - 1)  # share of white
    return tuple((1 - mix) * c + mix for c in to_rgb(ROW_HUES[row]))


def draw(ax: plt.Axes, arr: np.ndarray, title: str, subtitle: str, at: int = 0) -> None:
    """``arr`` as a grid of numbered, coloured cells, placed ``at`` cells from the top left of
    a panel the size of a padded image, the image's own cells outlined."""
    h, w = IMG.shape[0] + 2 * PAD, IMG.shape[1] + 2 * PAD
    for i, j in np.ndindex(arr.shape):
        v, y, x = int(arr[i, j]), i + at, j + at
        inside = PAD <= y < PAD + IMG.shape[0] and PAD <= x < PAD + IMG.shape[1]
        ax.add_patch(Rectangle((x, y), 1, 1, facecolor=colour(v), edgecolor="white",
                               linewidth=1.5))
        ax.text(x + 0.5, y + 0.52, str(v), ha="center", va="center", fontsize=11,
                fontweight="bold" if inside else "normal",
                color="black" if inside or v else "#777777")
    ax.add_patch(Rectangle((PAD, PAD), IMG.shape[1], IMG.shape[0], fill=False,
                           edgecolor=OUTLINE, linewidth=3))
    ax.set_xlim(-0.1, w + 0.1)
    ax.set_ylim(h + 0.1, -0.1)  # row 0 at the top, as an image
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"{title}\n{subtitle}", fontsize=12, linespacing=1.5)


def draw_mode(ax: plt.Axes, mode: str) -> None:
    draw(ax, padded(mode), f'mode="{mode}"', WHAT[mode])


def save(fig: plt.Figure, path: pathlib.Path) -> None:
    fig.savefig(path, dpi=DPI, metadata=METADATA, facecolor="white")
    plt.close(fig)
    print(f"wrote {path}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "images" / "padding"))
    out = pathlib.Path(p.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    h, w = IMG.shape[0] + 2 * PAD, IMG.shape[1] + 2 * PAD
    cell = 0.42  # inches per cell

    for mode in MODES:
        fig, ax = plt.subplots(figsize=(w * cell + 0.4, h * cell + 0.9))
        draw_mode(ax, mode)
        fig.tight_layout()
        save(fig, out / f"{mode}.png")

    fig, axes = plt.subplots(2, 3, figsize=(3 * (w * cell + 0.4), 2 * (h * cell + 1.0) + 0.5),
                             layout="constrained")
    fig.get_layout_engine().set(h_pad=0.15, w_pad=0.15, hspace=0.06, wspace=0.04)
    draw(axes.flat[0], IMG, "the image", "4 x 5 pixels, numbered 1 to 20", at=PAD)
    for ax, mode in zip(axes.flat[1:], MODES, strict=True):
        draw_mode(ax, mode)
    fig.suptitle(f"gx.pad(img, {PAD}, mode=...): the image outlined, its padding around it",
                 fontsize=14)
    save(fig, out / "modes.png")


if __name__ == "__main__":
    main()
