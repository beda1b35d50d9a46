"""A loopback stand-in for YouTube: each video id is a DASH manifest with separate video and audio files.

yt-dlp's generic extractor reads `/{ytb_id}.mpd` and sees a video-only MP4 and an audio-only M4A, so the
release's format string (`bestvideo[ext=mp4]+bestaudio[ext=m4a]`) picks both and they are merged. Each
video has a behaviour that the tests choose: served, 404, 403, 503 once, connection cut mid-file, slow,
audio only, no formats, held (its manifest waits for `release`). The whole server can also start
refusing after N videos, as YouTube refuses a session (`refuse_after`): 429, the bot check, or 403 on
the media only. It notes when each manifest was asked for (`manifest_times`), so that tests measure the
pace where YouTube would.
"""

from __future__ import annotations

import dataclasses
import http.server
import itertools
import os
import re
import threading
import time
from collections import Counter
from pathlib import Path

import av

from celebv_hq_lib.sample import write_indexed_video

_MPD = """<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT{duration:.3f}S"
     minBufferTime="PT1S" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">
 <Period>
  <AdaptationSet mimeType="video/mp4" contentType="video">
   <Representation id="video" codecs="avc1.64000a" width="{width}" height="{height}" bandwidth="200000">
    <BaseURL>{ytb_id}.video.mp4</BaseURL>
   </Representation>
  </AdaptationSet>
  <AdaptationSet mimeType="audio/mp4" contentType="audio">
   <Representation id="audio" codecs="mp4a.40.2" audioSamplingRate="8000" bandwidth="20000">
    <BaseURL>{ytb_id}.audio.m4a</BaseURL>
   </Representation>
  </AdaptationSet>
 </Period>
</MPD>
"""

_MPD_AUDIO_ONLY = _MPD.replace(
    _MPD[_MPD.index('  <AdaptationSet mimeType="video/mp4"') : _MPD.index('  <AdaptationSet mimeType="audio/mp4"')], ""
)
_MPD_NO_FORMATS = _MPD[: _MPD.index(" <Period>")] + " <Period>\n </Period>\n</MPD>\n"

BEHAVIOURS = ("ok", "404", "403", "503 once", "cut once", "cut always", "slow", "audio only", "no formats", "held")
# How a refusing server answers (`refuse_after`): (status, reason phrase, what it refuses).
REFUSALS = {
    "429": (429, "Too Many Requests", "all"),
    # YouTube's words; yt-dlp's generic extractor puts the reason phrase into its error message.
    "bot check": (403, "Sign in to confirm you're not a bot", "all"),
    "403 on media": (403, "Forbidden", "media"),
}
# Each duration's DASH files are made once per test session: encoding them is the costly part of a server.
_DASH_FILES: dict[tuple[float, int, int, int], tuple[bytes, bytes]] = {}


@dataclasses.dataclass
class ServedVideo:
    duration_sec: float
    behaviour: str
    video: bytes
    audio: bytes
    width: int = 64
    height: int = 64


def make_dash_files(
    folder: Path, duration_sec: float, width: int = 64, height: int = 64, fps: int = 10
) -> tuple[bytes, bytes]:
    """A small H.264 + AAC video split into a video-only MP4 and an audio-only M4A (as YouTube serves them)."""
    name = f"{duration_sec}_{width}x{height}_{fps}"
    full = write_indexed_video(
        folder / f"full_{name}.mp4", duration_sec=duration_sec, width=width, height=height, fps=fps, audio_rate=8000
    )
    parts = []
    for kind in ("video", "audio"):
        target = folder / f"{kind}_{name}.mp4"
        with av.open(str(full)) as source, av.open(str(target), "w", format="mp4") as out:
            stream = next(s for s in source.streams if s.type == kind)
            copy = out.add_stream_from_template(stream)
            for packet in source.demux(stream):
                if packet.dts is not None:
                    packet.stream = copy
                    out.mux(packet)
        parts.append(target.read_bytes())
    return parts[0], parts[1]


