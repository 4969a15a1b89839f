"""Training, prediction and the models: the part of annotool that needs PyTorch.

Install it with ``pip install 'annotool[train]'``. Importing this package without torch
raises MissingDependencyError saying so, which the CLI shows as a one-line message.
"""

from __future__ import annotations

from annotool.errors import MissingDependencyError

try:
    import torch  # noqa: F401
except ImportError as error:
    raise MissingDependencyError(
        "training and prediction need PyTorch, which is not installed; "
        "install it with: pip install 'annotool[train]'"
    ) from error
