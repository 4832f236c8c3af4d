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

Every request must carry a Shared Key or SAS authorisation (the signature itself is not checked).
URLs are path-style: ``http://127.0.0.1:<port>/<account>/<filesystem>/<path>``.
"""

from __future__ import annotations

import argparse
import email.utils
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

ACCOUNT = "devstoreaccount1"
PAGE_SIZE = 1000


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

    def __init__(self) -> None:
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

    def ensure_parents(self, fs: dict[str, Node], path: str) -> None:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            fs.setdefault("/".join(parts[:i]), Node(is_directory=True))


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
        if header.startswith(("SharedKey ", "Bearer ")) or "sig" in query:
            return True
        self._error(403, "AuthenticationFailed", "Server failed to authenticate the request.")
        return False

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

    # -- verbs ----------------------------------------------------------------------------------
    def do_PUT(self) -> None:
        name, path, query = self._parts()
        body = self._body()
        self.store.requests.append(f"PUT {self.path}")
        if not self._authorised(query):
            return
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
                if self.headers.get("If-None-Match") == "*" and path in fs:
                    return self._error(409, "PathAlreadyExists", "The specified path already exists.")
                self.store.ensure_parents(fs, path)
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
        moved = {p: n for p, n in fs.items() if p == source_path or p.startswith(source_path + "/")}
        for old in moved:
            del fs[old]
        self.store.ensure_parents(fs, destination)
        for old, node in moved.items():
            fs[destination + old[len(source_path) :]] = node
        return self._send(201)

    def do_PATCH(self) -> None:
        name, path, query = self._parts()
        body = self._body()
        self.store.requests.append(f"PATCH {self.path}")
        if not self._authorised(query):
            return
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
        name, path, query = self._parts()
        self.store.requests.append(f"DELETE {self.path}")
        if not self._authorised(query):
            return
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
        name, path, query = self._parts()
        self.store.requests.append(f"HEAD {self.path}")
        if not self._authorised(query):
            return
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
        name, path, query = self._parts()
        self.store.requests.append(f"GET {self.path}")
        if not self._authorised(query):
            return
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
        page_size = int((query.get("maxResults") or [str(PAGE_SIZE)])[0])
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


def serve(port: int = 0) -> ThreadingHTTPServer:
    """Start the double on 127.0.0.1 in a background thread; returns the server (``.server_port``)."""
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.store = Store()  # type: ignore[attr-defined]
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="adls-double", daemon=True).start()
    return server


def main() -> None:
    """Run the double in the foreground (for manual experiments)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=10004)
    args = parser.parse_args()
    server = serve(args.port)
    print(f"ADLS Gen2 test double on http://127.0.0.1:{server.server_port}/{ACCOUNT}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
