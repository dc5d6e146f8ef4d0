"""Import Keras 2.x ``.h5`` classifiers (the original tool's models) without TensorFlow.

The file is read with ``h5py`` only (``../shared/docs/keras-format.md``): the architecture from
the JSON in the root attribute ``model_config``, each layer's arrays from the group
``model_weights/<layer>`` at the paths its ``weight_names`` attribute lists. The layer stack must
be one of the four classifier shapes of the zoo (paper-method §2.2)::

    Embedding [→ Flatten → RepeatVector(n)] → 1-4 × SimpleRNN|LSTM|GRU → Dense | TimeDistributed(Dense)

with Dropout anywhere (identity at inference). Weights are converted exactly: Keras kernels are
(in, gates·units) with gate order LSTM i,f,c,o and GRU z,r,h; torch keeps (gates·units, in) with
LSTM i,f,g,o and GRU r,z,n.

Two semantics (recorded in the run):

* ``keras`` — what ``model.predict`` computed: Keras 2.x ``hard_sigmoid`` = clip(0.2·x + 0.5, 0, 1)
  where the file says so, and a ``reset_after=False`` GRU applies the reset gate before the
  recurrent product. Such models run through the cell engine (native torch cannot express them).
* ``paper`` — what the authors' NumPy code computed from the same weights, hence every number in
  the paper: logistic gates and the reset-after GRU form (with a zero recurrent bias when the file
  has a single bias) — exactly native ``torch.nn``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..choices import SEMANTICS  # noqa: E402
from ..errors import RnnmodError
from ..nn.zoo import ClassifierConfig, SeqClassifier

RECURRENT = {"SimpleRNN": None, "LSTM": "lstm", "GRU": "gru"}
N_GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}
SUPPORTED = (
    "InputLayer, Embedding, SimpleRNN (tanh, relu), LSTM, GRU (reset_after True or False), "
    "Dense, TimeDistributed(Dense), Flatten, RepeatVector, Dropout"
)
HEAD_ACTIVATIONS = ("softmax", "sigmoid", "linear")


@dataclass
class KerasLayer:
    """One layer of the file: its Keras class, config and arrays keyed by short name
    (``kernel``, ``recurrent_kernel``, ``bias``, ``embeddings``)."""

    name: str
    kind: str
    config: dict
    weights: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"layer {self.name!r} ({self.kind})"


@dataclass
class KerasModel:
    """What the ``.h5`` file holds, before any conversion."""

    path: Path
    model_class: str
    keras_version: str | None
    layers: list[KerasLayer]
    sha256: str


# ---------------------------------------------------------------- reading
def _attr_text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes | np.bytes_) else str(value)


def _layer_list(cfg: dict, path: Path) -> tuple[str, list[dict]]:
    """The layers of a Sequential or a single-chain functional model, in order."""
    cls = cfg.get("class_name")
    body = cfg.get("config")
    if cls == "Sequential":
        layers = body if isinstance(body, list) else (body or {}).get("layers")
        if not isinstance(layers, list):
            raise RnnmodError(f"{path}: model_config has no layer list")
        return cls, layers
    if cls in ("Functional", "Model"):
        layers = (body or {}).get("layers") or []
        names = [str(la.get("name") or la.get("config", {}).get("name", "")) for la in layers]
        enc = [n for n in names if "encoder" in n]
        dec = [n for n in names if "decoder" in n]
        inputs = (body or {}).get("input_layers") or []
        if enc or dec or len(inputs) > 1:
            raise RnnmodError(
                f"{path}: encoder–decoder (translation) Keras models are not supported yet "
                f"(encoder layers: {', '.join(enc) or 'none'}; decoder layers: {', '.join(dec) or 'none'}; "
                f"{len(inputs)} inputs); only the four classifier shapes import"
            )
        prev = None
        for la, name in zip(layers, names):
            inbound = la.get("inbound_nodes") or []
            srcs = [node[0] for nodes in inbound for node in nodes if isinstance(node, list)]
            if prev is not None and srcs != [prev]:
                raise RnnmodError(
                    f"{path}: layer {name!r} does not take the previous layer's output; only a "
                    "single chain of layers (like a Sequential model) imports"
                )
            prev = name
        return cls, layers
    raise RnnmodError(
        f"{path}: unsupported model class {cls!r} (expected Sequential or Functional)"
    )


def read_keras_h5(path: Path | str) -> KerasModel:
    """Read architecture and weights of a Keras ``.h5`` file (one-line errors for bad files)."""
    path = Path(path)
    if not path.is_file():
        raise RnnmodError(f"{path}: no such file")
    try:
        import h5py
    except ImportError:
        raise RnnmodError(
            "importing Keras files needs h5py: pip install 'rnnmod[keras]' (or pip install h5py)"
        ) from None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        reason = str(e).split(";")[0].split("(")[0].strip() or "unreadable"
        raise RnnmodError(f"{path}: not a readable HDF5 file ({reason})") from None
    try:
        with f:
            if "model_config" not in f.attrs:
                raise RnnmodError(
                    f"{path}: no 'model_config' attribute — not a full Keras model saved with "
                    "model.save() (weights-only files cannot be imported)"
                )
            try:
                cfg = json.loads(_attr_text(f.attrs["model_config"]))
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise RnnmodError(f"{path}: model_config is not valid JSON ({e})") from None
            version = f.attrs.get("keras_version")
            model_class, raw_layers = _layer_list(cfg, path)
            weights_root = f["model_weights"] if "model_weights" in f else f
            layers = []
            for raw in raw_layers:
                kind = raw.get("class_name", "?")
                lcfg = raw.get("config") or {}
                name = str(lcfg.get("name") or raw.get("name") or kind)
                layer = KerasLayer(name, kind, lcfg)
                if name in weights_root:
                    g = weights_root[name]
                    for wname in g.attrs.get("weight_names", []):
                        wname = _attr_text(wname)
                        short = wname.rsplit("/", 1)[-1].split(":")[0]
                        layer.weights[short] = np.asarray(g[wname], dtype=np.float32)
                layers.append(layer)
    except RnnmodError:
        raise
    except (OSError, KeyError, ValueError) as e:
        raise RnnmodError(f"{path}: damaged or truncated Keras file ({e})") from None
    return KerasModel(path, model_class, _attr_text(version) if version else None, layers, digest)


# ---------------------------------------------------------------- conversion
def _weight(layer: KerasLayer, key: str, shape: tuple[int, ...]) -> np.ndarray:
    if key not in layer.weights:
        raise RnnmodError(f"{layer.label}: the file has no {key} (weight_names lists none)")
    w = layer.weights[key]
    if w.shape != shape:
        raise RnnmodError(f"{layer.label}: {key} has shape {w.shape}, but its config needs {shape}")
    return w


def _gru_to_torch(a: np.ndarray, h: int) -> np.ndarray:
    """Keras GRU blocks z, r, h (last axis) → torch r, z, n."""
    return np.concatenate([a[..., h : 2 * h], a[..., :h], a[..., 2 * h :]], axis=-1)


def _rnn_params(layer: KerasLayer, inp: int, h: int) -> dict[str, np.ndarray]:
    """One recurrent layer's arrays in torch layout (weight_ih, weight_hh, bias_ih, bias_hh)."""
    g = N_GATES[layer.kind]
    cfg = layer.config
    kernel = _weight(layer, "kernel", (inp, g * h))
    rec = _weight(layer, "recurrent_kernel", (h, g * h))
    reset_after = layer.kind == "GRU" and cfg.get("reset_after", False)
    zeros = np.zeros(g * h, dtype=np.float32)
    if not cfg.get("use_bias", True):
        b_ih, b_hh = zeros, zeros
    elif reset_after:
        bias = _weight(layer, "bias", (2, g * h))
        b_ih, b_hh = bias[0], bias[1]
    else:
        b_ih, b_hh = _weight(layer, "bias", (g * h,)), zeros
    if layer.kind == "GRU":
        kernel, rec = _gru_to_torch(kernel, h), _gru_to_torch(rec, h)
        b_ih, b_hh = _gru_to_torch(b_ih, h), _gru_to_torch(b_hh, h)
    return {
        "weight_ih_l0": kernel.T,
        "weight_hh_l0": rec.T,
        "bias_ih_l0": b_ih,
        "bias_hh_l0": b_hh,
    }


