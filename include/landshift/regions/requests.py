"""The region-run request: what to process, validated once, and a small JSON-able dict on the wire.

Every Airflow task, the in-process pipeline, the tests and the benchmark build a :class:`RunRequest`
once and pass it on as :meth:`RunRequest.to_dict`; the next stage rebuilds it with
:meth:`RunRequest.from_dict`. Defaults live here and in :class:`~landshift.change.rules.ChangeRule`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import Any

from landshift.change.policy import ChangeRule
from landshift.core.errors import InputError
from landshift.core.grid import Bounds, TileGrid
from landshift.lake.base import Lake
from landshift.lake.factory import open_lake
from landshift.regions.aoi import aoi_in_crs
from landshift.regions.layout import RunLayout, resolve_path, slug_run_key
from landshift.regions.registry import Region, validate_vintage


@dataclass(frozen=True)
class RunRequest:
    """One region and vintage to process against a lake, with the model and the change rule.

    ``run_key`` isolates this run's work folder from another run of the same region and vintage.
    """

    lake_root: str
    region: Region
    vintage: str
    model_ref: str | None = None
    rule: ChangeRule = field(default_factory=ChangeRule)
    run_key: str = ""
    replace_existing: bool = False  # a manual region's product made from other inputs may be replaced

    def __post_init__(self) -> None:
        validate_vintage(self.vintage)
        if self.run_key and slug_run_key(self.run_key) != self.run_key:
            raise InputError(f"run key must be folder-safe, got {self.run_key!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (XCom, job arguments); :meth:`from_dict` reverses it."""
        return {
            "lake_root": self.lake_root,
            "region": self.region.to_dict(),
            "vintage": self.vintage,
            "model_ref": self.model_ref,
            "rule": asdict(self.rule),
            "run_key": self.run_key,
            "replace_existing": self.replace_existing,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunRequest:
        """The request back from :meth:`to_dict`."""
        return cls(
            lake_root=raw["lake_root"],
            region=Region.from_dict(raw["region"]),
            vintage=raw["vintage"],
            model_ref=raw.get("model_ref"),
            rule=ChangeRule(**raw.get("rule", {})),
            run_key=raw.get("run_key", ""),
            replace_existing=bool(raw.get("replace_existing", False)),
        )

    def with_vintage(self, vintage: str) -> RunRequest:
        """The same request for another vintage."""
        return replace(self, vintage=vintage)

    @cached_property
    def lake(self) -> Lake:
        """The lake backend."""
        return open_lake(self.lake_root)

    @property
    def layout(self) -> RunLayout:
        """Where this run's tables and product live."""
        return RunLayout.for_region(self.lake_root, self.region, self.vintage, self.run_key)

    @property
    def grid(self) -> TileGrid:
        """The region's tile grid."""
        return TileGrid(self.region.crs, self.region.tile_size_m)

    @property
    def imagery_uri(self) -> str:
        """Lake URI of this vintage's imagery prefix."""
        return resolve_path(self.lake_root, self.region.imagery_prefix(self.vintage))

    @property
    def prior_uri(self) -> str:
        """Lake URI of the prior label raster."""
        return resolve_path(self.lake_root, self.region.prior_labels.path)

    @property
    def aoi_in_grid(self) -> Bounds | None:
        """The region's AOI (WGS84 lon/lat) as a box in the grid CRS, or None for everything."""
        return aoi_in_crs(self.region.aoi, self.region.crs)

    @property
    def model_reference(self) -> str:
        """The model version or alias to score with."""
        return self.model_ref or self.region.model_ref


def request_for(region: Region, trigger: Mapping[str, Any], lake_root: str) -> RunRequest:
    """The run request of ``region`` for a DAG run: ``trigger`` holds its ``params``, ``run_id``
    and ``logical_year`` (the vintage when the ``vintage`` param is empty)."""
    params = trigger["params"]
    vintage = str(params.get("vintage") or "").strip() or str(trigger.get("logical_year") or "")
    if not vintage:
        raise InputError("no vintage: give the vintage param (a manual run has no logical date)")
    defaults = ChangeRule()
    rule = ChangeRule(
        params.get("min_probability", defaults.min_probability),
        params.get("min_prior_agreement", defaults.min_prior_agreement),
    )
    model_ref = str(params.get("model_ref") or "").strip() or None
    run_key = slug_run_key(str(trigger["run_id"])) if trigger.get("run_id") else ""
    return RunRequest(lake_root, region, vintage, model_ref, rule, run_key, bool(params.get("replace_existing")))


def registered_region_request(region_id: str, trigger: Mapping[str, Any], lake_root: str) -> RunRequest:
    """The run request of a registered region (``include/regions/<id>.json``)."""
    from landshift.regions.registry import get_region

    return request_for(get_region(region_id), trigger, lake_root)


@dataclass(frozen=True)
class Reconciliation:
    """What one run of a registered region's DAG publishes, and the log line saying why."""

    requests: tuple[RunRequest, ...]
    message: str


def reconcile_region(region_id: str, trigger: Mapping[str, Any], lake_root: str) -> Reconciliation:
    """The vintages a region DAG run publishes, each as a request, in vintage order.

    * the ``vintage`` param: that vintage, republished whatever its state;
    * a backfill run: the vintages dated in its window (logical date up to the schedule's next
      fire), republished;
    * otherwise (scheduled, or triggered without a vintage): every vintage whose product is missing
      or was not made from the current scenes, prior labels and model version.
    """
    from landshift.lake.factory import open_lake
    from landshift.lake.publishing import sweep_lake
    from landshift.regions.registry import get_region
    from landshift.regions.vintages import backfill_window, plan_reconcile, vintages_in_window

    region = get_region(region_id)
    params = trigger["params"]
    if str(params.get("vintage") or "").strip():
        request = request_for(region, trigger, lake_root)
        return Reconciliation((request,), f"Region {region.id}: vintage {request.vintage} requested; publishing it")
    lake = open_lake(lake_root)
    sweep_lake(lake)  # repair interrupted publishes, drop stale staging before looking at products
    if trigger.get("run_type") == "backfill" and trigger.get("logical_date") is not None:
        start, end = backfill_window(region.schedule, trigger["logical_date"])
        vintages = vintages_in_window(lake, region, start, end)
        listed = ", ".join(vintages) or "none"
        message = (
            f"Region {region.id}: backfill window [{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M}): vintages {listed}"
        )
        model_ref = params.get("model_ref")
    else:
        plan = plan_reconcile(lake, region)
        vintages, message = plan.pending, plan.message
        model_ref = params.get("model_ref") or plan.model_version  # the version the fingerprints name
    requests = tuple(
        request_for(region, {**trigger, "params": {**params, "vintage": v, "model_ref": model_ref}}, lake_root)
        for v in vintages
    )
    return Reconciliation(requests, message)


def manual_region_request(trigger: Mapping[str, Any], lake_root: str) -> RunRequest:
    """The run request of a region given in the manual trigger form."""
    from landshift.regions.registry import manual_region

    return request_for(manual_region(trigger["params"], lake_root), trigger, lake_root)
