"""Where a region-vintage run keeps its tables and its product in the lake."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from landshift.core.errors import InputError
from landshift.lake.uris import confine_uri
from landshift.regions.registry import Region

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunLayout:
    """Where one region-vintage run keeps its tables and its product in the lake.

    ``namespace`` (``"manual"`` for manual regions) puts both under their own folder, so a
    manual run can never touch a registered region's paths; ``run_key`` (e.g. the Airflow run
    id, slugged) gives a run its own work folder, so two runs of one region and vintage never
    share tables.
    """

    lake_root: str
    region_id: str
    vintage: str
    namespace: str = ""
    run_key: str = ""

    @classmethod
    def for_region(cls, lake_root: str, region: Region, vintage: str, run_key: str = "") -> RunLayout:
        """The layout of ``region`` (its namespace included) for one vintage and run."""
        return cls(lake_root, region.id, vintage, region.namespace, slug_run_key(run_key) if run_key else "")

    def _join(self, *parts: str) -> str:
        return "/".join([self.lake_root.rstrip("/"), *(p for p in parts if p)])

    @property
    def work(self) -> str:
        """Intermediate tables of this run."""
        runs = ("runs", self.run_key) if self.run_key else ()
        return self._join("work", self.namespace, self.region_id, self.vintage, *runs)

    @property
    def tiles(self) -> str:
        """The tiles table."""
        return f"{self.work}/tiles.parquet"

    @property
    def priors(self) -> str:
        """Prior labels aggregated to the tiles."""
        return f"{self.work}/priors.parquet"

    @property
    def predictions(self) -> str:
        """The scoring job's output table (a directory of parts)."""
        return f"{self.work}/predictions"

    @property
    def changes(self) -> str:
        """The change table."""
        return f"{self.work}/changes.parquet"

    @property
    def published(self) -> str:
        """The published product directory."""
        return self._join("published", self.namespace, self.region_id, self.vintage)


def slug_run_key(run_id: str) -> str:
    """A path-safe key for an Airflow run id (``manual__2026-01-01T00:00:00+00:00`` and the like)."""
    key = re.sub(r"[^A-Za-z0-9._-]+", "_", run_id).strip("._-")[:120]
    if not key:
        raise InputError(f"run id {run_id!r} gives an empty work folder name")
    return key


def resolve_path(lake_root: str, path: str) -> str:
    """The lake URI of ``path``: relative paths under the lake root; anything leaving the lake refused.

    Absolute paths and ``abfss://`` URIs are accepted only inside the lake root or an allowed
    root (``LANDSHIFT_ALLOWED_LAKE_ROOTS``); see :func:`landshift.lake.uris.confine_uri`.
    """
    return confine_uri(lake_root, path)
