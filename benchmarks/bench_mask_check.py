"""Benchmark the mask checks of CelebA-Dialog `hq_masks`: µs per mask, against the structure check alone and a decode.

    python benchmarks/bench_mask_check.py                   # 500 masks of each kind
    python benchmarks/bench_mask_check.py --masks 2000      # steadier figures

Masks are generated like CelebAMask-HQ's: 512x512 face layouts of ellipses (skin, hair, eyes, brows, nose,
lips, ears, neck, cloth), each a little different; the colorized mask is a palette PNG of label ids 0..18,
each part mask a grey PNG of 0 and 255. Each measurement runs in a fresh process over bytes already in
memory (reading is not counted), so its peak RSS is that work's own:
- before: `image_problem`, the structure check every stored file had already (chunks and CRCs);
- ours: `image_problem` then the mask's content check, as `hq_masks` runs it: `colorized_mask_problem`
  (header, then the pixels decoded once for their extrema) on every colorized mask; `part_mask_problem`
  on the header alone by default (`media_check="fast"`), and on the decoded values under "full";
- decode alone: PIL opening and decoding the PNG, nothing else: the least any check of the values costs.
The lines below the table project the cost added to one `hq_masks` row: one colorized mask and
`--parts-per-image` part masks (12 by default: about what a face has; the release's average is not known here),
over the structure check under "fast", over the decode that "full" already made of every file under "full".
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))
sys.path.insert(0, str(REPOSITORY / "benchmarks"))

from measure import best_of  # noqa: E402

SIZE = 512


def face_labels(seed: int):  # type: ignore[no-untyped-def]
    """A 512x512 array of label ids 0..18 drawn as a face, different for every seed (numpy, uint8)."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    image = Image.new("L", (SIZE, SIZE), 0)
    draw = ImageDraw.Draw(image)

    def ellipse(label: int, x: float, y: float, width: float, height: float) -> None:
        dx, dy = rng.normal(0, 6, 2)
        draw.ellipse((x - width + dx, y - height + dy, x + width + dx, y + height + dy), fill=label)

    ellipse(18, 256, 520, 230, 110)  # cloth
    ellipse(17, 256, 420, 80, 90)  # neck
    ellipse(13, 256, 210, 190, 200)  # hair
    ellipse(1, 256, 270, 140, 175)  # skin
    ellipse(8, 110, 280, 25, 45)  # ears
    ellipse(9, 402, 280, 25, 45)
    ellipse(6, 200, 205, 40, 10)  # brows
    ellipse(7, 312, 205, 40, 10)
    ellipse(4, 200, 235, 25, 12)  # eyes
    ellipse(5, 312, 235, 25, 12)
    ellipse(2, 256, 300, 22, 40)  # nose
    ellipse(11, 256, 360, 50, 12)  # lips and mouth
    ellipse(12, 256, 382, 48, 14)
    ellipse(10, 256, 371, 40, 5)
    return np.asarray(image)


def colorized_png(labels) -> bytes:  # type: ignore[no-untyped-def]
    from PIL import Image

    from celeba_dialog_lib.labels import MASK_PALETTE

    image = Image.fromarray(labels, mode="P")
    image.putpalette([channel for colour in MASK_PALETTE for channel in colour])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def part_png(labels, label: int) -> bytes:  # type: ignore[no-untyped-def]
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(((labels == label) * 255).astype("uint8"), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def generated_masks(kind: str, count: int) -> list[bytes]:
    """`count` colorized masks, or `count` part masks (cycling through the labels drawn)."""
    drawn = (1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 17, 18)
    if kind == "colorized":
        return [colorized_png(face_labels(seed)) for seed in range(count)]
    return [part_png(face_labels(seed), drawn[seed % len(drawn)]) for seed in range(count)]


def _timed_per_mask(masks: list[bytes], check: Callable[[bytes], object]) -> float:
    start = time.perf_counter()
    for data in masks:
        assert check(data) is None
    return (time.perf_counter() - start) / len(masks)


def run_before(work: str, count: int) -> float:
    from celeba_dialog_lib.images import image_problem

    return _timed_per_mask(generated_masks(WORKS[work][0], count), image_problem)


# The works measured: which masks, and the content check `hq_masks` runs on them.
WORKS = {
    "colorized": ("colorized", "colorized"),
    "part, fast check": ("part", "part header"),
    "part, full check": ("part", "part values"),
}


def content_check(name: str) -> Callable[[bytes], object]:
    import functools

    from celeba_dialog_lib.images import colorized_mask_problem, part_mask_problem

    checks = {
        "colorized": colorized_mask_problem,
        "part header": functools.partial(part_mask_problem, check_values=False),
        "part values": part_mask_problem,
    }
    return checks[name]


def run_ours(work: str, count: int) -> float:
    from celeba_dialog_lib.images import image_problem

    kind, check_name = WORKS[work]
    check = content_check(check_name)
    return _timed_per_mask(generated_masks(kind, count), lambda data: image_problem(data) or check(data))


def run_decode(work: str, count: int) -> float:
    from PIL import Image

    def decode(data: bytes) -> None:
        with Image.open(io.BytesIO(data)) as image:
            image.load()

    return _timed_per_mask(generated_masks(WORKS[work][0], count), decode)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--masks", type=int, default=500, help="masks of each kind")
    parser.add_argument("--parts-per-image", type=int, default=12, help="part masks per hq_masks row")
    parser.add_argument("--runs", type=int, default=3, help="fresh-process runs per figure (the best is kept)")
    arguments = parser.parse_args(argv)
    lines = [
        "| work | ours (structure + content) | before (structure only) | decode alone (limit) "
        "| added by the content check | ours ÷ decode | peak RSS ours / before / decode |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    figures: dict[str, dict[str, float]] = {}
    for work in WORKS:
        figures[work] = {}
        memory = {}
        for name, run in (("ours", run_ours), ("before", run_before), ("decode", run_decode)):
            # Generating the masks is inside the timed process but not inside the per-mask figure.
            _, memory[name], figures[work][name] = best_of(
                arguments.runs, run, work, arguments.masks, preload=("PIL.Image",)
            )
        ours, before, decode = (figures[work][name] for name in ("ours", "before", "decode"))
        lines.append(
            f"| {work}, {arguments.masks:,} 512x512 PNGs | {ours * 1e6:,.0f} µs/mask "
            f"| {before * 1e6:,.0f} µs/mask | {decode * 1e6:,.0f} µs/mask | {(ours - before) * 1e6:,.0f} µs/mask "
            f"| {ours / decode:.2f}x | {memory['ours']:,.0f} / {memory['before']:,.0f} / {memory['decode']:,.0f} MB |"
        )
    print("\n".join(lines) + "\n")
    for check in ("fast", "full"):
        # Under "full" every file was decoded once already (the decode column): the checks add what exceeds it.
        baseline = "before" if check == "fast" else "decode"
        colorized, part = figures["colorized"], figures[f"part, {check} check"]
        per_row = colorized["ours"] - colorized[baseline] + arguments.parts_per_image * (part["ours"] - part[baseline])
        print(
            f"Added per hq_masks row under media_check={check} (1 colorized + {arguments.parts_per_image} part "
            f"masks): {per_row * 1e3:.2f} ms of one core; for 30,000 rows: {per_row * 30_000 / 60:.1f} core-minutes."
        )
    print(
        f"Reproduce: python benchmarks/bench_mask_check.py --masks {arguments.masks} "
        f"--parts-per-image {arguments.parts_per_image} --runs {arguments.runs}"
    )


if __name__ == "__main__":
    main()
