"""Publish an export folder to a Hugging Face Hub dataset repo (private unless asked otherwise).

    >>> from celeb_datasets.publish import publish
    >>> publish("celebv_hq_export", "my-org/celebv-hq")       # private unless private=False

Every request to the Hub waits at most `timeout_sec` (default 60 s) for an answer, so a Hub that
accepts connections and never answers ends the call with a HubError instead of hanging.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from celeb_datasets.card import (
    CARD_FILE,
    CardPart,
    ExportedConfig,
    configs_in_card,
    datasets_in_card,
    write_card,
)
from celeb_datasets.errors import CelebDatasetsError, HubError, OptionError
from celeb_datasets.export_folder import given_folder
from celeb_datasets.hub import configs_of_export, exported_dataset
from celeb_datasets.registry import DATASETS, builder_class, config_names

logger = logging.getLogger("celeb_datasets")

DEFAULT_TIMEOUT_SEC = 60.0


@dataclasses.dataclass(frozen=True)
class PublishResult:
    """What `publish` did: the repo, whether it is private, the configs sent, and the commit or PR."""

    repo_id: str
    private: bool
    configs: tuple[str, ...]
    commit_url: str
    pull_request_url: str | None


def publish(
    export_dir: str | os.PathLike[str],
    repo_id: str,
    *,
    configs: list[str] | None = None,
    private: bool = True,
    revision: str | None = None,
    create_pr: bool = False,
    token: str | None = None,
    commit_message: str | None = None,
    timeout_sec: float = DEFAULT_TIMEOUT_SEC,
) -> PublishResult:
    """Push configs of an export folder (default: all of them) and the card to a Hub dataset repo.

    Creates the repo (private unless `private=False`) if it does not exist. Each published config's
    folder on the Hub is replaced (old shards deleted in the same commit); other configs are left as
    they are. `revision` names a branch (created from main if needed) or `refs/pr/N` to add to an open
    pull request; `create_pr` opens a new pull request instead of committing. The token comes from
    `token`, else `HF_TOKEN`, else `hf auth login`; it is never printed or logged. Each request waits at
    most `timeout_sec` seconds for the Hub's answer.

    Raises CelebDatasetsError for a config that was never exported, an invalid repo id or no token, and
    HubError when the Hub cannot be reached or refuses (then nothing new is on the branch; running the
    same call again finishes the job).
    """
    from huggingface_hub import HfApi, get_token

    if not (isinstance(timeout_sec, (int, float)) and math.isfinite(timeout_sec) and timeout_sec > 0):
        raise OptionError(
            f"timeout_sec (--timeout-sec) must be a finite positive number of seconds, not {timeout_sec!r}"
        )
    export_dir = given_folder(export_dir)
    name = exported_dataset(export_dir)
    available = configs_of_export(export_dir)
    chosen = _chosen_configs(export_dir, name, available, configs)
    create_pr = _check_target(repo_id, revision, create_pr)
    token = token or get_token()
    if not token:
        raise CelebDatasetsError(
            "no Hugging Face token: set HF_TOKEN or run `hf auth login` (a token with write access)"
        )
    api = HfApi(token=token)
    where = f"{repo_id}" + (f"@{revision}" if revision else "")
    with _requests_timing_out(timeout_sec), _hub_errors(f"publishing {export_dir} to {where}", api.endpoint):
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        is_private = bool(api.repo_info(repo_id, repo_type="dataset").private)
        if revision and not revision.startswith("refs/"):
            api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
        # The card lists what the repo will hold: the configs published now, and those already there.
        kept, owners = _configs_kept_on_the_hub(api, repo_id, revision, chosen, timeout_sec)
        kept, others = _card_parts(name, repo_id, chosen, kept, owners)
        configs_after = dict(sorted(({config: available[config] for config in chosen} | kept).items()))
        commit = _commit_configs(
            api, export_dir, name, repo_id, chosen, configs_after, others, revision, create_pr, commit_message
        )
    if not is_private and private:
        logger.warning("%s already existed and is PUBLIC: publishing did not change its visibility", repo_id)
    return PublishResult(repo_id, is_private, tuple(chosen), commit.commit_url, commit.pr_url)


def _chosen_configs(
    export_dir: Path, name: str, available: dict[str, ExportedConfig], configs: list[str] | None
) -> list[str]:
    chosen = list(configs or available)
    never_exported = [config for config in chosen if config not in available]
    if never_exported:
        raise CelebDatasetsError(
            f"{export_dir} holds no export of config(s) {never_exported} (it holds: {', '.join(available) or 'none'}); "
            f"run `celeb-datasets export {name} --config {never_exported[0]} --output {export_dir}` first"
        )
    return chosen


def _check_target(repo_id: str, revision: str | None, create_pr: bool) -> bool:
    """Refuse an impossible repo id or revision; whether to open a pull request."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise CelebDatasetsError(f"{repo_id!r} is not a valid Hub repo id (expected 'org/name'): {error}") from None
    if "/" not in repo_id:
        raise CelebDatasetsError(f"{repo_id!r}: give the repo id as 'org/name' or 'user/name'")
    if create_pr and revision and not revision.startswith("refs/pr/"):
        raise CelebDatasetsError(
            "create_pr opens a pull request against main: drop the revision, or give revision='refs/pr/N' "
            "to add to an open pull request"
        )
    # Adding to an open pull request is a commit to its ref.
    return create_pr and not (revision and revision.startswith("refs/pr/"))


