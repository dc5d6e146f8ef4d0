"""``rnnmod data fetch`` / ``data check`` against a local HTTP server — never the internet."""

import dataclasses
import functools
import http.server
import json
import threading
import zipfile

import pytest

from rnnmod.cli import main
from rnnmod.data import fetch
from rnnmod.data.fetch import CHECKSUMS, DATASETS, check_dataset, fetch_dataset, sha256_of
from rnnmod.errors import RnnmodError


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    """Start an HTTP server on 127.0.0.1 over a folder; yields a function folder → base URL."""
    servers = []

    def start(folder):
        handler = functools.partial(_Quiet, directory=str(folder))
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def test_checksums_cover_every_published_file(data_dir):
    listed = {
        line.split()[1].removeprefix("./")
        for line in (data_dir / "SHA256SUMS").read_text().splitlines()
        if line.strip()
    }
    assert set(CHECKSUMS) == {p for p in listed if not p.startswith("paper/")}
    for ds in DATASETS.values():
        assert set(ds.required) <= set(ds.files)


def test_fetch_from_mirror_then_check(tmp_path, data_dir, serve, capsys):
    url = serve(data_dir)
    out = tmp_path / "data"
    assert (
        main(["data", "fetch", "emotions", "--data-dir", str(out), "--base-url", url, "--quiet"])
        == 0
    )
    assert "emotions: complete" in capsys.readouterr().out
    for rel in DATASETS["emotions"].files:
        assert sha256_of(out / rel) == CHECKSUMS[rel]
    assert not list(out.rglob(".rnnmod-*"))  # no temporary files left behind
    # a second run downloads nothing
    assert fetch_dataset("emotions", out, base_url=url, quiet=True)["written"] == []
    assert main(["data", "check", "--data-dir", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["tasks"]
    assert report["emotions"]["status"] == "complete"
    assert report["clinc"]["status"] == "missing" and report["toxic"]["status"] == "missing"
    # the loader reads what fetch wrote
    from rnnmod.data import load_task

    assert len(load_task("emotions", out).x_train) == 6838


def test_fetch_rejects_a_changed_file(tmp_path, data_dir, serve):
    mirror = tmp_path / "mirror" / "semeval2018_ec"
    mirror.mkdir(parents=True)
    for rel in DATASETS["emotions"].files:
        (tmp_path / "mirror" / rel).write_bytes((data_dir / rel).read_bytes())
    (mirror / "2018-E-c-En-train.txt").write_text("ID\tTweet\n")
    out = tmp_path / "data"
    with pytest.raises(
        RnnmodError, match=r"checksum mismatch for semeval2018_ec/2018-E-c-En-train\.txt"
    ):
        fetch_dataset("emotions", out, base_url=serve(tmp_path / "mirror"), quiet=True)
    assert not (out / "semeval2018_ec" / "2018-E-c-En-train.txt").exists()
    assert not list(out.rglob(".rnnmod-*"))
    assert check_dataset(out, "emotions")["status"] == "missing"


def test_fetch_from_archive_source(tmp_path, data_dir, serve, monkeypatch):
    """The public-source path: download an archive, extract members by path suffix, verify."""
    src = tmp_path / "src"
    src.mkdir()
    with zipfile.ZipFile(src / "all.zip", "w") as zf:
        for split in ("train", "dev"):
            name = f"2018-E-c-En-{split}.txt"
            zf.write(data_dir / "semeval2018_ec" / name, f"Release/English/E-c/{name}")
    url = serve(src)
    ds = DATASETS["emotions"]
    dl = dataclasses.replace(ds.downloads[0], url=f"{url}/all.zip")
    monkeypatch.setitem(fetch.DATASETS, "emotions", dataclasses.replace(ds, downloads=(dl,)))
    out = tmp_path / "data"
    result = fetch_dataset("emotions", out, quiet=True)
    assert result["written"] == sorted(ds.files)
    assert check_dataset(out, "emotions")["status"] == "complete"
    assert not list(out.rglob(".rnnmod-*"))  # the archive itself was temporary


def test_fetch_errors(tmp_path, serve, capsys):
    with pytest.raises(RnnmodError, match="cannot download http://127.0.0.1:.*/clinc_oos/"):
        fetch_dataset("clinc", tmp_path / "d", base_url=serve(tmp_path), quiet=True)
    assert main(["data", "fetch", "toxic", "--data-dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "kaggle" in err.lower() and "cannot be downloaded automatically" in err


def test_check_shared_data(data_dir, capsys):
    assert main(["data", "check", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    for task in ("clinc", "brown", "mathqa", "emotions", "tatoeba"):
        assert f"{task}" in out
    report = {t: check_dataset(data_dir, t)["status"] for t in DATASETS}
    assert report == {
        "clinc": "complete",
        "brown": "complete",
        "mathqa": "complete",
        "emotions": "complete",
        "tatoeba": "complete",
        "toxic": "missing",
    }


def test_check_reports_present_when_a_file_differs(tmp_path, data_dir):
    for rel in DATASETS["mathqa"].files:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("[]")
    r = check_dataset(tmp_path, "mathqa")
    assert r["status"] == "present" and r["problems"] == ["mathqa/test.json: checksum mismatch"]
    (tmp_path / "toxic").mkdir()
    (tmp_path / "toxic" / "train.csv").write_text("id\n")
    assert check_dataset(tmp_path, "toxic")["status"] == "present"  # user-supplied: unverified