def _check_supported(layers: list[KerasLayer]) -> None:
    ok = {"InputLayer", "Embedding", "Flatten", "RepeatVector", "Dropout", "Dense", *RECURRENT}
    for la in layers:
        if la.kind == "TimeDistributed":
            inner = (la.config.get("layer") or {}).get("class_name")
            if inner != "Dense":
                raise RnnmodError(
                    f"{la.label} wraps {inner!r}, which is not supported; supported layers: {SUPPORTED}"
                )
        elif la.kind not in ok:
            raise RnnmodError(f"{la.label} is not supported; supported layers: {SUPPORTED}")


def _dense_config(layer: KerasLayer) -> dict:
    return layer.config["layer"]["config"] if layer.kind == "TimeDistributed" else layer.config


def _seq_len(layers: list[KerasLayer]) -> int | None:
    for la in layers:
        if la.kind == "Embedding" and la.config.get("input_length"):
            n = la.config["input_length"]
            return int(n[0] if isinstance(n, list) else n)
        shape = la.config.get("batch_input_shape") or la.config.get("batch_shape")
        if shape and len(shape) >= 2 and shape[1]:
            return int(shape[1])
    return None


def convert_keras(
    km: KerasModel, semantics: str = "keras", *, seq_len: int | None = None
) -> tuple[SeqClassifier, dict]:
    """Build the equivalent :class:`SeqClassifier` and a description of what was imported.

    ``seq_len`` supplies the input length when the file does not state it (it must agree when
    it does).
    """
    if semantics not in SEMANTICS:
        raise RnnmodError(f"unknown semantics {semantics!r}; expected one of {SEMANTICS}")
    _check_supported(km.layers)
    stack = [la for la in km.layers if la.kind not in ("InputLayer", "Dropout")]
    kinds = [la.kind for la in stack]
    dropout = 0.0
    for la, nxt in zip(km.layers, km.layers[1:]):
        if la.kind == "Dropout" and nxt.kind in ("Dense", "TimeDistributed"):
            dropout = float(la.config.get("rate", 0.0))
    if not stack or kinds[0] != "Embedding":
        raise RnnmodError(
            f"{km.path}: the first layer must be an Embedding (found {kinds[0] if kinds else 'no layers'})"
        )
    emb = stack[0]
    pos, out_steps, flatten = 1, 1, False
    if pos < len(stack) and kinds[pos] in ("Flatten", "RepeatVector"):
        if kinds[pos : pos + 2] != ["Flatten", "RepeatVector"]:
            raise RnnmodError(
                f"{stack[pos].label}: Flatten and RepeatVector are supported only as the pair "
                "Embedding → Flatten → RepeatVector(n) (1:1 and 1:N models)"
            )
        flatten, out_steps = True, int(stack[pos + 1].config.get("n", 1))
        pos += 2
    rnns = []
    while pos < len(stack) and kinds[pos] in RECURRENT:
        rnns.append(stack[pos])
        pos += 1
    if not rnns:
        raise RnnmodError(
            f"{km.path}: no recurrent layer (SimpleRNN, LSTM or GRU) after the embedding"
        )
    if pos >= len(stack) or kinds[pos] not in ("Dense", "TimeDistributed"):
        found = stack[pos].label if pos < len(stack) else "nothing"
        raise RnnmodError(
            f"{km.path}: the recurrent layers must be followed by Dense or TimeDistributed(Dense) (found {found})"
        )
    head = stack[pos]
    if pos + 1 != len(stack):
        raise RnnmodError(f"{stack[pos + 1].label} after the output layer is not supported")
    if not 1 <= len(rnns) <= 4:
        raise RnnmodError(f"{km.path}: {len(rnns)} recurrent layers; rnnmod supports 1-4")

    # --- recurrent stack: one cell kind, one width, one activation
    first = rnns[0]
    if {la.kind for la in rnns} != {first.kind}:
        raise RnnmodError(
            f"{km.path}: mixed recurrent layer kinds ({', '.join(la.kind for la in rnns)}); a model uses one kind"
        )
    units = {int(la.config.get("units", 0)) for la in rnns}
    if len(units) != 1:
        raise RnnmodError(f"{km.path}: recurrent layers of different widths {sorted(units)}")
    hidden = units.pop()
    acts = {la.config.get("activation", "tanh") for la in rnns}
    rec_acts = {la.config.get("recurrent_activation", "sigmoid") for la in rnns}
    resets = {bool(la.config.get("reset_after", False)) for la in rnns}
    for la in rnns:
        if la.config.get("go_backwards") or la.config.get("return_state"):
            raise RnnmodError(f"{la.label}: go_backwards/return_state are not supported")
    for la in rnns[:-1]:
        if not la.config.get("return_sequences"):
            raise RnnmodError(f"{la.label} must return sequences: it feeds another recurrent layer")
    if len(acts) != 1 or len(rec_acts) != 1 or len(resets) != 1:
        raise RnnmodError(
            f"{km.path}: recurrent layers disagree on activation/recurrent_activation/reset_after "
            f"({sorted(acts)}, {sorted(rec_acts)}, {sorted(resets)}); one model uses one setting"
        )
    act, rec_act, reset_after = acts.pop(), rec_acts.pop(), resets.pop()
    if first.kind == "SimpleRNN":
        if act not in ("tanh", "relu"):
            raise RnnmodError(f"{first.label}: activation {act!r} (supported: tanh, relu)")
        cell = "rnn" if act == "tanh" else "rnn-relu"
    else:
        if act != "tanh":
            raise RnnmodError(f"{first.label}: activation {act!r} (supported: tanh)")
        if rec_act not in ("sigmoid", "hard_sigmoid"):
            raise RnnmodError(
                f"{first.label}: recurrent_activation {rec_act!r} (supported: sigmoid, hard_sigmoid)"
            )
        cell = RECURRENT[first.kind]

    # --- I/O type from the shape of the stack
    many = bool(rnns[-1].config.get("return_sequences"))
    if flatten:
        io_type = "1:N" if many else "1:1"
        if not many and out_steps != 1:
            raise RnnmodError(
                f"{km.path}: RepeatVector({out_steps}) with a last recurrent layer that returns one state"
            )
    else:
        io_type = "M:N" if many else "M:1"
    if head.kind == "TimeDistributed" and not many:
        raise RnnmodError(f"{head.label}: the last recurrent layer returns a single state")
    dense = _dense_config(head)
    head_act = dense.get("activation", "linear")
    if head_act not in HEAD_ACTIVATIONS:
        raise RnnmodError(
            f"{head.label}: output activation {head_act!r} (supported: {', '.join(HEAD_ACTIVATIONS)})"
        )

    # --- embedding and lengths
    if emb.config.get("mask_zero"):
        raise RnnmodError(
            f"{emb.label}: mask_zero=True is not supported for classifiers (the authors' classifiers do not mask)"
        )
    vocab, dim = int(emb.config.get("input_dim", 0)), int(emb.config.get("output_dim", 0))
    table = _weight(emb, "embeddings", (vocab, dim))
    file_len = _seq_len(km.layers)
    if seq_len is not None and file_len is not None and seq_len != file_len:
        raise RnnmodError(
            f"{km.path}: the model takes {file_len} ids per example but the data give {seq_len}"
        )
    length = file_len or seq_len
    if length is None:
        raise RnnmodError(f"{km.path}: the file does not state the input length; pass seq_len")
    if io_type == "M:N":
        out_steps = length
    n_classes = int(dense.get("units", 0))

    cfg = ClassifierConfig(
        io_type=io_type,
        cell=cell,
        depth=len(rnns),
        vocab_size=vocab,
        embed_dim=dim,
        hidden=hidden,
        n_classes=n_classes,
        seq_len=length,
        out_steps=out_steps,
        dropout=dropout,
        gate_activation="hard_sigmoid"
        if semantics == "keras" and rec_act == "hard_sigmoid" and cell in ("lstm", "gru")
        else "sigmoid",
        gru_reset_after=True if semantics == "paper" else (reset_after or cell != "gru"),
    )
    model = SeqClassifier(cfg)
    state = {"embedding.weight": table}
    inp = dim * length if flatten else dim
    for i, la in enumerate(rnns):
        for k, v in _rnn_params(la, inp if i == 0 else hidden, hidden).items():
            state[f"rnns.{i}.{k}"] = v
    state["head.weight"] = _weight(head, "kernel", (hidden, n_classes)).T
    state["head.bias"] = (
        _weight(head, "bias", (n_classes,))
        if dense.get("use_bias", True)
        else np.zeros(n_classes, dtype=np.float32)
    )
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})
    model.eval()
    info = {
        "format": "keras-h5",
        "file": km.path.name,
        "sha256": km.sha256,
        "keras_version": km.keras_version,
        "model_class": km.model_class,
        "layers": [f"{la.name}:{la.kind}" for la in km.layers],
        "semantics": semantics,
        "recurrent_activation": rec_act if cell in ("lstm", "gru") else None,
        "gru_reset_after": reset_after if cell == "gru" else None,
        "head_activation": head_act,
    }
    return model, info