class VideoServer:
    """The loopback server; `url_template` points yt-dlp at it. Counts requests per path."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.videos: dict[str, ServedVideo] = {}
        self.requests: Counter[str] = Counter()
        self.cookies_seen: dict[str, str] = {}
        self.watched_raw_folder: Path | None = None
        self.most_raw_files_seen = 0
        # Added before every response: a network round trip (the benchmark's stand-in for YouTube's).
        self.latency_sec = 0.0
        # (time.time(), ytb_id) of every manifest request, in order.
        self.manifest_times: list[tuple[float, str]] = []
        # After this many videos have been asked for, refuse as REFUSALS[refusal] says (None: never).
        self.refuse_after: int | None = None
        self.refusal = "429"
        # Set to let the manifests of "held" videos go (a test holds a download in progress with it).
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url_template(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/{{ytb_id}}.mpd"

    def add(
        self, ytb_id: str, duration_sec: float, behaviour: str = "ok", width: int = 64, height: int = 64, fps: int = 10
    ) -> None:
        """Serve a video of `duration_sec` (64x64 at 10 fps unless said) under `ytb_id` with one of BEHAVIOURS."""
        assert behaviour in BEHAVIOURS, behaviour
        key = (duration_sec, width, height, fps)
        if key not in _DASH_FILES:
            _DASH_FILES[key] = make_dash_files(self.folder, duration_sec, width, height, fps)
        self.videos[ytb_id] = ServedVideo(duration_sec, behaviour, *_DASH_FILES[key], width, height)

    def note_request(self, path: str) -> int:
        """Count a request (returns how many this path has had, this one included)."""
        with self._lock:
            self.requests[path] += 1
            if path.endswith(".mpd"):
                self.manifest_times.append((time.time(), path[1:].removesuffix(".mpd")))
            if self.watched_raw_folder is not None and self.watched_raw_folder.is_dir():
                finished = [name for name in os.listdir(self.watched_raw_folder) if name.endswith(".mp4")]
                self.most_raw_files_seen = max(self.most_raw_files_seen, len(finished))
            return self.requests[path]

    def refusing(self, part: str) -> tuple[int, str] | None:
        """The (status, reason) to refuse a request for `part` with, or None to serve it."""
        if self.refuse_after is None:
            return None
        status, reason, what = REFUSALS[self.refusal]
        with self._lock:
            videos_asked = len({ytb_id for _, ytb_id in self.manifest_times})
        if videos_asked <= self.refuse_after or (what == "media" and part == "mpd"):
            return None
        return status, reason

    def manifest_gaps(self) -> list[float]:
        """Seconds between consecutive manifest requests (video starts), in order."""
        times = sorted(when for when, _ in self.manifest_times)
        return [later - earlier for earlier, later in itertools.pairwise(times)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's backlog of 5 drops the connections of 8 parallel clients: each waits 1 s to retry.
    request_queue_size = 64


def _handler(server: VideoServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as separate writes: without this, Nagle's algorithm holds the body
        # back until the client's delayed ACK (40 ms a response on Linux).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            count = server.note_request(self.path)
            server.cookies_seen[self.path] = self.headers.get("Cookie", "")
            time.sleep(server.latency_sec)
            match = re.fullmatch(r"/(?P<id>[\w-]+)\.(?P<part>mpd|video\.mp4|audio\.m4a)", self.path)
            video = server.videos.get(match["id"]) if match else None
            if video is None:
                return self.send_error(404, "Not Found")
            refusal = server.refusing(match["part"])
            if refusal is not None:
                return self.send_error(*refusal)
            if video.behaviour in ("404", "403"):
                return self.send_error(int(video.behaviour))
            if video.behaviour == "503 once" and match["part"] == "mpd" and count == 1:
                return self.send_error(503, "Service Unavailable")
            if video.behaviour == "held" and match["part"] == "mpd":
                server.release.wait(timeout=120)
            if match["part"] == "mpd":
                template = {"audio only": _MPD_AUDIO_ONLY, "no formats": _MPD_NO_FORMATS}.get(video.behaviour, _MPD)
                body = template.format(
                    ytb_id=match["id"], duration=video.duration_sec, width=video.width, height=video.height
                ).encode()
                return self.send_body(body, "application/dash+xml")
            body = video.video if match["part"] == "video.mp4" else video.audio
            cut = video.behaviour == "cut always" or (video.behaviour == "cut once" and count == 1)
            self.send_body(body, "video/mp4", cut=cut and match["part"] == "video.mp4", slow=video.behaviour == "slow")

        def send_body(self, body: bytes, content_type: str, cut: bool = False, slow: bool = False) -> None:
            first, last = 0, len(body) - 1
            ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            if ranged:
                first, last = int(ranged[1]), int(ranged[2] or last)
            self.send_response(206 if ranged else 200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(last - first + 1))
            self.send_header("Accept-Ranges", "bytes")
            if ranged:
                self.send_header("Content-Range", f"bytes {first}-{last}/{len(body)}")
            self.end_headers()
            piece = body[first : last + 1]
            if cut:
                # Half the file, then the connection drops: the client must not take this as the file.
                self.wfile.write(piece[: len(piece) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            step = 1024 if slow else len(piece) or 1
            for start in range(0, len(piece), step):
                self.wfile.write(piece[start : start + step])
                if slow:
                    self.wfile.flush()
                    time.sleep(0.05)

    return Handler
