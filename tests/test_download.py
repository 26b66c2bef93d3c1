"""`kws-train download` against a local HTTP server on 127.0.0.1 (this machine has no internet)."""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import make_tiny_dataset

from kwstrain import download as DL
from kwstrain.cli import main


def _tar_gz(src: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in sorted(os.listdir(src)):
            tar.add(os.path.join(src, name), arcname=name)
    return buf.getvalue()


class Server:
    """Serves ``files`` (name -> bytes) with HTTP range support; ``cut_after`` makes the
    next response stop after that many bytes (a dropped connection)."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.cut_after: int | None = None
        self.lie_length: int | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                outer.requests.append((self.path, rng))
                body = outer.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                if start >= len(body) and rng:
                    self.send_error(416)
                    return
                part = body[start:]
                self.send_response(206 if rng else 200)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(outer.lie_length or len(part)))
                self.end_headers()
                if outer.cut_after is not None:
                    part, outer.cut_after = part[: outer.cut_after], None
                    self.wfile.write(part)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(part)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    root = tmp_path_factory.mktemp("dl")
    data = make_tiny_dataset(str(root / "src"), words=("yes", "no", "cat"), speakers=3)
    test = root / "test_src"
    for label in ("_unknown_", "yes"):
        os.makedirs(test / label)
        (test / label / "00000001_nohash_0.wav").write_bytes(open(os.path.join(data, "yes", os.listdir(
            os.path.join(data, "yes"))[0]), "rb").read())
    return {"data": _tar_gz(data), "test": _tar_gz(str(test)),
            "n_data": sum(len(fs) for _, _, fs in os.walk(data)), "n_test": 2}


@pytest.fixture
def server(archives, monkeypatch):
    srv = Server({"sc_data.tar.gz": archives["data"], "sc_test.tar.gz": archives["test"]})
    # The published sizes/checksums are for the real archives; describe ours the same way.
    for kind, name in (("data", "sc_data.tar.gz"), ("test", "sc_test.tar.gz")):
        body = archives[kind]
        monkeypatch.setitem(DL.ARCHIVES, ("v0.02", kind), DL.Archive(name, len(body), hashlib.sha256(body).hexdigest()))
    yield srv
    srv.close()


def _run(server, dest, *extra):
    return main(["download", "--dir", str(dest), "--base-url", server.url, *extra])


def _files(folder) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs}


def test_downloads_verifies_and_unpacks(server, archives, tmp_path, capsys):
    dest = tmp_path / "sc"
    assert _run(server, dest, "--test-set") == 0
    out, err = capsys.readouterr()
    files = _files(dest)
    assert len(files) == archives["n_data"]
    assert "validation_list.txt" in files and os.path.join("yes", sorted(os.listdir(dest / "yes"))[0]) in files
    assert _files(str(dest) + "_test_set") == {"_unknown_/00000001_nohash_0.wav", "yes/00000001_nohash_0.wav"}
    assert "SHA-256 verified" in out and f"{archives['n_data']} files from sc_data.tar.gz" in out
    assert "100.0%" in err  # the progress bar reached the end
    assert not any(n.endswith(".part") for n in os.listdir(dest))  # archive removed after unpacking


def test_refuses_non_empty_folder_without_force(server, tmp_path, capsys):
    dest = tmp_path / "sc"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep me")
    assert _run(server, dest) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not empty" in err[0] and "--force" in err[0]
    assert server.requests == []  # refused before downloading anything
    assert _run(server, dest, "--force") == 0
    assert (dest / "mine.txt").read_text() == "keep me" and (dest / "yes").is_dir()


def test_resumes_after_a_broken_connection(server, archives, tmp_path, capsys):
    dest = tmp_path / "sc"
    half = len(archives["data"]) // 2
    server.cut_after = half
    assert _run(server, dest, "--quiet") == 1
    err = capsys.readouterr().err
    assert "run the command again to resume" in err and "Traceback" not in err
    part = dest / ".sc_data.tar.gz.part"
    assert part.stat().st_size == half
    assert not (dest / "yes").exists()  # nothing unpacked from a partial archive
    assert _run(server, dest, "--quiet") == 0  # the partial file does not count as "not empty"
    assert server.requests[-1] == ("/sc_data.tar.gz", f"bytes={half}-")
    assert len(_files(dest)) == archives["n_data"]


def test_checksum_mismatch_deletes_the_download(server, archives, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(DL.ARCHIVES, ("v0.02", "data"), DL.Archive("sc_data.tar.gz", len(archives["data"]), "0" * 64))
    dest = tmp_path / "sc"
    assert _run(server, dest, "--quiet") == 1
    err = capsys.readouterr().err
    assert "does not match the published" in err
    assert _files(dest) == set()


def test_wrong_size_is_refused_before_downloading(server, archives, tmp_path, capsys):
    server.lie_length = len(archives["data"]) + 1000
    dest = tmp_path / "sc"
    assert _run(server, dest, "--quiet") == 1
    assert "the server offers" in capsys.readouterr().err
    assert _files(dest) == set()


def test_unreachable_server_and_missing_file(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(DL.ARCHIVES, ("v0.02", "data"), DL.Archive("missing.tar.gz", 10, None))
    assert _run(server, tmp_path / "a", "--quiet") == 1
    assert "HTTP 404" in capsys.readouterr().err
    dead = "http://127.0.0.1:9/"  # discard port: nothing listens
    assert main(["download", "--dir", str(tmp_path / "b"), "--base-url", dead, "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot reach" in err[0]


def test_unsafe_archive_is_not_unpacked(tmp_path, monkeypatch, capsys):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    body = buf.getvalue()
    srv = Server({"evil.tar.gz": body})
    try:
        monkeypatch.setitem(DL.ARCHIVES, ("v0.02", "data"),
                            DL.Archive("evil.tar.gz", len(body), hashlib.sha256(body).hexdigest()))
        assert _run(srv, tmp_path / "sc", "--quiet") == 1
    finally:
        srv.close()
    assert "cannot unpack" in capsys.readouterr().err
    assert not (tmp_path / "escaped.txt").exists()
    assert not any(n.endswith(".unpacking") for n in os.listdir(tmp_path))


def test_official_archives_are_described():
    for version in ("v0.01", "v0.02"):
        a = DL.ARCHIVES[(version, "data")]
        assert a.name == f"speech_commands_{version}.tar.gz" and a.size > 10**9 and len(a.sha256) == 64
        assert DL.ARCHIVES[(version, "test")].name == f"speech_commands_test_set_{version}.tar.gz"
