"""Open a lake from its root: a local folder or an ``abfss://`` ADLS Gen2 URI."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from landshift.lake.base import ABFSS_SCHEME, Lake, LocalLake
from landshift.lake.uris import check_lake_account

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


def open_lake(root: str) -> Lake:
    """The lake backend for ``root``: ADLS Gen2 for ``abfss://`` URIs, else a local directory."""
    if root.startswith(ABFSS_SCHEME):
        from landshift.lake.adls import AdlsLake

        check_lake_account(root)

        return AdlsLake(root)
    return LocalLake(root)
