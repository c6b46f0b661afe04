"""Entry script of the frozen console executable ``inspector-search`` (the command line).

PyInstaller freezes this file, not the ``[project.scripts]`` entry point, so it stays a plain
script: everything it does is ``inspector_search.cli.main``.
"""

import multiprocessing
import os
import sys

# onnxruntime's telemetry off before anything can load it (inspector_search/core/onnx_runtime.py); the
# package sets it too, this covers a frozen runtime hook that might import first.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

from inspector_search.cli import main  # noqa: E402

if __name__ == "__main__":
    # A library that starts worker processes (joblib, multiprocessing) re-runs this executable;
    # freeze_support() turns those runs into workers instead of a second command line.
    multiprocessing.freeze_support()
    sys.exit(main())
