"""rnnmod: decompose trained recurrent networks into per-class modules (Imtiaz et al., ICSE 2023).

The public API is the names in :data:`__all__`, imported on first use so that ``import rnnmod``
stays cheap (no torch until a name needs it)::

    import rnnmod
    run = rnnmod.train("clinc", cell="lstm", out="runs/clinc-lstm1")
    dec = rnnmod.decompose(run)
    mods = rnnmod.save_modules(dec, "mods/clinc-lstm1")
    print(rnnmod.evaluate(mods)["delta_pp"])
"""

from __future__ import annotations

from .lazy import lazy_names

__version__ = "0.1.0"
FORMAT_VERSION = 1

#: public name → the module that defines it
_EXPORTS = {
    # runs and models
    "Run": "rnnmod.runs",
    "load_run": "rnnmod.runs",
    "save_run": "rnnmod.runs",
    "train": "rnnmod.api",
    "load": "rnnmod.api",
    "from_torch": "rnnmod.interop",
    "import_keras": "rnnmod.interop",
    "save_model_run": "rnnmod.interop",
    "load_task": "rnnmod.data",
    # decomposition
    "DecompositionConfig": "rnnmod.decomposition",
    "Decomposition": "rnnmod.decomposition",
    "preset": "rnnmod.decomposition",
    "decompose": "rnnmod.api",
    "decompose_to": "rnnmod.api",
    "save_modules": "rnnmod.api",
    # module sets and composition
    "ModuleSet": "rnnmod.modules.store",
    "load_moduleset": "rnnmod.modules.store",
    "compose": "rnnmod.api",
    "evaluate": "rnnmod.api",
    "evaluate_labelled": "rnnmod.api",
    "predict": "rnnmod.api",
    "translate": "rnnmod.api",
    # export
    "export_module": "rnnmod.modules.compact",
    "export_onnx": "rnnmod.interop",
    # errors
    "RnnmodError": "rnnmod.errors",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_names(__name__, _EXPORTS, globals())
