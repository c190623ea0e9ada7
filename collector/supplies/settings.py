"""Settings of the supplies engine (issue 12): pydantic v2 models with defaults and descriptions.

They are taken as a parameter (:class:`SuppliesSettings`); the root config holds them under a
``supplies:`` key. Unknown keys are errors, like every other config model.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DAY_SECONDS = 86_400.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ForecastSettings(_Strict):
    """How the forecaster reads a supply's history (docs/supplies.md)."""

    min_points: int = Field(default=3, ge=2, description="drain points (new lowest levels) a cartridge "
                            "needs before it gets a forecast of its own")
    min_span_days: float = Field(default=1.0, gt=0, description="days between a cartridge's first and "
                                 "last drain point before it gets a forecast of its own")
    swap_rise_percent: float = Field(default=20.0, gt=0, le=100, description="a level this many points "
                                     "above the cartridge's lowest is a new cartridge; smaller "
                                     "rises are noise or a shaken cartridge")
    max_points: int = Field(default=120, ge=10, description="drain points kept for the fit (the newest); "
                            "Theil-Sen is quadratic in them")
    use_previous_rate: bool = Field(default=True, description="a fresh cartridge without enough history "
                                    "of its own borrows the rate of the one before it, at low "
                                    "confidence")


class ReorderSettings(_Strict):
    """The reorder point of one supply: lead_time_days x daily use + safety_stock_days x daily use
    (in percent of a cartridge), and the gate against a second order for one cartridge."""

    lead_time_days: float = Field(default=5.0, ge=0, description="days from order to cartridge on the "
                                  "shelf")
    safety_stock_days: float = Field(default=2.0, ge=0, description="days of use kept as a margin on top "
                                     "of the lead time")
    min_percent: float = Field(default=5.0, ge=0, le=100, description="reorder at this level at the "
                               "latest, whatever the forecast says (and when it has none)")
    gate_used_percent: float = Field(default=30.0, ge=0, le=100, description="a cartridge is ordered "
                                     "again only after this much of it was used since the last "
                                     "order (Lexmark's 30 % rule): a shaken cartridge that reads "
                                     "higher does not order twice")


class ReorderOverride(_Strict):
    """Overrides for one part number or one site; unset fields keep the default."""

    lead_time_days: float | None = Field(default=None, ge=0)
    safety_stock_days: float | None = Field(default=None, ge=0)
    min_percent: float | None = Field(default=None, ge=0, le=100)


class SuppliesSettings(_Strict):
    """The ``supplies:`` section of the collector config."""

    enabled: bool = Field(default=True, description="forecast supplies and open reorder tickets")
    forecast: ForecastSettings = Field(default_factory=ForecastSettings)
    reorder: ReorderSettings = Field(default_factory=ReorderSettings)
    parts: dict[str, ReorderOverride] = Field(default_factory=dict, description="per part "
                                              "number (wins over a site's)")
    sites: dict[str, ReorderOverride] = Field(default_factory=dict, description="per site name")
    time_scale: float = Field(default=1.0, gt=0, description="simulated days per real day (demo only): "
                              "a forecast day lasts 86400 / time_scale seconds")
    stock_purchase: bool = Field(default=True, description="open one purchase reorder ticket per part "
                                 "whose stock is below what the fleet uses within the lead time")

    @property
    def day_seconds(self) -> float:
        return DAY_SECONDS / self.time_scale

    def reorder_for(self, part: str | None, site: str | None) -> ReorderSettings:
        """The reorder settings of one supply: defaults, then the site's, then the part's."""
        merged = self.reorder.model_dump()
        for override in (self.sites.get(site or ""), self.parts.get(part or "")):
            if override is not None:
                merged.update({k: v for k, v in override.model_dump().items() if v is not None})
        return ReorderSettings(**merged)
