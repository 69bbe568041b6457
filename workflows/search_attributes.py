"""Search attributes operators filter on in the Temporal UI (registered by the dev stack)."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

TENANT = SearchAttributeKey.for_keyword("BuilderTenantId")
REPOSITORY = SearchAttributeKey.for_keyword("BuilderRepositoryId")
STATE = SearchAttributeKey.for_keyword("BuilderState")

SEARCH_ATTRIBUTE_TYPES: dict[str, str] = {
    TENANT.name: "Keyword",
    REPOSITORY.name: "Keyword",
    STATE.name: "Keyword",
}
