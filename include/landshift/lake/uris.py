"""Lake URIs: syntax checks and confinement of every path to the lake's allowed roots."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from landshift.core.errors import LakeBoundaryError
from landshift.lake.base import ABFSS_SCHEME

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

# -- one lake, one boundary --------------------------------------------------------------------------
ENV_LAKE_ROOT = "LANDSHIFT_LAKE_ROOT"
ENV_ALLOWED_LAKE_ROOTS = "LANDSHIFT_ALLOWED_LAKE_ROOTS"
REFUSED_PREFIXES = ("/vsi", "~", "\\\\")


def _uri_syntax_problem(uri: str) -> str | None:
    """Why ``uri`` can never be a lake path, whatever the lake; None when it may be one."""
    if not uri:
        return "empty path"
    if any(ord(c) < 32 for c in uri):
        return "control characters in the path"
    if "://" in uri and not uri.startswith(ABFSS_SCHEME):
        return f"scheme {uri.split('://', 1)[0]!r} is not a lake (only lake paths and abfss:// URIs of the lake)"
    if "?" in uri or "#" in uri:
        return "query strings and fragments (SAS tokens) are not part of lake paths; credentials come from settings"
    if uri.startswith(REFUSED_PREFIXES) or uri.startswith("file:"):
        return "GDAL virtual file systems, home-relative and UNC paths are not lake paths"
    body = uri[len(ABFSS_SCHEME) :].split("/", 1)[-1] if uri.startswith(ABFSS_SCHEME) else uri
    if any(part == ".." for part in body.replace("\\", "/").split("/")):
        return "'..' segments would escape the lake"
    return None


def check_lake_path_syntax(uri: str, what: str = "path") -> str:
    """Return ``uri`` if it may be a lake path (no other scheme, no ``..``); else LakeBoundaryError."""
    problem = _uri_syntax_problem(str(uri).strip())
    if problem:
        raise LakeBoundaryError(str(uri), f"{what}: {problem}")
    return str(uri).strip()


def _same_account(a: str, b: str) -> bool:
    from landshift.lake.adls import AbfssUri

    first, second = AbfssUri.parse(a), AbfssUri.parse(b)
    return (first.account, first.suffix) == (second.account, second.suffix)


def allowed_lake_roots(lake_root: str, env: dict[str, str] | None = None) -> list[str]:
    """The lake root plus ``LANDSHIFT_ALLOWED_LAKE_ROOTS`` (comma or whitespace separated).

    An extra ``abfss://`` root must be on the lake's own storage account, so the lake's
    credentials are never sent to another account; anything else is a LakeBoundaryError.
    """
    env = os.environ if env is None else env
    roots = [lake_root]
    for extra in env.get(ENV_ALLOWED_LAKE_ROOTS, "").replace(",", " ").split():
        check_lake_path_syntax(extra, ENV_ALLOWED_LAKE_ROOTS)
        if extra.startswith(ABFSS_SCHEME) and not (
            lake_root.startswith(ABFSS_SCHEME) and _same_account(extra, lake_root)
        ):
            raise LakeBoundaryError(extra, f"{ENV_ALLOWED_LAKE_ROOTS}: not on the lake's own storage account")
        if not extra.startswith(ABFSS_SCHEME) and not extra.startswith("/"):
            raise LakeBoundaryError(extra, f"{ENV_ALLOWED_LAKE_ROOTS}: roots must be absolute")
        roots.append(extra)
    return roots


def _inside(candidate: str, root: str) -> bool:
    if root.startswith(ABFSS_SCHEME) != candidate.startswith(ABFSS_SCHEME):
        return False
    if root.startswith(ABFSS_SCHEME):
        from landshift.lake.adls import AbfssUri

        inner, outer = AbfssUri.parse(candidate.rstrip("/")), AbfssUri.parse(root.rstrip("/"))
        same_fs = (inner.filesystem, inner.account, inner.suffix) == (outer.filesystem, outer.account, outer.suffix)
        return same_fs and (not outer.path or inner.path == outer.path or inner.path.startswith(outer.path + "/"))
    forms = {os.path.normpath(root), str(Path(root).expanduser().resolve())}
    # Both the path as written and the path its links lead to must lie inside: a symbolic link
    # in the lake does not take a run outside it.
    for path in (os.path.normpath(candidate), os.path.realpath(candidate)):
        if not any(path == form or path.startswith(form.rstrip("/") + "/") for form in forms):
            return False
    return True


def confine_uri(lake_root: str, uri: str, allowed_roots: list[str] | None = None, what: str = "path") -> str:
    """The lake URI of ``uri`` (relative paths under ``lake_root``), refused if it leaves the lake.

    Refused with a LakeBoundaryError naming the URI and the reason: another scheme, a GDAL
    virtual path, ``..`` segments, an absolute local path outside the lake (as written or once
    its symbolic links are resolved), an ``abfss://`` URI of
    another filesystem, account or prefix. ``allowed_roots`` defaults to
    :func:`allowed_lake_roots` (the lake plus ``LANDSHIFT_ALLOWED_LAKE_ROOTS``).
    """
    text = check_lake_path_syntax(uri, what)
    roots = allowed_lake_roots(lake_root) if allowed_roots is None else allowed_roots
    if text.startswith(ABFSS_SCHEME):
        from landshift.lake.adls import AbfssUri

        try:
            AbfssUri.parse(text)
        except Exception as exc:
            raise LakeBoundaryError(text, f"{what}: malformed abfss:// URI") from exc
        candidate = text
    elif text.startswith("/"):
        candidate = os.path.normpath(text)
    else:
        candidate = "/".join([lake_root.rstrip("/"), text.lstrip("/")])
    if not any(_inside(candidate, root) for root in roots):
        real = os.path.realpath(candidate) if candidate.startswith("/") else candidate
        if real != os.path.normpath(candidate):
            raise LakeBoundaryError(
                text,
                f"{what}: a symbolic link leads to {real}, outside the lake {lake_root} (allowed roots: {roots}); "
                "copy the data into the lake instead of linking it",
            )
        raise LakeBoundaryError(text, f"{what}: outside the lake {lake_root} (allowed roots: {roots})")
    return candidate


def check_lake_account(root: str, env: dict[str, str] | None = None) -> None:
    """Refuse to open an ``abfss://`` root on another account than the configured lake's."""
    env = os.environ if env is None else env
    configured = env.get(ENV_LAKE_ROOT, "")
    if root.startswith(ABFSS_SCHEME) and configured.startswith(ABFSS_SCHEME) and not _same_account(root, configured):
        raise LakeBoundaryError(root, f"not on the lake's storage account ({configured}): credentials stay home")
