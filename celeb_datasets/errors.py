"""The package's exceptions: one base type, and the few kinds a caller may want to catch apart.

Every message names the file, clip, line, option or repository concerned, what was found and what
was expected, so that a user can fix their download or their command from the message alone. The
command line prints any of them as one `error:` line and exits 2.
"""

from __future__ import annotations


class CelebDatasetsError(Exception):
    """Bad or missing source data, a bad option, or a failed export or publish."""


class SourceFileError(CelebDatasetsError):
    """A source file (annotation, label list, archive) is malformed: wrong format, encoding or values."""


class MissingSourceError(CelebDatasetsError):
    """A file or folder the build needs is not in the data folder (or a path is not what it should be)."""


class UnreadableMediaError(CelebDatasetsError):
    """A video or image cannot be used: truncated, corrupt, or not media at all."""


class OptionError(CelebDatasetsError, ValueError):
    """An option of a config, a builder or a command has a value it cannot take."""


class StorageError(CelebDatasetsError):
    """Writing the build or export failed: a full disk, a path that is not a folder, no permission."""


class ExportFolderError(CelebDatasetsError):
    """The export folder is not one to export into (it holds other files, another dataset, or slices that
    cannot be mixed with this one), or its path cannot be a folder."""


class HubError(CelebDatasetsError):
    """The Hugging Face Hub could not be reached, or refused what was asked of it."""


class ClusterError(CelebDatasetsError):
    """The cluster an engine runs on (Ray) could not be reached, refused this driver, or was lost mid-export."""
