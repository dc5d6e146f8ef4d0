"""A direct re-implementation of the original tool's module weights, for the legacy-edits tests.

The original (sayemimtiaz/DecomposeRNNintoModules) builds a module by editing weight arrays with
``removeNode`` / ``keepNode`` (``modularization/concern/util.py``) on every gate column n, n + H,
… of a unit, visiting units in ascending order of the concern statistic — the removed units, a
prefix of that order, come first. Its decomposers start from different arrays:

* ``m1-unrolled`` (``*/many_to_one/decomposer_unrolled.py``): for every layer in order and every
  step, a fresh copy (``DW[ts], DU[ts], DB[ts] = firstModel.layers[l].get_weights()``); the edits
  a layer makes to the next recurrent layer's input rows are overwritten when that layer gets its
  own fresh copies; the Dense output layer's ``DW`` *is* its ``W`` (``initModularLayers``) and is
  edited at the last step only;
* ``m1-rolled`` (``*/many_to_one/decomposer_rolled.py``): ``DW = W`` — edited in place, so
  ``keepNode`` restores nothing that a ``removeNode`` zeroed;
* ``many-rolled`` (``*/one_to_one``, ``one_to_many``, ``many_to_many_same`` rolled): the
  zero-initialised ``DW`` of ``initRnnModularWeights``, which ``keepNode`` fills back in;
* ``many-unrolled`` (``*/one_to_many``, ``many_to_many_same`` unrolled): per step a new set of
  layers (``initModularLayers``), each layer a fresh copy (``DW, DU, DB = get_weights()``),
  edited as rolled; the module's output layer is step 0's (``concerns[0]``), used at every step.

The evaluator (``modularization/layer_propagator_modular.py``) runs a plain step loop with each
step's arrays from a zero state and never masks a state. Here the edits are made literally on
NumPy arrays in the original's layout (kernels [in, G·H], recurrent kernels [H, G·H]; gate blocks
in torch order, which the edits do not depend on: every block of a unit is edited alike) and run
in float64. A torch GRU has two bias vectors; both are edited as the original edits its one.
"""

from __future__ import annotations

import numpy as np

from rnnmod.nn.cells import N_GATES, LayerWeights

SCRIPTS = ("m1-unrolled", "m1-rolled", "many-rolled", "many-unrolled")


class Layer:
    """A recurrent layer as the original's ``ModularLayer``: its arrays ``W`` = [kernel,
    recurrent kernel, b_ih, b_hh] and the edited ``D`` (``per_step``: one list per step)."""

    def __init__(self, w: LayerWeights, steps: int, per_step: bool):
        self.W = [
            w.weight_ih.detach().double().numpy().T.copy(),
            w.weight_hh.detach().double().numpy().T.copy(),
            w.bias_ih.detach().double().numpy().copy(),
            w.bias_hh.detach().double().numpy().copy(),
        ]
        self.unrolled = per_step
        self.steps = steps
        self.D = [self.zeros() for _ in range(steps)] if per_step else self.zeros()
        self.next: Layer | Head | None = None

    def zeros(self) -> list[np.ndarray]:  # initRnnModularWeights
        return [np.zeros_like(a) for a in self.W]

    def at(self, ts: int | None) -> list[np.ndarray]:
        return self.D[ts] if self.unrolled else self.D


class Head:
    """The output layer, the model's last: ``DW`` is ``W`` (``initModularLayers``)."""

    def __init__(self, weight: np.ndarray):
        self.W = weight.T.copy()  # [H, C]
        self.D = self.W
        self.unrolled = False


