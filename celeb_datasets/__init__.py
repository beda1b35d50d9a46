"""The framework both dataset scripts are built on.

The datasets themselves are the scripts `celebv_hq.py` and `celeba_dialog.py` at the repository root,
each with its own package (`celebv_hq_lib`, `celeba_dialog_lib`) for its parsers and media code. This
package holds what any dataset uses: the builder base, options, the cache fingerprint, skip reports,
export, publishing and the dataset card, the engines, and the command line (see docs/architecture.md).
"""

from celeb_datasets.errors import CelebDatasetsError

__all__ = ["CelebDatasetsError"]
__version__ = "0.2.0"