def _commit_configs(
    api: Any,
    export_dir: Path,
    name: str,
    repo_id: str,
    chosen: list[str],
    configs_after: dict[str, ExportedConfig],
    others: list[CardPart],
    revision: str | None,
    create_pr: bool,
    commit_message: str | None,
) -> Any:
    """One commit: the card for the repo, and the chosen configs' shards replacing what was there."""
    with tempfile.TemporaryDirectory(prefix="celeb-datasets-publish-") as staging_dir:
        # Links to the chosen shards (the export folder, its own card included, stays as it is).
        staging = Path(staging_dir)
        write_card(
            export_dir,
            builder_class(name),
            name,
            repo_id,
            configs=configs_after,
            path=staging / CARD_FILE,
            others=others,
        )
        for config in chosen:
            (staging / config).mkdir()
            for shard in (shard for split in configs_after[config].splits for shard in split.shards):
                (staging / config / shard.name).symlink_to(shard.resolve())
        return api.upload_folder(
            repo_id=repo_id,
            repo_type="dataset",
            folder_path=staging,
            revision=revision,
            create_pr=create_pr,
            allow_patterns=[CARD_FILE, *(f"{config}/*.parquet" for config in chosen)],
            delete_patterns=[f"{config}/*" for config in chosen],
            commit_message=commit_message or f"Publish {name} configs {', '.join(chosen)}",
        )


