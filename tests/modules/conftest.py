import pytest

from rnnmod.modules import fused


@pytest.fixture(params=["fused", "torch"])
def compact_path(request, monkeypatch):
    """Run a compact-bank test on the fused kernel and on the torch path (``RNNMOD_FUSED=0``);
    the fused case is skipped, with the reason, where the kernel cannot be built."""
    if request.param == "torch":
        monkeypatch.setenv(fused.DISABLE_ENV, "0")
    elif fused.kernel() is None:
        pytest.skip(f"no fused kernel here: {fused.unavailable()}")
    return request.param
