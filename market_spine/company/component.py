"""The Dagster component type of a company dataset: one `defs.yaml` under a `defs/` folder
(`type: market_spine.company.component.CompanyDataset`, the declaration under `attributes:`)
yields the dataset's capture and silver assets and their checks, with no Python."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Self

import dagster as dg
from pydantic import BaseModel

from market_spine.company.assets import build_assets
from market_spine.company.config import DatasetConfig


@dataclass(frozen=True)
class CompanyDataset(dg.Component):
    """A company dataset declared in YAML (see `market_spine.company.config.DatasetConfig`)."""

    config: DatasetConfig
    folder: Path

    @classmethod
    def get_model_cls(cls) -> type[BaseModel]:
        return DatasetConfig

    @classmethod
    def load(cls, attributes: BaseModel | None, context: dg.ComponentLoadContext) -> Self:
        assert isinstance(attributes, DatasetConfig)
        return cls(attributes, Path(context.path))

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return build_assets(self.config, self.folder)
