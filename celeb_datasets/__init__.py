"""Shared code of the CelebV-HQ and CelebA-Dialog builders.

The builders themselves are the top-level modules `celebv_hq` and `celeba_dialog`; this package holds
what both use once: the error type, file discovery, video cutting, Hub export and publishing, and the
command line.
"""

from celeb_datasets.errors import CelebDatasetsError

__all__ = ["CelebDatasetsError"]
__version__ = "0.1.0"
