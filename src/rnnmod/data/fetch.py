"""Download the paper's datasets from their public sources and check a data directory.

Every file lands in the layout of ``shared/data/README.md`` and is verified against the SHA-256
the project recorded (:data:`CHECKSUMS`) before it is renamed into place, so a half-written or
changed file never looks like good data. ``base_url`` replaces the public hosts with a mirror
laid out like the data directory itself (``<base_url>/clinc_oos/train.csv``, …) — a local
``python -m http.server`` over an existing copy is one, and the tests use exactly that.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RnnmodError
from ..storage import sha256_file

#: sha256 of every dataset file, relative to the data root (from shared/data/SHA256SUMS).
CHECKSUMS: dict[str, str] = {
    "brown/nltk_data/corpora/brown.zip": "9b275f9b3b95d7bd66ccfb7cd259f445a13bbe5d1f4107aba09fd3e8364bafa6",
    "brown/nltk_data/taggers/universal_tagset.zip": "d490e1ae8f5625dcdfdda04be15c22a2aade8c2561a36a61edcdf0c7d6aa8352",
    "brown/nltk_data/tokenizers/punkt_tab/english/abbrev_types.txt": "8fb8898ab0c4cf0a88a2c0b458181fc3734a24251293ad27cf2239512ba4f720",
    "brown/nltk_data/tokenizers/punkt_tab/english/collocations.tab": "a09430f55e270d3731b4e56db9993f0108a9038000eba637a2300d94e6f4006a",
    "brown/nltk_data/tokenizers/punkt_tab/english/ortho_context.tab": "4bbcca25ed3d3f06c02402abf8419b9f033b8adc06e7b482eca4e45f81a5dc4c",
    "brown/nltk_data/tokenizers/punkt_tab/english/sent_starters.txt": "76b76ddd4821e1733399c39320e41c682268b0654903ee481a26b8aae229b8ca",
    "clinc_oos/LICENSE": "e6bc9e9c474700b708f568bac9e5a8a9bcb2b1dad53442f5ba449fcb848b8e76",
    "clinc_oos/clinc_oos.zip": "e4e11b767b435a840ee9216eacec93cb69f2d6707252b416ebd0d4843cd3d9ee",
    "clinc_oos/domains.json": "b947b579d3b8e74b06f93b01083d8efaff2888b43a3e362533bd88a6e1211b3a",
    "clinc_oos/test.csv": "337ba9694af85452b18df58018213c10ecf2077922b29b189b022e541c60c093",
    "clinc_oos/test_ood.csv": "ddac4de5d74120c8a1b56f20e3b3b532ddea0775fae19b1e0092c3f47febeddd",
    "clinc_oos/train.csv": "7d10cf1d47d6781f15f45ae751f8a472e48fee935f688105055f3e2bf1690dcc",
    "clinc_oos/train_ood.csv": "aa4289f8ed4aa93dfe2a4b8334aa95f01dfd519b3931e5740c8fa136ac226b8c",
    "clinc_oos/val.csv": "f9180ffe505f87a7b5017632abb1f0a51060fc7ff2ac7f9334fd7db81e1a2dea",
    "clinc_oos/val_ood.csv": "661135bd0ba32161f2d3d67020bda7951ce22f2de672028cdd0f7ff1df0ae4fa",
    "mathqa/test.json": "c38095d1ff381ff1e3fff2604bcf3631e017bddd83d11e193b95e9d99d9ceea8",
    "semeval2018_ec/2018-E-c-En-dev.txt": "bcb192bd4df68cf440dff7c4ceb8873be964e9c71d01a669c2f329506dbd5d95",
    "semeval2018_ec/2018-E-c-En-train.txt": "9e470a60b4dad2f7f3ac1591b582e0ab48af19990d0af0354d2e89501526d57d",
    "tatoeba/LICENSE": "01551a339b68d84650032f54159ac1093da80f2f0624c864c1f4e3e273295ed8",
    "tatoeba/add_language/de_ua_train_original.txt": "1aba4296b4f045e73aa01511f7c37f6fd9531d3a3f53d559b24b14d8799c1368",
    "tatoeba/add_language/en_ua_train_original.txt": "21f8850ce6929b52a46323451e2981ebf3e91db9f2c77cc05b0f03a9b77c17e5",
    "tatoeba/add_language/fr_ua_train_original.txt": "bbfd120101b325058d7364435269da7daabd7724b525e8cd35c71abb4c17dac5",
    "tatoeba/add_language/it_ua_train_original.txt": "15848ca630e0b6431d6e3f5b938e5804a3419f46d6356b82c8dfb54553aae3c0",
    "tatoeba/add_language/ua_ua_train_original.txt": "1eab1be9d4c69cefae1b3259228793816e9b326bde93bcd66119f658a18e8cc3",
    "tatoeba/fix_language/de_et_train.txt": "bc8de47159cb44a3b6809554810b368d84285cfa9ba0d14ea4e5256c1790d15c",
    "tatoeba/fix_language/en_et_train.txt": "861f4c35718d6bd98fb67b7e90ab1cca7dc9548c72918f81e35ce0cf89d91e2b",
    "tatoeba/fix_language/en_et_train_s2.txt": "2e0791752723dd135e4c6e3de3600df88cc02f183fd9dc1d30a7e55a9885126b",
    "tatoeba/fix_language/et_et_train.txt": "8c8a84834d9b58b0206d25a6719a18c1fc7330093590d2823a083c2a745077df",
    "tatoeba/fix_language/et_et_train_s2.txt": "19e397963d32627acbc0a0553c5f2f125f1838f26cb2a397aeb206c2a7acfb00",
    "tatoeba/fix_language/it_et_train.txt": "1817a8e10c551c03c96bf86f6d645b096c50a916a06a894f0948e93dcc96d151",
    "tatoeba/main/de_train.txt": "cc787b4408cb1af7da871dd2f996ab2ce51a5e31ab115fe6125e79754a9b17b0",
    "tatoeba/main/en_train.txt": "fbca1e94600f812a7ee120b2d78f15af88560d20b851be3a41ef2f911b261456",
    "tatoeba/main/fr_train.txt": "0dede4c6d1b5ccb78be808db69f469ed1ac6ee4c066d1a3b16d43b228cff4332",
    "tatoeba/main/it_train.txt": "495504ee494a6e59d6b446ece735d08009b6ea3e6b045b8bba6d76910faeabe4",
}

_NLTK = "https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages"
_CLINC_EVAL = "https://raw.githubusercontent.com/clinc/oos-eval/master"
_AUTHORS = (
    "https://raw.githubusercontent.com/sayemimtiaz/DecomposeRNNintoModules/"
    "c163e5653171269cd4fb6826bd6f63981a68606a"
)
_TATOEBA_MAIN = "relu_models/many_to_many_different/many_to_many_different_rolled/Tatoeba"


@dataclass(frozen=True)
class Download:
    """One file fetched from a public URL, kept at ``keep_as`` and/or unpacked (``members``:
    archive member name or path suffix → destination relative to the data root)."""

    url: str
    keep_as: str | None = None
    members: dict[str, str] = field(default_factory=dict)

    @property
    def targets(self) -> list[str]:
        return ([self.keep_as] if self.keep_as else []) + list(self.members.values())


@dataclass(frozen=True)
class Dataset:
    """A task's files: ``required`` ones its loader reads, ``files`` the full published layout."""

    task: str
    folder: str
    files: tuple[str, ...]
    required: tuple[str, ...]
    downloads: tuple[Download, ...] = ()
    source: str = ""
    licence: str = ""
    manual: str | None = None


