"""The one exception type of the package."""


class CelebDatasetsError(Exception):
    """Bad or missing source data, or a failed export or publish.

    The message always names the file, clip, line or repository concerned, what was found and what was
    expected, so that a user can fix their download from the message alone.
    """
