"""Verify a copy of CelebV-HQ clip by clip against the annotation file, without building anything.

    celeb-datasets verify celebv_hq --data-dir ~/CelebV-HQ
    celeb-datasets verify celebv_hq --data-dir ~/CelebV-HQ --raw-dir /mnt/torrent --processed-dir /mnt/clips

Every processed clip and raw video found (the download folder's layout, then `raw_dir` and
`processed_dir` at any depth: celebv_hq_lib.sources) goes through the checks of celebv_hq_lib.checks,
the same the `clips` build applies. Two files are written, into the download folder or `report_dir`,
never into a folder holding videos:

- `verify_report.tsv`: one line per problem: clip_id, ytb_id, check, measured, expected, file;
- `verify_summary.json`: what was checked and how many problems of each check, which `status` shows.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import json
import logging
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from celeb_datasets.errors import OptionError, StorageError
from celebv_hq_lib.annotations import ClipAnnotation, read_annotation_file
from celebv_hq_lib.checks import CHECKS, Problem, check_processed_clips, raw_video_facts, raw_video_problems
from celebv_hq_lib.layout import find_annotation_file
from celebv_hq_lib.sources import VideoSources, checked_folder, find_video_sources

logger = logging.getLogger("celeb_datasets")

REPORT_FILE = "verify_report.tsv"
SUMMARY_FILE = "verify_summary.json"
REPORT_COLUMNS = ("clip_id", "ytb_id", "check", "measured", "expected", "file")
# Videos given to a worker process at a time: few enough to keep every worker busy to the end.
_VIDEOS_PER_TASK = 8


@dataclasses.dataclass(frozen=True)
class VideoTask:
    """One YouTube video to verify: its clips, its raw file (or None) and its processed clips (clip, path)."""

    ytb_id: str
    clips: tuple[ClipAnnotation, ...]
    raw_video: str | None
    processed: tuple[tuple[ClipAnnotation, str], ...]


@dataclasses.dataclass(frozen=True)
class VideoResult:
    """What verifying one video found: the report's lines, and counts for the summary."""

    lines: tuple[tuple[str, ...], ...]
    processed_checked: int
    processed_passed: int
    raw_checked: int
    raw_passed: int


@dataclasses.dataclass
class VerifySummary:
    """What `verify` checked and found (written as verify_summary.json; `lines` prints it)."""

    data_dir: str
    raw_dir: str | None
    processed_dir: str | None
    report: str
    finished: str
    seconds: float
    media_check: str
    first_frames_compared: bool
    clips: int
    clips_without_video: int
    processed_checked: int
    processed_passed: int
    raw_checked: int
    raw_passed: int
    clips_with_problems: int
    problems_by_check: dict[str, int]
    unmatched_files: int

    def lines(self) -> list[str]:
        """The summary as `verify` and `status` print it."""
        by_check = ", ".join(f"{count:,} {check}" for check, count in self.problems_by_check.items() if count)
        copies = "".join(
            f", {name} {folder}" for name, folder in (("raw_dir", self.raw_dir), ("processed_dir", self.processed_dir))
            if folder
        )  # fmt: skip
        lines = [
            f"verified {self.data_dir}{copies} on {self.finished} ({self.seconds:,.0f} s, media check "
            f"{self.media_check}, first frames {'compared' if self.first_frames_compared else 'not compared'})",
            f"  clips in the annotation file: {self.clips:,}; with neither a processed clip nor a raw video: "
            f"{self.clips_without_video:,}",
            f"  processed clips checked: {self.processed_checked:,}, passed: {self.processed_passed:,}",
            f"  raw videos checked: {self.raw_checked:,}, passed: {self.raw_passed:,}",
            f"  clips with a problem: {self.clips_with_problems:,}" + (f" ({by_check})" if by_check else ""),
        ]
        if self.unmatched_files:
            lines.append(f"  files in raw_dir / processed_dir named by no clip or video: {self.unmatched_files:,}")
        lines.append(f"QC report: {self.report}")
        return lines