def _under(prefix: str) -> tuple[str, ...]:
    return tuple(sorted(k for k in CHECKSUMS if k.startswith(prefix + "/")))


_CLINC_CSVS = ("train", "val", "test", "train_ood", "val_ood", "test_ood")
_PUNKT = ("abbrev_types.txt", "collocations.tab", "ortho_context.tab", "sent_starters.txt")
_UA = ("en", "fr", "de", "it", "ua")
_ET = ("de_et_train", "en_et_train", "en_et_train_s2", "et_et_train", "et_et_train_s2")

DATASETS: dict[str, Dataset] = {
    "clinc": Dataset(
        "clinc",
        "clinc_oos",
        _under("clinc_oos"),
        ("clinc_oos/train.csv", "clinc_oos/test.csv"),
        (
            Download(
                "https://github.com/jereliu/datasets/raw/master/clinc_oos.zip",
                keep_as="clinc_oos/clinc_oos.zip",
                members={f"{n}.csv": f"clinc_oos/{n}.csv" for n in _CLINC_CSVS},
            ),
            Download(f"{_CLINC_EVAL}/data/domains.json", keep_as="clinc_oos/domains.json"),
            Download(f"{_CLINC_EVAL}/LICENSE", keep_as="clinc_oos/LICENSE"),
        ),
        source="the archive TensorFlow Datasets' clinc_oos builder downloads; clinc/oos-eval",
        licence="CC-BY-3.0",
    ),
    "brown": Dataset(
        "brown",
        "brown",
        _under("brown"),
        ("brown/nltk_data/corpora/brown.zip", "brown/nltk_data/taggers/universal_tagset.zip"),
        (
            Download(f"{_NLTK}/corpora/brown.zip", keep_as="brown/nltk_data/corpora/brown.zip"),
            Download(
                f"{_NLTK}/taggers/universal_tagset.zip",
                keep_as="brown/nltk_data/taggers/universal_tagset.zip",
            ),
            Download(
                f"{_NLTK}/tokenizers/punkt_tab.zip",
                members={
                    f"punkt_tab/english/{n}": f"brown/nltk_data/tokenizers/punkt_tab/english/{n}"
                    for n in _PUNKT
                },
            ),
        ),
        source="the NLTK data index (github.com/nltk/nltk_data, gh-pages)",
        licence="Brown: non-commercial use; universal tagset: Apache-2.0",
    ),
    "mathqa": Dataset(
        "mathqa",
        "mathqa",
        ("mathqa/test.json",),
        ("mathqa/test.json",),
        (
            Download(
                "https://math-qa.github.io/math-QA/data/MathQA.zip",
                members={"test.json": "mathqa/test.json"},
            ),
        ),
        source="math-qa.github.io (the archive TensorFlow Datasets' math_qa builder downloads)",
        licence="Apache-2.0",
    ),
    "emotions": Dataset(
        "emotions",
        "semeval2018_ec",
        _under("semeval2018_ec"),
        _under("semeval2018_ec"),
        (
            Download(
                "https://saifmohammad.com/WebDocs/AIT-2018/AIT2018-DATA/"
                "SemEval2018-Task1-all-data.zip",
                members={
                    f"English/E-c/2018-E-c-En-{s}.txt": f"semeval2018_ec/2018-E-c-En-{s}.txt"
                    for s in ("train", "dev")
                },
            ),
        ),
        source="SemEval-2018 Task 1 (Affect in Tweets) official release, saifmohammad.com",
        licence="research use (terms of the SemEval-2018 Task 1 release)",
    ),
    "tatoeba": Dataset(
        "tatoeba",
        "tatoeba",
        _under("tatoeba"),
        tuple(f"tatoeba/main/{lang}_train.txt" for lang in ("en", "fr", "de", "it")),
        (
            Download(f"{_AUTHORS}/LICENSE", keep_as="tatoeba/LICENSE"),
            *(
                Download(
                    f"{_AUTHORS}/{_TATOEBA_MAIN}/{lang}_train.txt", f"tatoeba/main/{lang}_train.txt"
                )
                for lang in ("en", "fr", "de", "it")
            ),
            *(
                Download(
                    f"{_AUTHORS}/motivating_example/problem1/Tatoeba/{lang}_ua_train_original.txt",
                    f"tatoeba/add_language/{lang}_ua_train_original.txt",
                )
                for lang in _UA
            ),
            *(
                Download(
                    f"{_AUTHORS}/motivating_example/problem2/Tatoeba/{n}.txt",
                    f"tatoeba/fix_language/{n}.txt",
                )
                for n in _ET
            ),
        ),
        source="the paper authors' repository sayemimtiaz/DecomposeRNNintoModules (MIT)",
        licence="sentences CC-BY 2.0 FR (tatoeba.org); files MIT",
    ),
    "toxic": Dataset(
        "toxic",
        "toxic",
        ("toxic/train.csv", "toxic/test.csv", "toxic/test_labels.csv"),
        ("toxic/train.csv",),
        source="Kaggle 'Jigsaw Toxic Comment Classification Challenge' (login required)",
        licence="CC0 text, Kaggle competition rules",
        manual=(
            "The Jigsaw toxic comments need a Kaggle account, so rnnmod cannot download them:\n"
            "  1. sign in at https://www.kaggle.com and accept the rules of\n"
            "     https://www.kaggle.com/c/jigsaw-toxic-comment-classification-challenge\n"
            "  2. download train.csv.zip, test.csv.zip and test_labels.csv.zip (or run\n"
            "     `kaggle competitions download -c jigsaw-toxic-comment-classification-challenge`)\n"
            "  3. unzip them so that {dir}/train.csv, test.csv and test_labels.csv exist\n"
            "     (train.csv alone also works: it is then re-split 80/20)"
        ),
    ),
}