def _next_target(layer: Layer, ts: int | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The next layer's input kernel that ``removeNode``/``keepNode`` edit, and its original:
    an unrolled next layer's at this step; else (rolled, or a Dense head) in the rolled branch
    always and in the unrolled branch at the last step only."""
    nxt = layer.next
    if nxt is None:
        return None, None
    if nxt.unrolled:
        return nxt.D[ts][0], nxt.W[0]
    if layer.unrolled and ts != layer.steps - 1:
        return None, None
    if isinstance(nxt, Head):
        return nxt.D, nxt.W
    return nxt.D[0], nxt.W[0]


def remove_node(layer: Layer, ts: int | None, n: int) -> None:
    d = layer.at(ts)
    d[0][:, n] = 0
    d[1][:, n] = 0
    if n < d[1].shape[0]:
        d[1][n, :] = 0
    d[2][n] = 0
    d[3][n] = 0
    target, _ = _next_target(layer, ts)
    if target is not None and n < target.shape[0]:
        target[n, :] = 0


def keep_node(layer: Layer, ts: int | None, n: int) -> None:
    d = layer.at(ts)
    d[0][:, n] = layer.W[0][:, n]
    d[1][:, n] = layer.W[1][:, n]
    if n < d[1].shape[0]:
        d[1][n, :] = layer.W[1][n, :]
    d[2][n] = layer.W[2][n]
    d[3][n] = layer.W[3][n]
    target, original = _next_target(layer, ts)
    if target is not None and n < target.shape[0]:
        target[n, :] = original[n, :]


def visit(layer: Layer, ts: int | None, keep: np.ndarray, rng: np.random.Generator) -> None:
    """``removeAndTangleConcernBasedOnComparison``'s edits, in ascending order of the statistic:
    the removed units first (in any order among themselves), then the kept ones."""
    gates = layer.W[1].shape[1] // layer.W[1].shape[0]
    hidden = len(keep)
    order = np.concatenate(
        [rng.permutation(np.flatnonzero(~keep)), rng.permutation(np.flatnonzero(keep))]
    )
    for n in order:
        for b in range(gates):
            (keep_node if keep[n] else remove_node)(layer, ts, int(n) + b * hidden)


def _chain(layers: list[Layer], head: Head) -> None:
    for a, b in zip(layers, layers[1:] + [head]):
        a.next = b


def original_module(
    weights: list[LayerWeights],
    head_weight: np.ndarray,
    keep: list[np.ndarray],
    script: str,
    seed: int = 0,
) -> tuple[list[list[list[np.ndarray]]], np.ndarray]:
    """The arrays the original's ``script`` leaves for one module: per layer and step [kernel,
    recurrent kernel, b_ih, b_hh], and the output layer [H, C]. ``keep`` per layer [S, H]
    (True = kept; S = T unrolled, 1 rolled); ``head_weight`` [C, H] (torch layout)."""
    if script not in SCRIPTS:
        raise ValueError(script)
    rng = np.random.default_rng(seed)
    steps = keep[0].shape[0]
    if script == "m1-unrolled":
        layers = [Layer(w, steps, per_step=True) for w in weights]
        head = Head(head_weight)
        _chain(layers, head)
        for layer, k in zip(layers, keep):
            for ts in range(steps):
                layer.D[ts] = [a.copy() for a in layer.W]
                visit(layer, ts, k[ts], rng)
        return [layer.D for layer in layers], head.D
    if script == "many-unrolled":
        per_step, heads = [], []
        for ts in range(steps):
            layers = [Layer(w, 1, per_step=False) for w in weights]
            head = Head(head_weight)
            _chain(layers, head)
            for layer, k in zip(layers, keep):
                layer.D = [a.copy() for a in layer.W]
                visit(layer, None, k[ts], rng)
            per_step.append([layer.D for layer in layers])
            heads.append(head.D)
        return [[per_step[ts][li] for ts in range(steps)] for li in range(len(weights))], heads[0]
    layers = [Layer(w, 1, per_step=False) for w in weights]
    head = Head(head_weight)
    _chain(layers, head)
    for layer, k in zip(layers, keep):
        if script == "m1-rolled":
            layer.D = layer.W  # _layer.DW = _layer.W
        visit(layer, None, k[0], rng)
    return [[layer.D] for layer in layers], head.D


def _sig(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def run_original(
    weights: list[list[list[np.ndarray]]],
    head: np.ndarray,
    x: np.ndarray,
    cell: str,
    *,
    gru_reset_after: bool = True,
    one_output: bool = True,
) -> tuple[list[np.ndarray], np.ndarray]:
    """The evaluator's step loop from a zero state with step t's arrays (a layer with one list
    of arrays uses it at every step): per layer the states [B, T, H], and the output layer's
    logits without its bias ([B, C] from the last step, or [B, T, C])."""
    if cell not in N_GATES:
        raise ValueError(cell)
    inp = np.asarray(x, dtype=np.float64)
    states = []
    for per_step in weights:
        hidden = per_step[0][1].shape[0]
        h = np.zeros((inp.shape[0], hidden))
        c = np.zeros_like(h)
        outs = []
        for t in range(inp.shape[1]):
            w, u, bi, bh = per_step[t if len(per_step) > 1 else 0]
            xt = inp[:, t]
            if cell == "gru":
                ur, uz, un = np.split(u, 3, axis=1)
                xr, xz, xn = np.split(xt @ w + bi, 3, axis=1)
                br, bz, bn = np.split(bh, 3)
                r = _sig(xr + h @ ur + br)
                z = _sig(xz + h @ uz + bz)
                if gru_reset_after:
                    n = np.tanh(xn + r * (h @ un + bn))
                else:
                    n = np.tanh(xn + (r * h) @ un + bn)
                h = (1 - z) * n + z * h
            else:
                s = xt @ w + h @ u + bi + bh
                if cell == "lstm":
                    i, f, g, o = np.split(s, 4, axis=1)
                    c = _sig(f) * c + _sig(i) * np.tanh(g)
                    h = _sig(o) * np.tanh(c)
                else:
                    h = np.tanh(s) if cell == "rnn" else np.maximum(s, 0)
            outs.append(h)
        inp = np.stack(outs, axis=1)
        states.append(inp)
    logits = inp[:, -1] @ head if one_output else inp @ head
    return states, logits
