"""Per-core costs of decoding and seeking H.264, VP9 and AV1 raw videos at 720p and 1080p, for the scheduler.

    python benchmarks/bench_codecs.py [--repeat 3] [--no-ray] [--factor F] [--output benchmarks/data/codec_costs.json]

YouTube serves a video's picture as H.264 or AV1 in MP4, or VP9 in WebM; yt-dlp's default format order
picks AV1 where it is offered. The cutter decodes whichever it gets (AV1 with libdav1d, VP9 with ffmpeg's
own decoder, as PyAV picks them), so decoding and seeking cost what the codec costs. Measured here, one
thread each (CPU time of this process, so the figures add up over cores):

- decode: core-seconds per second of source, video and audio, decoded from the start for DECODE_SEC;
- seek: core-seconds of one seek to a time between keyframes (to the keyframe before it, then decoding
  up to it, as the cutter does), the mean over targets spread over the source;
- open: opening the source and decoding its first frame, as each `cut_clips` call does before seeking;
- long index: what opening a 3-hour file of the same container and seeking in it costs more than a
  1-minute one (an MP4's index lists every packet, a WebM's keyframes: an item of a long video pays
  it each time it opens the file);
- task start: core-seconds per Ray task of no-op tasks, as the Ray engine submits them, on a local cluster
  of this machine's cores (driver included); `--no-ray` leaves it at TASK_START_ASSUMED.

Sources are generated once and cached under benchmarks/.cache/codecs/: the picture of the cutting
benchmark's raw video (bench_celebv_hq.py: a textured picture panning slowly and a bright square
moving across), 30 fps, a keyframe every 2 s, 48 s at 720p and 32 s at 1080p, encoded as
- H.264 in MP4 (libx264 veryfast CRF 23, as the cutting benchmark's) with AAC 128 kb/s;
- VP9 in WebM (libvpx-vp9, good quality, cpu-used 5, CRF 31) with Opus 128 kb/s, as YouTube's WebM;
- AV1 in MP4 (SVT-AV1 preset 10, CRF 38) with AAC 128 kb/s, as yt-dlp merges YouTube's AV1 and M4A.
Their bitrates are printed: decoding cost grows with bitrate, and YouTube's encodes (other encoders, AV1
usually at the lowest bitrate of the three) are not these. Generating them takes about 3 minutes here.

Also measured in the same run, as bench_scale.py measures them, so that all ratios come from one run:
encoding one second of a 512x512 clip (libx264 medium, CRF 23, with AAC), whatever the source's codec;
and the overhead factor: the CPU time of bench_scale.py's 2-worker `clips` build (two 5-minute 720p
H.264 videos; its raw video is generated once, about 2 minutes) against what the model adds up to
(`--factor F` gives it instead). The JSON written holds all of it; `bench_schedule.py` reads it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY / "benchmarks"))

from bench_celebv_hq import CLIPS, raw_video  # noqa: E402
from bench_scale import BENCH_DECODED_SEC, BENCH_SEEKS, build_clips, encode_cost  # noqa: E402
from bench_scale import decode_cost as scale_decode_cost  # noqa: E402
from measure import in_fresh_process  # noqa: E402

CACHE = REPOSITORY / "benchmarks" / ".cache" / "codecs"
OUTPUT = REPOSITORY / "benchmarks" / "data" / "codec_costs.json"
FPS, GOP_SEC = 30, 2
AUDIO_BITRATE = 128_000
RESOLUTIONS = {"720p": (1280, 720, 48), "1080p": (1920, 1080, 32)}  # width, height, seconds of source
DECODE_SEC = 20
# codec: (container, video encoder, its options, audio encoder, audio rate)
CODECS = {
    "h264": ("mp4", "libx264", {"preset": "veryfast", "crf": "23"}, "aac", 44_100),
    "vp9": (
        "webm",
        "libvpx-vp9",
        {"deadline": "good", "cpu-used": "5", "crf": "31", "b": "0", "row-mt": "1", "tile-columns": "2"},
        "libopus",
        48_000,
    ),
    "av1": ("mp4", "libsvtav1", {"preset": "10", "crf": "38"}, "aac", 44_100),
}
# Core-seconds per task when Ray is not measured (--no-ray): above what a local no-op task measures.
TASK_START_ASSUMED = 0.05


def _frames(width: int, height: int, count: int):
    """The cutting benchmark's picture (bench_celebv_hq.raw_video), frame by frame, as yuv420p."""
    import av
    import numpy as np

    rng = np.random.default_rng(0)
    coarse = rng.integers(30, 225, size=(height // 16 + 8, width // 16 + 16, 3), dtype=np.uint8)
    texture = np.asarray(
        av.VideoFrame.from_ndarray(coarse, format="rgb24").reformat(width + 256, height + 128).to_ndarray()
    )
    texture = np.clip(texture.astype(np.int16) + rng.integers(-6, 7, size=texture.shape), 0, 255).astype(np.uint8)
    for index in range(count):
        dx = int(128 + 127 * math.sin(index / 90))
        dy = int(64 + 63 * math.cos(index / 70))
        picture = texture[dy : dy + height, dx : dx + width].copy()
        x = (index * 7) % (width - 200)
        picture[260:460, x : x + 200] = (picture[260:460, x : x + 200] // 2) + 110
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        frame.pts = index
        yield frame


def _sound(rate: int, first: int, last: int):
    import av
    import numpy as np

    t = np.arange(first, last) / rate
    wave = 0.1 * np.sin(2 * np.pi * (220 + 20 * np.sin(t)) * t)
    sound = av.AudioFrame.from_ndarray(np.stack([wave, wave[::-1]]).astype(np.float32), format="fltp", layout="stereo")
    sound.sample_rate, sound.pts, sound.time_base = rate, first, Fraction(1, rate)
    return sound


def sources(resolution: str) -> dict[str, Path]:
    """The cached sources of one resolution, one per codec, all made in one pass over the picture."""
    import av

    width, height, seconds = RESOLUTIONS[resolution]
    paths = {codec: CACHE / f"{codec}_{resolution}_{seconds}s.{spec[0]}" for codec, spec in CODECS.items()}
    missing = [codec for codec, path in paths.items() if not path.exists()]
    if not missing:
        return paths
    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"generating {seconds} s of {resolution} as {', '.join(missing)} (cached in {CACHE}) ...", flush=True)
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its settings to stderr unless told errors only
    outputs = {}
    for codec in missing:
        container, encoder, options, audio_encoder, rate = CODECS[codec]
        output = av.open(str(paths[codec].with_suffix(".partial")), mode="w", format=container)
        video = output.add_stream(encoder, rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {**options, "g": str(GOP_SEC * FPS)}
        audio = output.add_stream(audio_encoder, rate=rate, layout="stereo")
        audio.bit_rate = AUDIO_BITRATE
        outputs[codec] = (output, video, audio, rate, 0)
    for index, frame in enumerate(_frames(width, height, seconds * FPS)):
        for codec, (output, video, audio, rate, written) in outputs.items():
            output.mux(video.encode(frame))
            # Audio up to this video frame's end, in chunks of 1024 samples (PyAV re-frames them for Opus).
            while written + 1024 <= round((index + 1) * rate / FPS):
                output.mux(audio.encode(_sound(rate, written, written + 1024)))
                written += 1024
            outputs[codec] = (output, video, audio, rate, written)
    for codec, (output, video, audio, _, _) in outputs.items():
        output.mux(video.encode(None))
        output.mux(audio.encode(None))
        output.close()
        paths[codec].with_suffix(".partial").rename(paths[codec])
    return paths


def long_file(container: str) -> tuple[Path, Path]:
    """A 1-minute 64x64 file of `container` and the same looped to 3 hours (its index as long as a 3 h video's)."""
    import av
    import imageio_ffmpeg

    codec = next(name for name, spec in CODECS.items() if spec[0] == container and name != "av1")
    _, encoder, options, audio_encoder, rate = CODECS[codec]
    short, long = CACHE / f"index_{container}_60s.{container}", CACHE / f"index_{container}_3h.{container}"
    if not short.exists():
        import numpy as np

        CACHE.mkdir(parents=True, exist_ok=True)
        with av.open(str(short), mode="w") as output:
            video = output.add_stream(encoder, rate=FPS)
            video.width = video.height = 64
            video.pix_fmt = "yuv420p"
            video.options = {**options, "g": str(GOP_SEC * FPS)}
            audio = output.add_stream(audio_encoder, rate=rate, layout="stereo")
            audio.bit_rate = 32_000  # the packets count, not their size: keep 3 hours under 100 MB
            for index in range(60 * FPS):
                # A flat picture: the file stays small, its index holds as many packets as any other.
                picture = np.full((64, 64, 3), index % 256, dtype=np.uint8)
                frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
                frame.pts = index
                output.mux(video.encode(frame))
            for first in range(0, 60 * rate, 1024):
                output.mux(audio.encode(_sound(rate, first, first + 1024)))
            output.mux(video.encode(None))
            output.mux(audio.encode(None))
    if not long.exists():
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
        partial = long.with_suffix(f".partial.{container}")
        subprocess.run([*command, "-stream_loop", "179", "-i", str(short), "-c", "copy", str(partial)], check=True)
        partial.rename(long)
    return short, long


def bitrate_kbps(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        return path.stat().st_size * 8 / (container.duration / av.time_base) / 1000


def decoder_name(path: Path) -> str:
    import av

    with av.open(str(path)) as container:
        return container.streams.video[0].codec_context.name


def decode_cost(path: Path, seconds: float = DECODE_SEC) -> float:
    """Core-seconds to decode one second of `path` (video and audio) from its start, one thread."""
    return scale_decode_cost(str(path), seconds)


def seek_cost(path: Path, duration: float) -> float:
    """Core-seconds of one seek to a time between keyframes, decoding up to it (one thread), mean over targets."""
    import av

    # Targets 3.7 s apart fall at every phase of the 2 s keyframe interval (3.7 mod 2 = 1.7).
    targets = [4.0 + 3.7 * k for k in range(int((duration - 6.0) / 3.7) + 1)]
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_count = 1
        started = time.process_time()
        for target in targets:
            container.seek(int(target / stream.time_base), stream=stream)
            for frame in container.decode(stream):
                if frame.time >= target:
                    break
        return (time.process_time() - started) / len(targets)


def open_cost(path: Path, rounds: int = 5) -> float:
    """Core-seconds of opening `path` and decoding its first video frame, the fastest of `rounds`."""
    import av

    best = math.inf
    for _ in range(rounds):
        started = time.process_time()
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_count = 1
            next(container.decode(stream))
        best = min(best, time.process_time() - started)
    return best


def index_cost(path: Path, rounds: int = 5) -> float:
    """Core-seconds of opening `path` and seeking to its middle (a WebM reads its index at the first seek)."""
    import av

    best = math.inf
    for _ in range(rounds):
        started = time.process_time()
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            middle = (container.duration / av.time_base) / 2
            container.seek(int(middle / stream.time_base), stream=stream)
            next(container.decode(stream))
        best = min(best, time.process_time() - started)
    return best


def ray_task_start(tasks: int = 400) -> float:
    """Core-seconds per Ray task of no-op tasks on a local cluster of this machine's cores, submitted and
    collected as the Ray engine does (Ray core tasks, at most twice the cores in flight)."""
    import ray

    cores = os.cpu_count() or 1
    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        task = ray.remote(_no_op).options(num_cpus=1, max_retries=3, retry_exceptions=True)

        def run(count: int) -> float:
            started = time.perf_counter()
            in_flight: list[object] = []
            for index in range(count):
                if len(in_flight) >= 2 * cores:
                    done, in_flight = ray.wait(in_flight, num_returns=1)
                    ray.get(done)
                in_flight.append(task.remote(index))
            ray.get(in_flight)
            return time.perf_counter() - started

        run(cores)  # workers started and code shipped: not a per-task cost
        # The difference between a long and a short run leaves out the run's own start and end.
        return (run(tasks) - run(tasks // 4)) * cores / (tasks - tasks // 4)
    finally:
        ray.shutdown()


def _no_op(index: int) -> int:
    return index


def build_cpu_seconds(raw: str) -> float:
    """CPU seconds (this process and its workers) of bench_scale.py's `clips` build with 2 workers."""
    import resource

    def used() -> float:
        own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime

    before = used()
    build_clips(raw, 2)
    return used() - before


def overhead_factor(repeat: int, encode: float) -> float:
    """How many times the model's core-seconds the `clips` build spends, as bench_scale.py finds it.

    The model leaves out audio resampling, Python, writing and processes sharing cores. This is
    bench_scale.py's 2-worker build of two 5-minute 720p H.264 videos against what its decoding, seeking
    and encoding add up to (H.264 720p costs measured the same way on that video). It counts CPU time,
    not wall time twice as bench_scale.py does, so other work on the machine does not inflate it; the
    cores a build leaves idle are the scheduler's to simulate, not the model's.
    """
    raw = raw_video()
    cpu = min(in_fresh_process(build_cpu_seconds, str(raw))[2] for _ in range(repeat))
    decode = min(decode_cost(raw) for _ in range(repeat))
    seek = min(seek_cost(raw, 170.0) for _ in range(repeat))
    per_video = BENCH_DECODED_SEC * decode + BENCH_SEEKS * seek + sum(end - start for start, end, *_ in CLIPS) * encode
    return cpu / (2 * per_video)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="each cost is the lowest of this many runs")
    parser.add_argument("--no-ray", action="store_true", help=f"do not measure Ray's task start ({TASK_START_ASSUMED})")
    parser.add_argument("--factor", type=float, help="the overhead factor, instead of measuring it with builds")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    arguments = parser.parse_args()
    load_before = os.getloadavg()[0]
    paths = {resolution: sources(resolution) for resolution in RESOLUTIONS}
    long_index = {}
    for container in sorted({spec[0] for spec in CODECS.values()}):
        short, long = long_file(container)
        long_index[container] = max(0.0, index_cost(long) - index_cost(short))
    encode = min(encode_cost() for _ in range(arguments.repeat))
    if arguments.factor is None:
        factor = overhead_factor(arguments.repeat, encode)
        factor_from = "measured: CPU time of bench_scale.py's 2-worker build against the model"
    else:
        factor, factor_from = arguments.factor, "given (--factor)"
    task_start = TASK_START_ASSUMED if arguments.no_ray else ray_task_start()
    task_source = "assumed (--no-ray)" if arguments.no_ray else "measured: Ray no-op tasks, local cluster"
    print(f"encoding one second of a 512x512 clip (libx264 medium CRF 23, AAC): {encode:.3f} core-s")
    print(f"overhead factor {factor:.2f} ({factor_from})")
    print(
        f"task start {task_start:.3f} core-s ({task_source}); opening a 3-hour file costs more than a 1-minute one: "
        + ", ".join(f"{container} {cost:.3f} core-s" for container, cost in long_index.items())
    )
    print(
        f"{'source':12} {'decoder':9} {'kb/s':>6} {'decode/s':>9} {'seek':>7} {'open':>7}  (core-seconds, one thread)"
    )
    measured = {}
    for resolution, by_codec in paths.items():
        for codec, path in by_codec.items():
            duration = RESOLUTIONS[resolution][2]
            costs = {
                "decode_per_source_sec": min(decode_cost(path) for _ in range(arguments.repeat)),
                "seek": min(seek_cost(path, duration) for _ in range(arguments.repeat)),
                "open": open_cost(path),
            }
            container = CODECS[codec][0]
            name = f"{codec} {resolution}"
            measured[name] = {
                "codec": codec,
                "resolution": resolution,
                "container": container,
                "decoder": decoder_name(path),
                "bitrate_kbps": round(bitrate_kbps(path)),
                **{key: round(value, 4) for key, value in costs.items()},
                "long_index": round(long_index[container], 4),
            }
            print(
                f"{name:12} {measured[name]['decoder']:9} {measured[name]['bitrate_kbps']:6d} "
                f"{costs['decode_per_source_sec']:9.3f} {costs['seek']:7.3f} {costs['open']:7.3f}"
            )
    for resolution in RESOLUTIONS:
        h264 = measured[f"h264 {resolution}"]
        others = [measured[f"{codec} {resolution}"] for codec in CODECS if codec != "h264"]
        decode = ", ".join(
            f"{o['codec']} {o['decode_per_source_sec'] / h264['decode_per_source_sec']:.2f}x" for o in others
        )
        seek = ", ".join(f"{o['codec']} {o['seek'] / h264['seek']:.2f}x" for o in others)
        print(f"{resolution}: against H.264, decoding costs {decode}; a seek {seek}")
    # CPU time does not count waiting for a core, but cores shared with other work (caches, hyperthreads)
    # still run slower: say how busy the machine was.
    load = (round(load_before, 1), round(os.getloadavg()[0], 1))
    print(f"load average (1 min) at the start and the end: {load[0]} and {load[1]} on {os.cpu_count()} cores")
    command = "python benchmarks/bench_codecs.py" + (f" --repeat {arguments.repeat}" if arguments.repeat != 3 else "")
    command += " --no-ray" if arguments.no_ray else ""
    result = {
        "what": "core-seconds, one thread each, on generated textured video (benchmarks/bench_codecs.py)",
        "command": command,
        "encode_per_clip_sec": round(encode, 4),
        "overhead_factor": round(factor, 3),
        "overhead_factor_from": factor_from,
        "task_start": round(task_start, 4),
        "task_start_from": task_source,
        "load_average": {"start": load[0], "end": load[1], "cores": os.cpu_count()},
        "sources": measured,
    }
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(result, indent=1) + "\n")
    shown = arguments.output.resolve()
    print(f"written to {shown.relative_to(REPOSITORY) if shown.is_relative_to(REPOSITORY) else shown}")
    print(f"reproduce: {command}")


if __name__ == "__main__":
    sys.exit(main())
