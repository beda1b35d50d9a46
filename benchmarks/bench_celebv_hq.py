"""Benchmark the CelebV-HQ builder: cutting clips from a raw video, and preparing the annotations.

    python benchmarks/bench_celebv_hq.py                  # all three
    python benchmarks/bench_celebv_hq.py cutting          # or: annotations, checks

Cutting. A raw 720p video of five minutes (30 fps, H.264 with 2 s keyframe intervals, stereo AAC;
textured picture panning slowly, so it compresses like filmed video) is generated once and cached
under benchmarks/.cache/. Eight clips of 4 to 14 s with face boxes of CelebV-HQ's size (the official
square crop is 460 to 500 px, near the 512 px of CelebV-HQ clips) are spread across it, two of
them 2 s apart. Each of three jobs runs in a fresh process, at equal encoder settings (libx264 CRF 23
preset medium, AAC 128 kb/s, mp4, the ffmpeg defaults the official script relies on):
- ours: `cut_clips`, one pass over the video for all eight clips;
- official: one ffmpeg process per clip with the seek after the input, as the release's script does
  (`ffmpeg -i raw.mp4 -ss START -to END -vf crop=W:H:X:Y clip.mp4`), so each decodes from the start;
- encode-only limit: the same output frames (and audio), decoded and cropped beforehand, only encoded.

Checks. The eight clips cut above, stored as processed clips are (H.264 + AAC MP4 files, cached): time
to read each file, against reading it and checking it with `video_problem` (the default checks, then
`full_decode=True`), as the `clips` config does with `media_check="fast"` / `"full"`. Each job reads
every clip `CHECK_ROUNDS` times in a fresh process; the figures are per clip.

Annotations. A generated full-size `celebvhq_info.json` (35,666 clips in the release's form): time to
prepare the `annotations` config into an empty cache, against a plain `json.load` of the file.
Each figure is the best of `--repeat` runs; peak memory is that run's own (VmHWM of a fresh process).
"""

from __future__ import annotations

import argparse
import io
import math
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY / "benchmarks"))

from measure import best_of  # noqa: E402

CACHE = REPOSITORY / "benchmarks" / ".cache" / "celebv_hq"
WIDTH, HEIGHT, FPS, DURATION_SEC = 1280, 720, 30, 300
AUDIO_RATE = 44_100
# (start, end, top, bottom, left, right): on the source timeline, face boxes as fractions of the frame.
CLIPS = (
    (12.00, 19.50, 0.15, 0.78, 0.30, 0.62),
    (47.30, 53.10, 0.20, 0.83, 0.40, 0.74),
    (55.10, 61.20, 0.18, 0.80, 0.42, 0.76),  # 2 s after the previous clip: decoded through, no seek
    (96.40, 110.00, 0.10, 0.76, 0.25, 0.60),
    (140.20, 146.60, 0.22, 0.86, 0.50, 0.84),
    (181.00, 190.30, 0.12, 0.80, 0.35, 0.70),
    (232.50, 238.00, 0.25, 0.88, 0.20, 0.53),
    (281.70, 293.20, 0.16, 0.79, 0.45, 0.78),
)


