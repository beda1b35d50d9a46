"""CelebV-HQ's own code, used by the `celebv_hq` dataset script at the repository root.

- `layout`: the download folder (annotation file, processed clips, raw videos) and finding files in it;
- `sources`: where each clip's videos are, in the download folder and in copies kept elsewhere (`raw_dir`);
- `annotations`: the label names and the parser of `celebvhq_info.json`;
- `clips`: where each clip's video comes from (processed clip, raw video, a download) and its bytes;
- `skip_kinds`: the kinds of skip-report lines (why a clip is left out, or kept with a value listed);
- `video`: cutting clips out of raw videos in one pass, and checking a finished clip;
- `checks`: whether a processed clip or raw video matches its annotation (duration, size, audio, first frame);
- `verify`: the `verify` command's pass over a copy, its QC report and summary;
- `splits`: train, validation and test by a hash of the YouTube id (`video_split`);
- `work_items`: a video's clips split into work items of bounded cost, for engines on many cores;
- `download`: fetching the raw YouTube videos with yt-dlp, with a resumable manifest;
- `session`: pacing that fits YouTube's limits, the circuit breaker, one download per folder;
- `preflight`: what a long download needs, checked one line each (`download --check`);
- `commands`: the `download`, `verify` and `status` commands of the command line;
- `skip_kinds`: why a clip is left out of a build, or kept with a note;
- `sample`: the small sample bundled with the package;
- `decode`: frames from a `video` value of an exported row.

Nothing here imports `datasets`: the parsers and the cutter can be used and tested on their own.
"""