def report_folder(data_dir: Path, sources: VideoSources, report_dir: str | os.PathLike[str] | None) -> Path:
    """Where the report goes: `report_dir` (made if absent), else the download folder.

    OptionError when that folder holds videos or lies inside a folder of videos, `raw_dir` or
    `processed_dir` (nothing is ever written beside the user's videos), or cannot be written (a read-only
    copy: name another folder).
    """
    folder = Path(report_dir).expanduser().absolute() if report_dir is not None else data_dir.absolute()
    video_folders = {path.parent.absolute() for path in sources.processed_clips.values()}
    video_folders |= {path.parent.absolute() for path in sources.downloaded_raw_videos.values()}
    video_folders |= {path.parent.absolute() for path in sources.shared_raw_videos.values()}
    around = {folder, *folder.parents}
    if any(videos in around for videos in (*video_folders, *sources.copy_folders)):
        raise OptionError(
            f"the QC report would be written into {folder}, which holds your videos: name another folder with "
            "--report-dir"
        )
    if report_dir is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OptionError(f"--report-dir {folder}: cannot be made: {error.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise OptionError(f"cannot write the QC report into {folder} (read-only): name a folder with --report-dir")
    return folder


def verify_copy(
    data_dir: str | os.PathLike[str],
    raw_dir: str | os.PathLike[str] | None = None,
    processed_dir: str | os.PathLike[str] | None = None,
    *,
    report_dir: str | os.PathLike[str] | None = None,
    full: bool = False,
    compare_first_frames: bool = True,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> VerifySummary:
    """Check every processed clip and raw video of a copy; write the QC report and summary; the summary.

    `full` decodes every frame of each processed clip and reads each raw video to its end (media_check
    "full"); `compare_first_frames` compares each processed clip's first frame with a cut of its raw
    video when both are there. `workers` processes share the videos. `progress(done, total)` is called
    as videos finish. Raises OptionError before any check when the report cannot be written where asked.
    """
    started = time.monotonic()
    data_dir = Path(data_dir).expanduser()
    if workers < 1:
        raise OptionError(f"--workers must be >= 1, not {workers}")
    clips = read_annotation_file(find_annotation_file(data_dir))
    raw_dir = None if raw_dir is None else str(checked_folder("raw_dir", raw_dir))
    processed_dir = None if processed_dir is None else str(checked_folder("processed_dir", processed_dir))
    sources = find_video_sources(data_dir, raw_dir, processed_dir, frozenset(clip.clip_id for clip in clips))
    folder = report_folder(data_dir, sources, report_dir)
    tasks = video_tasks(clips, sources, full, compare_first_frames)
    totals: Counter[str] = Counter()
    lines: list[tuple[str, ...]] = []
    for done, result in enumerate(_run(tasks, workers), start=1):
        lines += result.lines
        totals.update(
            processed_checked=result.processed_checked,
            processed_passed=result.processed_passed,
            raw_checked=result.raw_checked,
            raw_passed=result.raw_passed,
        )
        if progress is not None:
            progress(done, len(tasks))
    report = write_report(folder / REPORT_FILE, lines)
    problems = Counter(line[REPORT_COLUMNS.index("check")] for line in lines)
    summary = VerifySummary(
        data_dir=str(data_dir.absolute()),
        raw_dir=raw_dir,
        processed_dir=processed_dir,
        report=str(report),
        finished=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        seconds=round(time.monotonic() - started, 1),
        media_check="full" if full else "fast",
        first_frames_compared=compare_first_frames,
        clips=len(clips),
        clips_without_video=sum(
            sources.processed_clip(clip.clip_id) is None and sources.raw_video(clip.ytb_id) is None for clip in clips
        ),
        processed_checked=totals["processed_checked"],
        processed_passed=totals["processed_passed"],
        raw_checked=totals["raw_checked"],
        raw_passed=totals["raw_passed"],
        clips_with_problems=len({line[0] for line in lines}),
        problems_by_check={check: problems[check] for check in CHECKS},
        unmatched_files=sources.unmatched_files,
    )
    _write_atomically(folder / SUMMARY_FILE, json.dumps(dataclasses.asdict(summary), indent=1) + "\n")
    return summary


def video_tasks(
    clips: Sequence[ClipAnnotation], sources: VideoSources, full: bool, compare_first_frames: bool
) -> list[tuple[VideoTask, bool, bool]]:
    """The work: each YouTube video with a raw video or a processed clip, in first-seen order."""
    by_video: dict[str, list[ClipAnnotation]] = {}
    for clip in clips:
        by_video.setdefault(clip.ytb_id, []).append(clip)
    tasks = []
    for ytb_id, video_clips in by_video.items():
        raw = sources.raw_video(ytb_id)
        processed = tuple(
            (clip, str(path)) for clip in video_clips if (path := sources.processed_clip(clip.clip_id)) is not None
        )
        if raw is not None or processed:
            task = VideoTask(ytb_id, tuple(video_clips), None if raw is None else str(raw), processed)
            tasks.append((task, full, compare_first_frames))
    return tasks


def verify_video(task: VideoTask, full: bool = False, compare_first_frames: bool = True) -> VideoResult:
    """Check one video's raw file and processed clips: the report's lines and the counts."""
    lines: list[tuple[str, ...]] = []
    raw = None
    raw_passed = 0
    if task.raw_video is not None:
        last_end = max(clip.end_sec for clip in task.clips)
        raw = raw_video_facts(task.raw_video, full=full, needed_end_sec=last_end)
        raw_problems = raw_video_problems(raw, task.clips)
        lines += [_line(clip, problem, task.raw_video) for clip, problem in raw_problems]
        raw_passed = int(not raw_problems)
    verdicts = check_processed_clips(task.processed, raw, full_decode=full, compare_first_frames=compare_first_frames)
    for verdict in verdicts:
        lines += [_line(verdict.clip, problem, verdict.path) for problem in verdict.problems]
    return VideoResult(
        tuple(lines),
        processed_checked=len(verdicts),
        processed_passed=sum(not verdict.problems for verdict in verdicts),
        raw_checked=int(task.raw_video is not None),
        raw_passed=raw_passed,
    )


def _line(clip: ClipAnnotation, problem: Problem, path: str) -> tuple[str, ...]:
    return (clip.clip_id, clip.ytb_id, problem.check, problem.measured, problem.expected, path)


def _verify_task(work: tuple[VideoTask, bool, bool]) -> VideoResult:
    return verify_video(*work)


def _run(tasks: list[tuple[VideoTask, bool, bool]], workers: int) -> Iterator[VideoResult]:
    """Each task's result, in order: in this process, or in `workers` fresh processes."""
    if workers == 1 or len(tasks) <= 1:
        yield from map(_verify_task, tasks)
        return
    # Fresh (spawned) processes: a forked child would inherit decoder threads it cannot join.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from pool.map(_verify_task, tasks, chunksize=_VIDEOS_PER_TASK)


def write_report(path: Path, lines: Iterable[Sequence[str]]) -> Path:
    """Write the QC report (a header, then the lines by clip id, each clip's in the order of CHECKS); its path."""
    check = REPORT_COLUMNS.index("check")
    text = io.StringIO()
    writer = csv.writer(text, delimiter="\t", lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    writer.writerows(sorted(lines, key=lambda line: (line[0], CHECKS.index(line[check]), line)))
    _write_atomically(path, text.getvalue())
    return path


def read_report(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The lines of a QC report, as dicts keyed by its header."""
    with open(path, newline="", encoding="utf-8") as lines:
        return list(csv.DictReader(lines, delimiter="\t"))


def read_summary(folder: str | os.PathLike[str]) -> VerifySummary | None:
    """The summary `verify` left in `folder` (None when there is none, or it is not one)."""
    path = Path(folder).expanduser() / SUMMARY_FILE
    try:
        fields: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return VerifySummary(**fields)
    except (OSError, ValueError, TypeError):
        return None


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise StorageError(f"cannot write {path}: {error.strerror}") from None