def raw_video(width: int = WIDTH, height: int = HEIGHT, duration_sec: int = DURATION_SEC) -> Path:
    """The cached raw video, generated on first use (about a minute for the default 5 minutes of 720p)."""
    path = CACHE / f"raw_{width}x{height}_{FPS}fps_{duration_sec}s.mp4"
    if path.exists():
        return path
    import av
    import numpy as np

    print(f"generating a {duration_sec} s {width}x{height} raw video (cached in {CACHE}) ...", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    # A smooth random texture larger than the frame (blocky noise, blurred by upscaling), plus fine grain.
    coarse = rng.integers(30, 225, size=(height // 16 + 8, width // 16 + 16, 3), dtype=np.uint8)
    texture = np.asarray(
        av.VideoFrame.from_ndarray(coarse, format="rgb24").reformat(width + 256, height + 128).to_ndarray()
    )
    texture = np.clip(texture.astype(np.int16) + rng.integers(-6, 7, size=texture.shape), 0, 255).astype(np.uint8)
    partial = path.with_suffix(".partial.mp4")
    with av.open(str(partial), mode="w") as output:
        video = output.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"g": str(2 * FPS), "preset": "veryfast", "crf": "23"}
        audio = output.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        samples_per_frame = Fraction(AUDIO_RATE, FPS)
        for index in range(duration_sec * FPS):
            # A slow pan in a loop, and a bright square moving across, so every frame differs.
            dx = int(128 + 127 * math.sin(index / 90))
            dy = int(64 + 63 * math.cos(index / 70))
            picture = texture[dy : dy + height, dx : dx + width].copy()
            x = (index * 7) % (width - 200)
            picture[260:460, x : x + 200] = (picture[260:460, x : x + 200] // 2) + 110
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            output.mux(video.encode(frame))
            first, last = round(index * samples_per_frame), round((index + 1) * samples_per_frame)
            t = np.arange(first, last) / AUDIO_RATE
            wave = 0.1 * np.sin(2 * np.pi * (220 + 20 * np.sin(t)) * t) + 0.02 * rng.standard_normal(t.size)
            sound = av.AudioFrame.from_ndarray(
                np.stack([wave, wave[::-1]]).astype(np.float32), format="fltp", layout="stereo"
            )
            sound.sample_rate, sound.pts = AUDIO_RATE, first
            output.mux(audio.encode(sound))
        output.mux(video.encode(None))
        output.mux(audio.encode(None))
    partial.rename(path)
    return path


def _requests() -> list:
    from celebv_hq_lib.video import BoundingBox, ClipRequest

    return [
        ClipRequest(f"clip_{k}", start, end, BoundingBox(top, bottom, left, right))
        for k, (start, end, top, bottom, left, right) in enumerate(CLIPS)
    ]


def cut_ours(raw: str) -> tuple[int, int]:
    """Cut every clip with the package's one-pass cutter; returns (clips, bytes)."""
    from celebv_hq_lib.video import EncoderSettings, cut_clips

    results = list(cut_clips(raw, _requests(), EncoderSettings()))
    assert all(result.video is not None for result in results), [r.skip_reason for r in results]
    return len(results), sum(len(result.video or b"") for result in results)


def cut_official(raw: str, out_dir: str) -> tuple[int, int, float]:
    """One ffmpeg process per clip, seeking after the input, as the official script.

    Returns (clips, bytes, the largest ffmpeg process's peak memory in MB)."""
    import resource

    import imageio_ffmpeg

    from celebv_hq_lib.video import official_crop_window

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    written = 0
    for request in _requests():
        window = official_crop_window(request.box, WIDTH, HEIGHT)
        out = Path(out_dir) / f"{request.clip_id}.mp4"
        crop = f"crop={window.side}:{window.side}:{window.x}:{window.y}"
        command = [ffmpeg, "-y", "-loglevel", "error", "-i", raw, "-ss", f"{request.start_sec}"]
        command += ["-to", f"{request.end_sec}", "-vf", crop, "-c:v", "libx264", "-crf", "23", "-preset", "medium"]
        command += ["-c:a", "aac", "-b:a", "128k", str(out)]
        subprocess.run(command, check=True)
        written += out.stat().st_size
    return len(CLIPS), written, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def encode_only(raw: str) -> tuple[float, int]:
    """Decode and crop every clip's frames first, then time only their encoding; returns (seconds, bytes)."""
    import av
    import numpy as np

    from celebv_hq_lib.video import official_crop_window

    prepared = []
    with av.open(raw) as container:
        stream = container.streams.video[0]
        audio_stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
        for request in _requests():
            window = official_crop_window(request.box, WIDTH, HEIGHT)
            x, y, side = window.x, window.y, window.side
            container.seek(int(max(0.0, request.start_sec - 1) / stream.time_base), stream=stream)
            pictures, sounds = [], []
            for frame in container.decode(stream):
                if frame.time >= request.end_sec - 1e-3:
                    break
                if frame.time >= request.start_sec - 1e-3:
                    planes = frame.to_ndarray(format="yuv420p")
                    luma = planes[:HEIGHT, :].reshape(HEIGHT, WIDTH)[y : y + side, x : x + side]
                    chroma = planes[HEIGHT:, :].reshape(2, HEIGHT // 2, WIDTH // 2)
                    chroma = chroma[:, y // 2 : (y + side) // 2, x // 2 : (x + side) // 2].reshape(-1, side)
                    pictures.append(np.concatenate([luma, chroma]))
            container.seek(int(max(0.0, request.start_sec - 1) / stream.time_base), stream=stream)
            for frame in container.decode(audio_stream):
                if frame.time >= request.end_sec:
                    break
                if frame.time + frame.samples / AUDIO_RATE > request.start_sec:
                    sounds.extend(piece.to_ndarray() for piece in resampler.resample(frame))
            prepared.append((side, pictures, sounds))
    start = time.perf_counter()
    written = 0
    for side, pictures, sounds in prepared:
        buffer = io.BytesIO()
        with av.open(buffer, mode="w", format="mp4") as output:
            video = output.add_stream("libx264", rate=FPS)
            video.width = video.height = side
            video.pix_fmt = "yuv420p"
            video.options = {"crf": "23", "preset": "medium"}
            audio = output.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
            audio.bit_rate = 128_000
            for index, planes in enumerate(pictures):
                frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
                frame.pts = index
                output.mux(video.encode(frame))
            position = 0
            for samples in sounds:
                sound = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout="stereo")
                sound.sample_rate, sound.pts = AUDIO_RATE, position
                position += samples.shape[1]
                output.mux(audio.encode(sound))
            output.mux(video.encode(None))
            output.mux(audio.encode(None))
        written += buffer.tell()
    return time.perf_counter() - start, written


def processed_clips() -> list[Path]:
    """The benchmark's clips as files, cut once at the default settings and cached (about half a minute)."""
    folder = CACHE / "processed"
    paths = [folder / f"{request.clip_id}.mp4" for request in _requests()]
    if all(path.exists() for path in paths):
        return paths
    from celebv_hq_lib.video import EncoderSettings, cut_clips

    print(f"cutting the {len(paths)} clips to check (cached in {folder}) ...", flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    for result in cut_clips(str(raw_video()), _requests(), EncoderSettings()):
        (folder / f"{result.clip_id}.mp4").write_bytes(result.video)
    return paths


CHECK_ROUNDS = 5


def read_and_check(paths: list[Path], media_check: str) -> int:
    """Read every clip file CHECK_ROUNDS times, checking it unless `media_check` is "none"; returns problems."""
    from celebv_hq_lib.video import video_problem

    problems = 0
    for _ in range(CHECK_ROUNDS):
        for path in paths:
            data = path.read_bytes()
            if media_check != "none":
                problems += video_problem(data, full_decode=media_check == "full") is not None
    return problems


def bench_checks(repeat: int) -> list[str]:
    paths = processed_clips()
    runs = {
        check: best_of(repeat, read_and_check, paths, check, preload=("celebv_hq_lib.video",))
        for check in ("none", "fast", "full")
    }
    assert all(problems == 0 for _, _, problems in runs.values())
    reads = len(paths) * CHECK_ROUNDS
    per_clip = {check: seconds / reads * 1000 for check, (seconds, _, _) in runs.items()}
    clip_seconds = sum(end - start for start, end, *_ in CLIPS) / len(CLIPS)
    size_mb = sum(path.stat().st_size for path in paths) / len(paths) / 1e6
    labels = {
        "none": "read the file alone",
        "fast": "read + default checks (fast)",
        "full": "read + full decode (full)",
    }
    lines = [
        f"checks: {len(paths)} processed clips ({clip_seconds:.1f} s, {size_mb:.2f} MB each on average, 460-500 px"
        f" H.264 + AAC), each read {CHECK_ROUNDS} times, best of {repeat}, per clip:",
    ]
    for check, label in labels.items():
        _, peak, _ = runs[check]
        ratio = f"{per_clip[check] / per_clip['none']:7.1f}x the read" if check != "none" else " " * 18
        lines.append(f"  {label:32} {per_clip[check]:8.2f} ms {ratio}   peak {peak:5.0f} MB")
    return lines


def prepare_annotations(data_dir: str, cache_dir: str) -> int:
    from celebv_hq import CelebVHQ

    builder = CelebVHQ(config_name="annotations", data_dir=data_dir, cache_dir=cache_dir)
    builder.download_and_prepare()
    return builder.info.splits["train"].num_examples


def load_json(path: str) -> int:
    import json

    with open(path, encoding="utf-8") as source:
        return len(json.load(source)["clips"])


def bench_cutting(repeat: int) -> list[str]:
    raw = str(raw_video())
    clip_seconds = sum(end - start for start, end, *_ in CLIPS)
    ours_seconds, ours_peak, (clips, ours_bytes) = best_of(repeat, cut_ours, raw, preload=("celebv_hq_lib.video",))
    print(f"ours: {ours_seconds:.1f} s", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-official-") as out_dir:
        official_seconds, _, (_, _, official_peak) = best_of(repeat, cut_official, raw, out_dir, preload=())
    print(f"official: {official_seconds:.1f} s", file=sys.stderr, flush=True)
    runs = [best_of(1, encode_only, raw, preload=("celebv_hq_lib.video",)) for _ in range(repeat)]
    limit_seconds = min(result[0] for _, _, result in runs)
    return [
        f"cutting {clips} clips ({clip_seconds:.0f} s of video) from a {DURATION_SEC} s {WIDTH}x{HEIGHT} {FPS} fps raw"
        f" video ({Path(raw).stat().st_size / 1e6:.0f} MB), libx264 CRF 23 medium + AAC, best of {repeat}:",
        f"  ours (one pass)                  {ours_seconds:7.1f} s   peak {ours_peak:5.0f} MB",
        f"  official (ffmpeg per clip)       {official_seconds:7.1f} s   peak {official_peak:5.0f} MB (each ffmpeg)",
        f"  encode-only limit                {limit_seconds:7.1f} s",
        f"  official / ours = {official_seconds / ours_seconds:.2f}x faster (goal >= 3x);"
        f" ours / limit = {ours_seconds / limit_seconds:.2f}x (goal <= 1.3x); peak {ours_peak:.0f} MB (goal < 1 GB)",
        f"  output: ours {ours_bytes / 1e6:.1f} MB",
    ]


def bench_annotations(repeat: int) -> list[str]:
    # Imported here: spawned children re-import this script, and the json.load baseline must not
    # carry `datasets` in its memory.
    from generate_celebvhq_info import write_full_size_annotation_file

    with tempfile.TemporaryDirectory(prefix="bench-annotations-") as work:
        annotation_file = write_full_size_annotation_file(Path(work) / "download")
        size_mb = annotation_file.stat().st_size / 1e6
        runs = []
        for attempt in range(repeat):
            cache_dir = Path(work) / f"cache{attempt}"
            runs.append(
                best_of(1, prepare_annotations, str(annotation_file.parent), str(cache_dir), preload=("datasets",))
            )
        ours_seconds, ours_peak, rows = min(runs, key=lambda run: run[0])
        json_seconds, json_peak, clips = best_of(repeat, load_json, str(annotation_file), preload=())
    assert rows == clips
    return [
        f"annotations: prepare `annotations` from a full-size celebvhq_info.json ({clips:,} clips, {size_mb:.0f} MB),"
        f" best of {repeat}:",
        f"  ours (download_and_prepare)      {ours_seconds:7.2f} s   peak {ours_peak:5.0f} MB",
        f"  json.load of the file            {json_seconds:7.2f} s   peak {json_peak:5.0f} MB",
        f"  ours / json.load = {ours_seconds / json_seconds:.2f}x (goal <= 5x)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "which", nargs="*", choices=["cutting", "checks", "annotations"], default=["cutting", "checks", "annotations"]
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the fastest is kept")
    arguments = parser.parse_args()
    lines = []
    if "annotations" in arguments.which:
        lines += bench_annotations(arguments.repeat)
    if "cutting" in arguments.which:
        lines += bench_cutting(arguments.repeat)
    if "checks" in arguments.which:
        lines += bench_checks(arguments.repeat)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