@contextlib.contextmanager
def _hub_errors(doing: str, endpoint: str) -> Iterator[None]:
    """Turn what the Hub or the network answer into one HubError line (the token is never in it)."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    again = "Run the same command again to finish (uploaded files are not sent twice)."
    try:
        yield
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else None
        hint = ""
        if status in (401, 403):
            hint = " Check the token (HF_TOKEN or `hf auth login`): it needs write access to this repo."
        raise HubError(f"{doing} failed, nothing was committed: {_first_line(error)}.{hint} {again}") from None
    except httpx2.TimeoutException as error:
        raise HubError(
            f"{doing} failed, nothing was committed: the Hub at {endpoint} did not answer in time "
            f"({type(error).__name__}). Check the network (or HF_ENDPOINT), or allow more time "
            f"(--timeout-sec). {again}"
        ) from None
    except httpx2.HTTPError as error:
        raise HubError(
            f"{doing} failed, nothing was committed: the Hub at {endpoint} could not be reached "
            f"({type(error).__name__}: {_first_line(error)}). Check the network (or HF_ENDPOINT). {again}"
        ) from None
    except (OSError, RuntimeError, ValueError) as error:
        # huggingface_hub reports a failed LFS upload as RuntimeError.
        raise HubError(f"{doing} failed, nothing was committed: {_first_line(error)}. {again}") from error


def _configs_kept_on_the_hub(
    api: Any, repo_id: str, revision: str | None, chosen: list[str], timeout_sec: float
) -> tuple[dict[str, ExportedConfig], dict[str, str]]:
    """Configs the repo's card describes at `revision` whose shards are there and are not replaced now,
    and the dataset each config of the card belongs to (as the card says, else by the registry's configs)."""
    from huggingface_hub.errors import RevisionNotFoundError

    try:
        files = set(api.list_repo_files(repo_id, repo_type="dataset", revision=revision))
    except RevisionNotFoundError:
        return {}, {}
    if CARD_FILE not in files:
        return {}, {}
    download = api.hf_hub_download(repo_id, CARD_FILE, repo_type="dataset", revision=revision, etag_timeout=timeout_sec)
    text = Path(download).read_text(encoding="utf-8")
    described = configs_in_card(text)
    owners = {config: name for name, configs in datasets_in_card(text).items() for config in configs}
    for config in described:
        if config not in owners:
            owners[config] = next((name for name in DATASETS if config in config_names(name)), "")
    kept = {
        config: exported
        for config, exported in described.items()
        if config not in chosen and any(path.startswith(f"{config}/") for path in files)
    }
    return kept, owners


def _card_parts(
    name: str, repo_id: str, chosen: list[str], kept: dict[str, ExportedConfig], owners: dict[str, str]
) -> tuple[dict[str, ExportedConfig], list[CardPart]]:
    """The configs of dataset `name` kept on the Hub, and a card part for every other dataset the repo holds.

    A config of another dataset is never replaced by one of `name` under the same name: that is refused.
    """
    for config in chosen:
        if owners.get(config) and owners[config] != name:
            raise CelebDatasetsError(
                f"{repo_id} holds the config {config!r} of {owners[config]}: publishing {name}'s {config!r} "
                "would replace it; publish to another repo"
            )
    own = {config: exported for config, exported in kept.items() if owners.get(config) in ("", name)}
    others: dict[str, dict[str, ExportedConfig]] = {}
    for config, exported in kept.items():
        if owners.get(config) not in ("", name):
            others.setdefault(owners[config], {})[config] = exported
    unknown = [other for other in others if other not in DATASETS]
    if unknown:
        raise CelebDatasetsError(
            f"{repo_id} holds configs of {', '.join(unknown)}, which this version of celeb-datasets does not know: "
            "its card could not describe them; publish to another repo"
        )
    parts = [CardPart(other, builder_class(other), dict(sorted(configs.items()))) for other, configs in others.items()]
    return own, parts


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


@contextlib.contextmanager
def _requests_timing_out(timeout_sec: float) -> Iterator[None]:
    """Within the block, every request huggingface_hub makes waits at most `timeout_sec` for an answer.

    huggingface_hub's shared HTTP client waits without end by default: its timeout is set for the block
    and restored after. Two requests carry timeouts of their own, also set for the block through the
    settings their environment variables fill: a file download's (HF_HUB_DOWNLOAD_TIMEOUT, 10 s: the
    repo's card is read), and the lookup of known AI agent harnesses (`/api/agent-harnesses`, 3 s), which
    only adds a telemetry tag to the user agent: it is off in the block (HF_HUB_DISABLE_TELEMETRY), so no
    request of `publish` waits longer than the user allows.
    """
    import httpx2
    from huggingface_hub import constants, get_session

    session = get_session()
    before = session.timeout, constants.HF_HUB_DOWNLOAD_TIMEOUT, constants.HF_HUB_DISABLE_TELEMETRY
    session.timeout = httpx2.Timeout(timeout_sec, connect=min(timeout_sec, 30.0))
    constants.HF_HUB_DOWNLOAD_TIMEOUT = timeout_sec
    constants.HF_HUB_DISABLE_TELEMETRY = True
    try:
        yield
    finally:
        session.timeout, constants.HF_HUB_DOWNLOAD_TIMEOUT, constants.HF_HUB_DISABLE_TELEMETRY = before
