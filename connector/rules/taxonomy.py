"""The classification taxonomy (``rules/taxonomy.yaml``): categories and natures as data.

Category tree (seed §3.1.4.8): category → area (子类) → sub-area (一级模块). Natures (§3.1.4.7)
are ``类别/信息项`` pairs such as ``失败/系统故障``. Classification rules are checked against it
at load time, and ``setup glpi`` creates the ITIL categories from it.
"""

from __future__ import annotations

__all__ = ["Category", "Nature", "Taxonomy", "default_taxonomy_path", "load_taxonomy"]

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connector.rules.rulefile import load_model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what} {name!r} is listed twice")
        seen.add(name)


class Area(_Strict):
    """A sub-class (子类) of a category, e.g. an application system, with its modules."""

    name: str = Field(min_length=1)
    subareas: list[str] = Field(default_factory=list)

    @field_validator("subareas")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip() for v in value]
        if any(not v for v in cleaned):
            raise ValueError("a sub-area name is empty")
        _unique(cleaned, "sub-area")
        return cleaned


class Category(_Strict):
    """A top-level category (事件分类), e.g. 应用系统 or 网络."""

    name: str = Field(min_length=1)
    en: str = ""
    areas: list[Area] = Field(default_factory=list)

    @model_validator(mode="after")
    def _distinct(self) -> Category:
        _unique([a.name for a in self.areas], "area")
        return self


class NatureItem(_Strict):
    """One 信息项 of a nature class."""

    name: str = Field(min_length=1)
    en: str = ""


class Nature(_Strict):
    """A nature class (类别), e.g. 失败, with its items."""

    name: str = Field(min_length=1, pattern=r"^[^/]+$")
    en: str = ""
    subcategories: list[NatureItem] = Field(min_length=1)


class Taxonomy(_Strict):
    """The whole file."""

    categories: list[Category] = Field(min_length=1)
    natures: list[Nature] = Field(default_factory=list)

    @model_validator(mode="after")
    def _distinct(self) -> Taxonomy:
        _unique([c.name for c in self.categories], "category")
        _unique([n.name for n in self.natures], "nature")
        return self

    def category(self, name: str) -> Category | None:
        """The category called ``name``."""
        return next((c for c in self.categories if c.name == name), None)

    def check_path(self, category: str | None, area: str | None, subarea: str | None) -> str | None:
        """Why (category, area, subarea) is not a path of the tree; ``None`` when it is."""
        if category is None:
            return "an area or sub-area needs a category" if (area or subarea) else None
        found = self.category(category)
        if found is None:
            return f"category {category!r} is not in the taxonomy"
        if area is None:
            return f"sub-area {subarea!r} needs an area" if subarea else None
        node = next((a for a in found.areas if a.name == area), None)
        if node is None:
            return f"area {area!r} is not under category {category!r} in the taxonomy"
        if subarea is not None and subarea not in node.subareas:
            return f"sub-area {subarea!r} is not under {category}/{area} in the taxonomy"
        return None

    def nature_values(self) -> list[str]:
        """Every valid nature, as ``类别/信息项``."""
        return [f"{n.name}/{item.name}" for n in self.natures for item in n.subcategories]

    def paths(self) -> Iterator[tuple[str, ...]]:
        """Every node of the category tree as a path, parents before children."""
        for category in self.categories:
            yield (category.name,)
            for area in category.areas:
                yield (category.name, area.name)
                for sub in area.subareas:
                    yield (category.name, area.name, sub)


def default_taxonomy_path() -> Path:
    """The taxonomy shipped with the connector (the seed's)."""
    return Path(str(resources.files("connector") / "rules" / "defaults" / "taxonomy.yaml"))


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Load and validate a taxonomy file (default: the shipped one); raises ``ConfigError``."""
    return load_model(path or default_taxonomy_path(), Taxonomy)