def sha256_of(path: Path) -> str:
    return sha256_file(path)


def file_status(data_dir: Path, rel: str) -> str:
    """``ok``, ``missing``, ``checksum mismatch`` or ``unverified`` (no known checksum)."""
    path = data_dir / rel
    if not path.is_file():
        return "missing"
    expected = CHECKSUMS.get(rel)
    if expected is None:
        return "unverified"
    return "ok" if sha256_of(path) == expected else "checksum mismatch"


def check_dataset(data_dir: Path, task: str) -> dict:
    """``complete`` (every published file verified), ``present`` (the loader's files are there,
    something else is off or unverifiable) or ``missing``; with per-file states."""
    ds = DATASETS[task]
    files = {rel: file_status(data_dir, rel) for rel in ds.files}
    if any(files[r] == "missing" for r in ds.required):
        status = "missing"
    elif all(s == "ok" for s in files.values()):
        status = "complete"
    else:
        status = "present"
    problems = [f"{rel}: {s}" for rel, s in files.items() if s != "ok"]
    return {"status": status, "folder": ds.folder, "files": files, "problems": problems}


def check_data_dir(data_dir: Path) -> dict[str, dict]:
    return {task: check_dataset(data_dir, task) for task in DATASETS}


# ---------------------------------------------------------------- downloading
def _progress(total: int | None, desc: str, quiet: bool):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=quiet,
        file=sys.stderr,
        leave=False,
    )


