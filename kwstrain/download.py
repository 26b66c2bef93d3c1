"""``kws-train download``: fetch and unpack the official Speech Commands archives.

The archive is streamed into ``DIR/.<archive>.part`` while its SHA-256 is computed, so an
interrupted download resumes with an HTTP range request when the command is run again.
It is checked against the published size and SHA-256 before anything is unpacked, and
unpacked into a temporary folder beside ``DIR`` that is renamed into place only when
complete; a failed check or unpack leaves no half-written dataset behind.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from kwsapp.core.errors import KwsError

from . import dataset as D

log = logging.getLogger(__name__)

BASE_URL = "https://storage.googleapis.com/download.tensorflow.org/data/"


@dataclass(frozen=True)
class Archive:
    name: str  # file name under BASE_URL
    size: int | None  # bytes, as published; None: take the server's Content-Length
    sha256: str | None  # None: no published checksum known; the computed one is printed


# Sizes and SHA-256 as published by TensorFlow Datasets / torchaudio for these archives.
ARCHIVES = {
    ("v0.02", "data"): Archive("speech_commands_v0.02.tar.gz", 2_428_923_189,
                               "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"),
    ("v0.02", "test"): Archive("speech_commands_test_set_v0.02.tar.gz", 112_563_277,
                               "cc2a00c1147c2254e9be3fa0f779d8c17421dc349b86366567a8edfa9acd51df"),
    ("v0.01", "data"): Archive("speech_commands_v0.01.tar.gz", 1_489_096_277,
                               "743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d"),
    ("v0.01", "test"): Archive("speech_commands_test_set_v0.01.tar.gz", None, None),
}

_CHUNK = 1 << 20


class Progress:
    """A one-line progress bar on stderr (a line per 10% when stderr is not a terminal)."""

    def __init__(self, name: str, total: int | None, done: int = 0, quiet: bool = False):
        self.name, self.total, self.start_bytes = name, total, done
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.t0 = self.last = time.monotonic()
        self.last_decile = -1

    def update(self, done: int, final: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        frac = done / self.total if self.total else 0.0
        if self.tty and not final and now - self.last < 0.1:
            return
        if not self.tty and not final and int(frac * 10) == self.last_decile:
            return
        self.last, self.last_decile = now, int(frac * 10)
        rate = (done - self.start_bytes) / max(now - self.t0, 1e-6)
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        total = f"{self.total / 1e6:,.1f}" if self.total else "?"
        eta = f" ETA {int((self.total - done) / rate)} s" if self.total and rate > 0 and not final else ""
        line = f"{self.name} [{bar}] {100 * frac:5.1f}% {done / 1e6:,.1f}/{total} MB {rate / 1e6:.1f} MB/s{eta}"
        sys.stderr.write(("\r" + line + " " * 4) if self.tty else line + "\n")
        if final and self.tty:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _open(url: str, offset: int, timeout: float):
    req = urllib.request.Request(url, headers={"User-Agent": "kws-train"})
    if offset:
        req.add_header("Range", f"bytes={offset}-")
    try:
        return urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # the partial file is already complete (or longer)
            return None
        raise KwsError(f"{url}: the server answered HTTP {e.code} ({e.reason}); check --base-url") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise KwsError(f"cannot reach {url} ({reason}); check the internet connection or --base-url, "
                       "then run the command again (it resumes)") from None


def _hash_file(path: str) -> tuple["hashlib._Hash", int]:
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            n += len(chunk)
    return h, n


def fetch(url: str, part: str, archive: Archive, quiet: bool = False, timeout: float = 60.0) -> str:
    """Download ``url`` into ``part`` (resuming what is there); verify; return the SHA-256."""
    h, have = _hash_file(part) if os.path.exists(part) else (hashlib.sha256(), 0)
    expected = archive.size
    if expected is not None and have > expected:  # not a prefix of this archive: start again
        os.remove(part)
        h, have = hashlib.sha256(), 0
    if expected is None or have < expected:
        resp = _open(url, have, timeout)
        if resp is not None:
            with resp:
                if have and resp.status != 206:  # the server ignored the range: start again
                    h, have = hashlib.sha256(), 0
                length = resp.headers.get("Content-Length")
                offered = have + int(length) if length is not None else None
                if expected is not None and offered is not None and offered != expected:
                    raise KwsError(f"{url}: the server offers {offered:,} bytes but the archive has "
                                   f"{expected:,}; check --base-url (wrong file or a changed archive)")
                expected = expected if expected is not None else offered
                bar = Progress(archive.name, expected, have, quiet)
                try:
                    with open(part, "ab" if have else "wb") as f:
                        while chunk := resp.read(_CHUNK):
                            f.write(chunk)
                            h.update(chunk)
                            have += len(chunk)
                            bar.update(have)
                except (OSError, http.client.HTTPException) as e:
                    raise KwsError(f"{archive.name}: download broke off after {have:,} bytes ({e or type(e).__name__}); "
                                   "run the command again to resume") from None
                bar.update(have, final=True)
    digest = h.hexdigest()
    if expected is not None and have != expected:
        raise KwsError(f"{archive.name}: download stopped at {have:,} of {expected:,} bytes; "
                       "run the command again to resume")
    if archive.sha256 is not None and digest != archive.sha256:
        os.remove(part)
        raise KwsError(f"{archive.name}: SHA-256 {digest} does not match the published {archive.sha256}; "
                       "the corrupt download was deleted, run the command again")
    return digest


def _is_empty(folder: str) -> bool:
    """True if ``folder`` is missing or holds nothing but our own partial downloads."""
    if not os.path.isdir(folder):
        return True
    return all(n.startswith(".") and n.endswith(".part") for n in os.listdir(folder))


def unpack(archive_path: str, dest: str) -> int:
    """Unpack into a temporary sibling of ``dest`` and move the entries in; return files unpacked."""
    parent = os.path.dirname(os.path.abspath(dest))
    tmp = os.path.join(parent, f".{os.path.basename(os.path.abspath(dest))}.unpacking")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        with tarfile.open(archive_path, "r:*") as tar:
            members = tar.getmembers()
            # filter="data" refuses absolute paths, '..', links out of the folder and devices.
            tar.extractall(tmp, filter="data")
        os.makedirs(dest, exist_ok=True)
        for name in os.listdir(tmp):
            target = os.path.join(dest, name)
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            elif os.path.lexists(target):
                os.remove(target)
            os.replace(os.path.join(tmp, name), target)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise KwsError(f"{archive_path}: cannot unpack ({e}); delete it and run the command again") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return sum(1 for m in members if m.isfile())


def download(archive: Archive, dest: str, base_url: str = BASE_URL, force: bool = False,
             keep_archive: bool = False, quiet: bool = False) -> dict:
    """Fetch, verify and unpack one archive into ``dest``."""
    if not force and not _is_empty(dest):
        raise KwsError(f"{dest} is not empty; choose an empty --dir or pass --force to unpack over it")
    try:
        os.makedirs(dest, exist_ok=True)
    except OSError as e:
        raise KwsError(f"cannot create {dest} ({e.strerror}); choose another --dir") from None
    part = os.path.join(dest, f".{archive.name}.part")
    url = base_url.rstrip("/") + "/" + archive.name
    try:
        digest = fetch(url, part, archive, quiet)
    except KeyboardInterrupt:
        size = os.path.getsize(part) if os.path.exists(part) else 0
        log.warning("interrupted after %s MB; run the same command again to resume (or delete %s)",
                    f"{size / 1e6:,.1f}", part)
        raise
    files = unpack(part, dest)
    if keep_archive:
        os.replace(part, os.path.join(dest, archive.name))
    else:
        os.remove(part)
    return {"archive": archive.name, "files": files, "sha256": digest, "verified": archive.sha256 is not None}


def cmd_download(args) -> int:
    test_dir = args.test_dir or os.path.normpath(args.dir) + "_test_set"
    jobs = [] if args.only_test_set else [(ARCHIVES[(args.version, "data")], args.dir)]
    if args.test_set or args.only_test_set:
        jobs.append((ARCHIVES[(args.version, "test")], test_dir))
    for archive, dest in jobs:  # refuse before downloading anything
        if not args.force and not _is_empty(dest):
            raise KwsError(f"{dest} is not empty; choose an empty folder or pass --force to unpack over it")
    for archive, dest in jobs:
        r = download(archive, dest, args.base_url, args.force, args.keep_archive, args.quiet)
        check = "SHA-256 verified" if r["verified"] else f"no published checksum; SHA-256 {r['sha256']}"
        print(f"{dest}: {r['files']:,} files from {r['archive']} ({check})")
    if not args.only_test_set:
        print(f"train with: kws-train train --data-dir {args.dir}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("download", help="download and unpack the Speech Commands dataset",
                       description="Download the official Speech Commands archive (and optionally its canonical "
                                   "test set), verify its size and SHA-256, and unpack it. An interrupted "
                                   "download resumes when the same command is run again.")
    p.add_argument("--version", choices=["v0.02", "v0.01"], default="v0.02",
                   help="dataset version (default: v0.02, 105,829 clips, 2.4 GB; v0.01: 64,727 clips, 1.5 GB)")
    # The default is --data-dir's default, so `kws-train download` then `kws-train train` just work.
    p.add_argument("--dir", default=D.default_data_dir(),
                   help=f"folder to unpack the dataset into (must be empty; default: ${D.DATA_DIR_ENV}, else the "
                        f"per-user folder, now {D.default_data_dir()})")
    p.add_argument("--test-set", action="store_true", help="also fetch the canonical test set (v0.02: 113 MB)")
    p.add_argument("--only-test-set", action="store_true", help="fetch only the canonical test set")
    p.add_argument("--test-dir", default=None, help="folder for the test set (default: <dir>_test_set)")
    p.add_argument("--force", action="store_true", help="unpack into a folder that is not empty")
    p.add_argument("--keep-archive", action="store_true", help="keep the .tar.gz after unpacking")
    p.add_argument("--base-url", default=BASE_URL, help=f"where the archives are (default: {BASE_URL})")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_download)