def import_keras(
    path: Path | str, semantics: str = "keras", *, seq_len: int | None = None
) -> tuple[SeqClassifier, dict]:
    """Read a Keras ``.h5`` classifier and return the equivalent model and its import record."""
    return convert_keras(read_keras_h5(path), semantics, seq_len=seq_len)


def import_keras_run(
    path: Path | str,
    out: Path | str,
    *,
    task: str,
    data_dir: Path | str | None = None,
    semantics: str = "keras",
    data_options: dict | None = None,
    overwrite: bool = False,
) -> tuple[Path, dict]:
    """Import a Keras file as a run directory of ``task`` (its vocabulary and labels), with
    the test accuracy under the chosen semantics in ``metrics.json``."""
    from ..data import load_task
    from .common import check_fits_data, save_model_run

    options = dict(data_options or {})
    km = read_keras_h5(path)
    data = load_task(task, data_dir, **options)
    for k in ("file", "train_file", "val_file", "test_file"):
        if k in data.extra:  # a user file: recorded absolute, found from any directory
            options[k] = data.extra[k]
    model, info = convert_keras(km, semantics, seq_len=data.x_test.shape[1])
    hint = (
        "is --legacy-vocab right for this file?"
        if options.get("legacy_vocab")
        else "pass --legacy-vocab for the authors' tokenisation"
    )
    check_fits_data(model, data, hint=hint)
    return save_model_run(
        out,
        model,
        data,
        config={"semantics": semantics, "imported_from": info, "data_options": options},
        overwrite=overwrite,
    )
