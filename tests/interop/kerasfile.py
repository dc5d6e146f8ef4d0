"""Keras-layout .h5 files written with h5py (no TensorFlow), and an independent NumPy reference
of the Keras 2.x equations in Keras layout (kernels (in, gates·units), LSTM i,f,c,o, GRU z,r,h)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import h5py
import numpy as np

CELL_NAME = {"SimpleRNN": "simple_rnn", "LSTM": "lstm", "GRU": "gru"}
GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}


class KerasFile:
    """Build a Sequential (or single-chain functional) Keras model config with seeded weights."""

    def __init__(self, seed: int = 0, scale: float = 0.6):
        self.rng = np.random.default_rng(seed)
        self.scale = scale
        self.layers: list[dict] = []
        self.weights: dict[str, list[tuple[str, np.ndarray]]] = {}
        self._count: Counter = Counter()

    def _name(self, base: str) -> str:
        n = self._count[base]
        self._count[base] += 1
        return base if n == 0 else f"{base}_{n}"

    def _rand(self, *shape: int) -> np.ndarray:
        return (self.rng.standard_normal(shape) * self.scale).astype(np.float32)

    def _add(self, kind: str, base: str, config: dict, weights=()) -> str:
        name = self._name(base)
        self.layers.append({"class_name": kind, "config": {"name": name, **config}})
        self.weights[name] = [(f"{name}/{w}", a) for w, a in weights]
        return name

    def embedding(self, vocab: int, dim: int, length: int | None, mask_zero: bool = False):
        cfg = {"input_dim": vocab, "output_dim": dim, "mask_zero": mask_zero}
        if length:
            cfg.update(input_length=length, batch_input_shape=[None, length])
        return self._add("Embedding", "embedding", cfg, [("embeddings:0", self._rand(vocab, dim))])

    def rnn(
        self,
        kind: str,
        units: int,
        inp: int,
        *,
        return_sequences: bool,
        activation: str = "tanh",
        recurrent_activation: str = "hard_sigmoid",
        reset_after: bool = False,
        use_bias: bool = True,
    ):
        g = GATES[kind]
        cfg = {
            "units": units,
            "activation": activation,
            "return_sequences": return_sequences,
            "return_state": False,
            "go_backwards": False,
            "stateful": False,
            "use_bias": use_bias,
            "dropout": 0.0,
            "recurrent_dropout": 0.0,
        }
        if kind != "SimpleRNN":
            cfg["recurrent_activation"] = recurrent_activation
        if kind == "LSTM":
            cfg["unit_forget_bias"] = True
        if kind == "GRU":
            cfg["reset_after"] = reset_after
        n = self._count[CELL_NAME[kind]]
        cell = f"{CELL_NAME[kind]}_cell" + (f"_{n}" if n else "")
        ws = [
            (f"{cell}/kernel:0", self._rand(inp, g * units)),
            (f"{cell}/recurrent_kernel:0", self._rand(units, g * units)),
        ]
        if use_bias:
            shape = (2, g * units) if kind == "GRU" and reset_after else (g * units,)
            ws.append((f"{cell}/bias:0", self._rand(*shape)))
        return self._add(kind, CELL_NAME[kind], cfg, ws)

    def dense(self, units: int, inp: int, activation: str = "softmax", time_distributed=False):
        ws = [("kernel:0", self._rand(inp, units)), ("bias:0", self._rand(units))]
        cfg = {"units": units, "activation": activation, "use_bias": True}
        if time_distributed:
            inner = {"class_name": "Dense", "config": {"name": "dense", **cfg}}
            return self._add("TimeDistributed", "time_distributed", {"layer": inner}, ws)
        return self._add("Dense", "dense", cfg, ws)

    def flatten(self):
        return self._add("Flatten", "flatten", {})

    def repeat(self, n: int):
        return self._add("RepeatVector", "repeat_vector", {"n": n})

    def dropout(self, rate: float = 0.2):
        return self._add("Dropout", "dropout", {"rate": rate})

    def layer(self, kind: str, base: str, config: dict | None = None):
        return self._add(kind, base, config or {})

    def save(self, path: Path, *, functional: bool = False, version: str = "2.8.0") -> Path:
        if functional:
            layers, prev = [], None
            for la in [{"class_name": "InputLayer", "config": {"name": "input_1"}}, *self.layers]:
                name = la["config"]["name"]
                inbound = [[[prev, 0, 0, {}]]] if prev else []
                layers.append({**la, "name": name, "inbound_nodes": inbound})
                prev = name
            body = {
                "name": "model",
                "layers": layers,
                "input_layers": [["input_1", 0, 0]],
                "output_layers": [[prev, 0, 0]],
            }
            cfg = {"class_name": "Functional", "config": body}
        else:
            cfg = {
                "class_name": "Sequential",
                "config": {"name": "sequential", "layers": self.layers},
            }
        with h5py.File(path, "w") as f:
            f.attrs["keras_version"] = version
            f.attrs["backend"] = "tensorflow"
            f.attrs["model_config"] = json.dumps(cfg)
            mw = f.create_group("model_weights")
            mw.attrs["layer_names"] = np.array([la["config"]["name"] for la in self.layers], "S")
            for la in self.layers:
                name = la["config"]["name"]
                g = mw.create_group(name)
                ws = self.weights.get(name, [])
                g.attrs["weight_names"] = np.array([w for w, _ in ws], dtype="S")
                for w, a in ws:
                    g.create_dataset(w, data=a)
        return path


# ---------------------------------------------------------------- NumPy reference (Keras layout)
def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def hard_sigmoid(x):
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _rnn(kind, cfg, w, x, semantics):
    kernel, rec = w["kernel"], w["recurrent_kernel"]
    units = cfg["units"]
    g = GATES[kind]
    bias = w.get("bias", np.zeros((g * units,), np.float32))
    gate = (
        hard_sigmoid
        if semantics == "keras" and cfg.get("recurrent_activation") == "hard_sigmoid"
        else sigmoid
    )
    b, steps, _ = x.shape
    h = np.zeros((b, units))
    c = np.zeros((b, units))
    outs = []
    for t in range(steps):
        xt = x[:, t]
        if kind == "SimpleRNN":
            s = xt @ kernel + h @ rec + bias
            h = np.tanh(s) if cfg["activation"] == "tanh" else np.maximum(s, 0)
        elif kind == "LSTM":
            s = xt @ kernel + h @ rec + bias
            i, f, cc, o = np.split(s, 4, axis=1)
            c = gate(f) * c + gate(i) * np.tanh(cc)
            h = gate(o) * np.tanh(c)
        else:
            u_z, u_r, u_h = np.split(rec, 3, axis=1)
            if cfg["reset_after"]:
                xz, xr, xh = np.split(xt @ kernel + bias[0], 3, axis=1)
                rz, rr, rh = np.split(h @ rec + bias[1], 3, axis=1)
                z, r = gate(xz + rz), gate(xr + rr)
                hh = np.tanh(xh + r * rh)
            else:
                xz, xr, xh = np.split(xt @ kernel + bias, 3, axis=1)
                z, r = gate(xz + h @ u_z), gate(xr + h @ u_r)
                if semantics == "keras":
                    hh = np.tanh(xh + (r * h) @ u_h)  # reset before the recurrent product
                else:
                    hh = np.tanh(xh + r * (h @ u_h))  # the authors' NumPy form
            h = z * h + (1 - z) * hh
        outs.append(h)
    return np.stack(outs, 1) if cfg["return_sequences"] else h


def keras_predict(kf: KerasFile, ids: np.ndarray, semantics: str = "keras") -> np.ndarray:
    """``model.predict`` (semantics="keras") or the authors' NumPy propagation ("paper")."""
    x = None
    for la in kf.layers:
        kind, cfg = la["class_name"], la["config"]
        w = {n.rsplit("/", 1)[-1].split(":")[0]: a for n, a in kf.weights[cfg["name"]]}
        if kind == "Embedding":
            x = w["embeddings"][ids].astype(np.float64)
        elif kind == "Flatten":
            x = x.reshape(len(x), -1)
        elif kind == "RepeatVector":
            x = np.repeat(x[:, None], cfg["n"], axis=1)
        elif kind in GATES:
            x = _rnn(kind, cfg, w, x, semantics)
        elif kind in ("Dense", "TimeDistributed"):
            d = cfg["layer"]["config"] if kind == "TimeDistributed" else cfg
            x = x @ w["kernel"] + w["bias"]
            if d["activation"] == "softmax":
                x = softmax(x)
    return x