def _download(url: str, dest_dir: Path, label: str, quiet: bool) -> Path:
    """Stream ``url`` into a temporary file inside ``dest_dir`` (same filesystem → atomic rename)."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".rnnmod-", suffix=".part", dir=dest_dir)
    tmp = Path(tmp_name)
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "rnnmod-data-fetch"})
        with urllib.request.urlopen(req, timeout=60) as resp, os.fdopen(fd, "wb") as out:
            length = resp.headers.get("Content-Length")
            with _progress(int(length) if length else None, label, quiet) as bar:
                for block in iter(lambda: resp.read(1 << 16), b""):
                    out.write(block)
                    bar.update(len(block))
    except (urllib.error.URLError, OSError, ValueError) as e:
        tmp.unlink(missing_ok=True)
        reason = getattr(e, "reason", None) or e
        raise RnnmodError(f"cannot download {url}: {reason}") from None
    return tmp


def _install(tmp: Path, data_dir: Path, rel: str, url: str) -> None:
    """Verify ``tmp`` against the recorded checksum of ``rel``, then rename it into place."""
    expected = CHECKSUMS.get(rel)
    got = sha256_of(tmp)
    if expected is not None and got != expected:
        tmp.unlink(missing_ok=True)
        raise RnnmodError(
            f"checksum mismatch for {rel} from {url}: expected sha256 {expected[:12]}…, got "
            f"{got[:12]}…; the source changed or the download is corrupt (nothing was written)"
        )
    dest = data_dir / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, dest)


def _member(zf: zipfile.ZipFile, name: str) -> str:
    names = zf.namelist()
    if name in names:
        return name
    hits = [n for n in names if n.endswith("/" + name)]
    if len(hits) != 1:
        raise RnnmodError(f"archive {zf.filename}: expected one member {name!r}, found {len(hits)}")
    return hits[0]


def _extract(archive: Path, members: dict[str, str], data_dir: Path, url: str) -> list[str]:
    written = []
    try:
        with zipfile.ZipFile(archive) as zf:
            for name, rel in members.items():
                dest = data_dir / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp_name = tempfile.mkstemp(prefix=".rnnmod-", suffix=".part", dir=dest.parent)
                with zf.open(_member(zf, name)) as src, os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(src, out)
                _install(Path(tmp_name), data_dir, rel, url)
                written.append(rel)
    except zipfile.BadZipFile:
        raise RnnmodError(f"{url} is not a valid zip archive") from None
    return written


def fetch_dataset(
    task: str,
    data_dir: Path,
    *,
    base_url: str | None = None,
    force: bool = False,
    quiet: bool = False,
) -> dict:
    """Download ``task``'s files into ``data_dir``; files already verified are left alone.

    Returns ``{"written": [...], "skipped": [...]}`` (paths relative to ``data_dir``).
    """
    if task not in DATASETS:
        raise RnnmodError(f"unknown dataset {task!r}; available: {', '.join(sorted(DATASETS))}")
    ds = DATASETS[task]
    if ds.manual:
        if check_dataset(data_dir, task)["status"] != "missing":
            return {"written": [], "skipped": list(ds.required), "manual": True}
        print(ds.manual.format(dir=data_dir / ds.folder), file=sys.stderr)
        raise RnnmodError(
            f"{task} cannot be downloaded automatically; follow the steps above to put the files "
            f"in {data_dir / ds.folder}"
        )
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RnnmodError(f"cannot create data directory {data_dir}: {e.strerror}") from None
    todo = {rel for rel in ds.files if force or file_status(data_dir, rel) != "ok"}
    written: list[str] = []
    try:
        if base_url is not None:
            for rel in sorted(todo):
                url = base_url.rstrip("/") + "/" + urllib.parse.quote(rel)
                tmp = _download(url, (data_dir / rel).parent, rel, quiet)
                _install(tmp, data_dir, rel, url)
                written.append(rel)
        else:
            for dl in ds.downloads:
                if not todo.intersection(dl.targets):
                    continue
                where = data_dir / (dl.keep_as or ds.folder)
                label = dl.keep_as or dl.url.rsplit("/", 1)[-1]
                tmp = _download(dl.url, where.parent if dl.keep_as else where, label, quiet)
                try:
                    if dl.members:
                        written += _extract(tmp, dl.members, data_dir, dl.url)
                    if dl.keep_as:
                        _install(tmp, data_dir, dl.keep_as, dl.url)
                        written.append(dl.keep_as)
                finally:
                    tmp.unlink(missing_ok=True)
    except PermissionError as e:
        raise RnnmodError(f"cannot write into {data_dir}: {e.strerror} ({e.filename})") from None
    return {"written": sorted(written), "skipped": sorted(set(ds.files) - set(written))}
