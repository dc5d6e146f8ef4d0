"""Interoperability: Keras ``.h5`` import, bring-your-own PyTorch models, ONNX export.

* :func:`import_keras` / :func:`import_keras_run` — the original tool's Keras 2.x files, read with
  h5py (no TensorFlow), under Keras or paper semantics (extra ``rnnmod[keras]``).
* :func:`from_torch` — a user's ``nn.Embedding`` + ``nn.RNN/LSTM/GRU`` + ``nn.Linear`` classifier
  as a :class:`~rnnmod.nn.zoo.SeqClassifier`; :func:`save_model_run` writes it as a run.
* :func:`export_onnx` — a composed model (all modules fused) or a source model as one ONNX file
  (extra ``rnnmod[onnx]``).
"""

from .common import check_fits_data, save_model_run
from .keras import SEMANTICS, convert_keras, import_keras, import_keras_run, read_keras_h5
from .onnx_export import build_exportable, export_onnx, verify_onnx
from .torch_model import from_torch
from .torchscript_export import export_torchscript

__all__ = [
    "SEMANTICS",
    "build_exportable",
    "check_fits_data",
    "convert_keras",
    "export_onnx",
    "export_torchscript",
    "from_torch",
    "import_keras",
    "import_keras_run",
    "read_keras_h5",
    "save_model_run",
    "verify_onnx",
]
