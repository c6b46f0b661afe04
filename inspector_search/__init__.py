"""Inspector Search: offline content-based retrieval of plant inspection photos."""

import os as _os

# Before anything can import onnxruntime: its process-wide telemetry opt-out, overriding whatever the
# environment says (see inspector_search/core/onnx_runtime.py for what the switch does and why).
_os.environ["ORT_DISABLE_TELEMETRY"] = "1"

__version__ = "0.1.0"
