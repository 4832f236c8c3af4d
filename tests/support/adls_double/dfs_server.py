"""A loopback test double of Azure Data Lake Storage Gen2 (dfs REST API plus the blob reads).

TEST DOUBLE, NOT AN EMULATOR. There is no ADLS Gen2 emulator that runs here, and Azurite
rejects the hierarchical-namespace (dfs) operations. This server implements, in memory, exactly
the documented REST operations LandShift's lake code and GDAL use, strictly enough that the real
``azure-storage-file-datalake`` SDK and GDAL's ``/vsiaz/`` talk to it unchanged:

dfs:  PUT ?resource=filesystem | PUT ?resource=file|directory | PATCH ?action=append&position=
      | PATCH ?action=flush&position= | PUT with x-ms-rename-source | GET ?resource=filesystem
      &recursive=&directory=&continuation=&maxResults= (list paths) | DELETE ?recursive=
      | HEAD (path properties)
blob: GET with Range / x-ms-range (download, GDAL range reads) | HEAD (blob properties)

Shared Key signatures are verified against the account key (Azurite's published development
key by default; ``--account-key``); a SAS (``sig=``) or a bearer token is accepted unchecked.
URLs are path-style: ``http://127.0.0.1:<port>/<account>/<filesystem>/<path>``. Test-only control
routes, without auth: ``POST /_double/fail-rename?after=N`` (the rename after N more succeeds
answers 400 ``InjectedFailure``), ``GET /_double/requests`` (the request log as JSON).

Run it as ``python -m support.adls_double.dfs_server --port 0``: it prints ``READY <port>`` once listening,
binds 127.0.0.1 only, and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import base64
import email.utils
import hashlib
import hmac
import json
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, parse_qsl, unquote, urlparse

ACCOUNT = "devstoreaccount1"
# Azurite's published development key (public, not a secret).
DEV_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
PAGE_SIZE = 1000
SIGNED_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)


def shared_key_signature(key: str, method: str, raw_path: str, headers: dict[str, str], sign_range: bool) -> str:
    """The Shared Key signature of a request (Azure Storage "Authorize with Shared Key")."""
    headers = {name.lower(): value for name, value in headers.items()}
    if headers.get("content-length") == "0":
        del headers["content-length"]
    url = urlparse(raw_path)
    standard = [headers.get(name, "") if name != "range" or sign_range else "" for name in SIGNED_HEADERS]
    canonical_headers = "".join(f"{n}:{v.strip()}\n" for n, v in sorted(headers.items()) if n.startswith("x-ms-"))
    query: dict[str, list[str]] = {}
    for name, value in parse_qsl(url.query, keep_blank_values=True):
        query.setdefault(name.lower(), []).append(value)
    canonical_query = "".join(f"\n{n}:{','.join(sorted(v))}" for n, v in sorted(query.items()))
    string_to_sign = method + "\n" + "\n".join(standard) + "\n" + canonical_headers
    string_to_sign += f"/{ACCOUNT}{url.path}{canonical_query}"
    digest = hmac.new(base64.b64decode(key), string_to_sign.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass
class Node:
    """A file or directory of one filesystem."""

    is_directory: bool
    data: bytearray = field(default_factory=bytearray)
    committed: int = 0
    modified: float = field(default_factory=time.time)

    @property
    def etag(self) -> str:
        return (
            '"0x' + hashlib.md5(bytes(self.data[: self.committed]) + str(self.modified).encode()).hexdigest()[:16] + '"'
        )


class Store:
    """In-memory filesystems: {filesystem: {path: Node}}."""

    def __init__(self, account_key: str = DEV_ACCOUNT_KEY, page_size: int = PAGE_SIZE) -> None:
        self.account_key = account_key
        self.page_size = page_size
        self.filesystems: dict[str, dict[str, Node]] = {}
        self.lock = threading.RLock()
        self.requests: list[str] = []
        self.fail_renames_after = -1  # fault injection: the rename after this many succeeds fails

    def rename_allowed(self) -> bool:
        """False once, when the injected rename failure is due."""
        if self.fail_renames_after == 0:
            self.fail_renames_after = -1
            return False
        if self.fail_renames_after > 0:
            self.fail_renames_after -= 1
        return True

    def ensure_parents(self, fs: dict[str, Node], path: str) -> bool:
        """Create the missing parent directories of ``path``; False if a parent is a file."""
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            parent = fs.setdefault("/".join(parts[:i]), Node(is_directory=True))
            if not parent.is_directory:
                return False
        return True


class Handler(BaseHTTPRequestHandler):
    """One request against the store."""

    server_version = "LandShiftAdlsDouble/1.0"
    protocol_version = "HTTP/1.1"

    @property
    def store(self) -> Store:
        return self.server.store  # type: ignore[attr-defined]

    def log_message(self, format: str, *args) -> None:
        return

    # -- helpers ------------------------------------------------------------------------------
    def _parts(self) -> tuple[str, str, dict[str, list[str]]]:
        url = urlparse(self.path)
        segments = unquote(url.path).lstrip("/").split("/", 2)
        segments = segments[1:] if segments and segments[0] == ACCOUNT else unquote(url.path).lstrip("/").split("/", 1)
        filesystem = segments[0] if segments else ""
        path = segments[1].strip("/") if len(segments) > 1 else ""
        return filesystem, path, parse_qs(url.query)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("x-ms-request-id", hashlib.md5(str(time.time()).encode()).hexdigest())
        self.send_header("x-ms-version", self.headers.get("x-ms-version", "2025-01-05"))
        self.send_header("Date", email.utils.formatdate(usegmt=True))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.command != "HEAD" or "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        self._send(status, body, {"Content-Type": "application/json", "x-ms-error-code": code})

    def _authorised(self, query: dict) -> bool:
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer ") or "sig" in query:
            return True
        if header.startswith(f"SharedKey {ACCOUNT}:"):
            signature = header.split(":", 1)[1]
            headers = dict(self.headers.items())
            # Spec: the Range header is signed; the Python SDK sends x-ms-range and leaves it empty.
            if any(
                hmac.compare_digest(
                    signature,
                    shared_key_signature(self.store.account_key, self.command, self.path, headers, sign_range),
                )
                for sign_range in (True, False)
            ):
                return True
            self._error(403, "AuthenticationFailed", "The MAC signature found in the HTTP request is not valid.")
            return False
        self._error(403, "AuthenticationFailed", "Server failed to authenticate the request.")
        return False

    def _control(self) -> bool:
        """Test-only routes under /_double/ (fault injection, request log)."""
        url = urlparse(self.path)
        if not url.path.startswith("/_double/"):
            return False
        self._body()
        query = parse_qs(url.query)
        if url.path == "/_double/fail-rename":
            self.store.fail_renames_after = int(query.get("after", ["0"])[0])
            self._send(204)
        elif url.path == "/_double/requests":
            self._send(200, json.dumps(self.store.requests).encode(), {"Content-Type": "application/json"})
        else:
            self._error(404, "UnknownControlRoute", url.path)
        return True

    def _node_headers(self, node: Node) -> dict[str, str]:
        headers = {
            "ETag": node.etag,
            "Last-Modified": email.utils.formatdate(node.modified, usegmt=True),
            "x-ms-resource-type": "directory" if node.is_directory else "file",
            "Accept-Ranges": "bytes",
        }
        if node.is_directory:
            headers["x-ms-meta-hdi_isfolder"] = "true"
        else:
            headers["x-ms-blob-type"] = "BlockBlob"
            headers["Content-Type"] = "application/octet-stream"
        return headers

    def _accept(self, verb: str) -> tuple[str, str, dict[str, list[str]], bytes] | None:
        """Parse, log and authorise a data request: None when it was a control call or was refused
        (and has been answered)."""
        if self._control():
            return None
        name, path, query = self._parts()
        body = self._body()
        self.store.requests.append(f"{verb} {self.path}")
        if not self._authorised(query):
            return None
        return name, path, query, body

    # -- verbs ----------------------------------------------------------------------------------
    def do_PUT(self) -> None:
        if (request := self._accept("PUT")) is None:
            return
        name, path, query, body = request
        with self.store.lock:
            if query.get("resource") == ["filesystem"] or query.get("restype") == ["container"]:
                if name in self.store.filesystems:
                    return self._error(409, "FilesystemAlreadyExists", "The specified filesystem already exists.")
                self.store.filesystems[name] = {}
                return self._send(201, headers={"ETag": '"0x1"', "Last-Modified": email.utils.formatdate(usegmt=True)})
            fs = self.store.filesystems.get(name)
            if fs is None:
                return self._error(404, "FilesystemNotFound", "The specified filesystem does not exist.")
            source = self.headers.get("x-ms-rename-source")
            if source:
                if not self.store.rename_allowed():
                    return self._error(400, "InjectedFailure", "Rename refused by the test double.")
                return self._rename(fs, unquote(urlparse(source).path), path)
            resource = (query.get("resource") or [None])[0]
            if resource in ("file", "directory"):
                existing = fs.get(path)
                if existing is not None and self.headers.get("If-None-Match") == "*":
                    return self._error(409, "PathAlreadyExists", "The specified path already exists.")
                if existing is not None and existing.is_directory != (resource == "directory"):
                    return self._error(409, "ResourceTypeMismatch", "The resource type does not match.")
                if not self.store.ensure_parents(fs, path):
                    return self._error(409, "ParentNotDirectory", "A parent of the path is a file.")
                if existing is None or resource == "file":  # creating a file truncates; a directory stays
                    fs[path] = Node(is_directory=resource == "directory")
                return self._send(201, headers=self._node_headers(fs[path]))
            if self.headers.get("x-ms-blob-type") == "BlockBlob":  # blob Put Blob (used by tests' set-up)
                self.store.ensure_parents(fs, path)
                fs[path] = Node(is_directory=False, data=bytearray(body), committed=len(body))
                return self._send(201, headers={"ETag": fs[path].etag})
            return self._error(400, "InvalidQueryParameterValue", "Unsupported PUT.")

    def _rename(self, fs: dict[str, Node], source: str, destination: str) -> None:
        segments = source.lstrip("/").split("/")
        if segments and segments[0] == ACCOUNT:
            segments = segments[1:]
        source_path = "/".join(segments[1:]).strip("/")
        if source_path not in fs:
            return self._error(404, "SourcePathNotFound", "The source path for a rename operation does not exist.")
        if destination in fs and self.headers.get("If-None-Match") == "*":
            return self._error(409, "PathAlreadyExists", "The specified path already exists.")
        if destination in fs and fs[destination].is_directory:
            return self._error(409, "PathAlreadyExists", "The destination directory already exists.")
        if destination == source_path or destination.startswith(source_path + "/"):
            return self._error(400, "InvalidDestinationPath", "The destination is inside the source.")
        parent = destination.rpartition("/")[0]
        if parent and (parent not in fs or not fs[parent].is_directory):
            return self._error(
                404, "RenameDestinationParentPathNotFound", "The parent directory of the destination does not exist."
            )
        moved = {p: n for p, n in fs.items() if p == source_path or p.startswith(source_path + "/")}
        for old in moved:
            del fs[old]
        for old, node in moved.items():
            fs[destination + old[len(source_path) :]] = node
        return self._send(201)

    def do_POST(self) -> None:
        if not self._control():
            self._error(405, "UnsupportedHttpVerb", "POST is not supported.")

    def do_PATCH(self) -> None:
        if (request := self._accept("PATCH")) is None:
            return
        name, path, query, body = request
        with self.store.lock:
            fs = self.store.filesystems.get(name)
            node = fs.get(path) if fs is not None else None
            if node is None or node.is_directory:
                return self._error(404, "PathNotFound", "The specified path does not exist.")
            action = (query.get("action") or [None])[0]
            position = int((query.get("position") or ["0"])[0])
            if action == "append":
                if position != len(node.data):
                    return self._error(400, "InvalidFlushPosition", "The uploaded data is not contiguous.")
                node.data.extend(body)
                return self._send(202)
            if action == "flush":
                if position != len(node.data):
                    return self._error(400, "InvalidFlushPosition", "The position does not match the data length.")
                node.committed = position
                node.modified = time.time()
                return self._send(200, headers=self._node_headers(node))
            if action in ("setProperties", "setAccessControl"):
                return self._send(200, headers=self._node_headers(node))
            return self._error(400, "InvalidQueryParameterValue", f"Unsupported action {action}.")

    def do_DELETE(self) -> None:
        if (request := self._accept("DELETE")) is None:
            return
        name, path, query, _ = request
        with self.store.lock:
            fs = self.store.filesystems.get(name)
            if fs is None:
                return self._error(404, "FilesystemNotFound", "The specified filesystem does not exist.")
            if not path:
                del self.store.filesystems[name]
                return self._send(202)
            node = fs.get(path)
            if node is None:
                return self._error(404, "PathNotFound", "The specified path does not exist.")
            children = [p for p in fs if p.startswith(path + "/")]
            if node.is_directory and children and query.get("recursive") != ["true"]:
                return self._error(409, "DirectoryNotEmpty", "The recursive query parameter value must be true.")
            for child in [path, *children]:
                del fs[child]
            return self._send(200)

    def do_HEAD(self) -> None:
        if (request := self._accept("HEAD")) is None:
            return
        name, path, _, _ = request
        with self.store.lock:
            fs = self.store.filesystems.get(name)
            if fs is not None and not path:
                return self._send(200, headers={"ETag": '"0x1"'})
            node = fs.get(path) if fs is not None else None
            if node is None:
                self.send_response(404)
                self.send_header("x-ms-error-code", "BlobNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            headers = {**self._node_headers(node), "Content-Length": str(0 if node.is_directory else node.committed)}
            return self._send(200, headers=headers)

    def do_GET(self) -> None:
        if (request := self._accept("GET")) is None:
            return
        name, path, query, _ = request
        with self.store.lock:
            fs = self.store.filesystems.get(name)
            if fs is None:
                return self._error(404, "FilesystemNotFound", "The specified filesystem does not exist.")
            if not path and query.get("resource") == ["filesystem"]:
                return self._list(fs, query)
            node = fs.get(path)
            if node is None or node.is_directory:
                return self._error(404, "BlobNotFound", "The specified blob does not exist.")
            data = bytes(node.data[: node.committed])
        range_header = self.headers.get("x-ms-range") or self.headers.get("Range")
        headers = self._node_headers(node)
        if range_header:
            match = re.match(r"bytes=(\d+)-(\d*)", range_header)
            start = int(match.group(1))
            end = min(int(match.group(2)) if match.group(2) else len(data) - 1, len(data) - 1)
            if start >= len(data):
                return self._error(416, "InvalidRange", "The range specified is invalid for the current size.")
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return self._send(206, data[start : end + 1], headers)
        return self._send(200, data, headers)

    def _list(self, fs: dict[str, Node], query: dict) -> None:
        directory = unquote((query.get("directory") or [""])[0]).strip("/")
        recursive = query.get("recursive") == ["true"]
        if directory and (directory not in fs or not fs[directory].is_directory):
            return self._error(404, "PathNotFound", "The specified path does not exist.")
        prefix = directory + "/" if directory else ""
        names = sorted(p for p in fs if p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :]))
        start = int((query.get("continuation") or ["0"])[0])
        page_size = min(int((query.get("maxResults") or [str(PAGE_SIZE)])[0]), self.store.page_size)
        page = names[start : start + page_size]
        paths = []
        for p in page:
            node = fs[p]
            entry = {
                "name": p,
                "lastModified": email.utils.formatdate(node.modified, usegmt=True),
                "etag": node.etag.strip('"'),
                "contentLength": "0" if node.is_directory else str(node.committed),
            }
            if node.is_directory:
                entry["isDirectory"] = "true"
            paths.append(entry)
        headers = {"Content-Type": "application/json;charset=utf-8"}
        if start + page_size < len(names):
            headers["x-ms-continuation"] = str(start + page_size)
        return self._send(200, json.dumps({"paths": paths}).encode(), headers)


def serve(port: int = 0, account_key: str = DEV_ACCOUNT_KEY, page_size: int = PAGE_SIZE) -> ThreadingHTTPServer:
    """Start the double on 127.0.0.1 in a background thread; returns the server (``.server_port``)."""
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.store = Store(account_key, page_size)  # type: ignore[attr-defined]
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="adls-double", daemon=True).start()
    return server


def main() -> None:
    """Serve in the foreground until SIGTERM/SIGINT; prints ``READY <port>`` when listening."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--account-key", default=DEV_ACCOUNT_KEY)
    parser.add_argument("--page-size", type=int, default=PAGE_SIZE, help="most paths per list response")
    args = parser.parse_args()
    server = serve(args.port, args.account_key, args.page_size)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"READY {server.server_port}", flush=True)
    stop.wait()
    server.shutdown()
    sys.exit(0)


if __name__ == "__main__":
    main()
