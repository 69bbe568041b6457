"""Shapes shared by every resource: pages."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list and the total number of matching items."""

    items: list[T]
    total: int
    limit: int
    offset: int
