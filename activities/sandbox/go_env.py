"""A Go environment: the modules `go mod download` fetches in setup, kept in the cached
environment as the GOMODCACHE /env/go/mod, which every build and test then uses read-only
and offline (GOPROXY=off: they have no network; modules come only from what setup fetched).

Setup writes the cache with `-modcacherw`, so the store can delete an environment it purges
(go otherwise makes every module directory read-only). Build and test keep go's default
`-mod` (readonly, or vendor with a vendor/ directory): `-mod=mod` would let go rewrite
go.mod and go.sum in the worktree. Go's build cache must be writable, so GOCACHE is in the
run's own HOME: a run's compiled packages are its own, never shared with another run.

The toolchain is the worker's own (`go` on its PATH, GOROOT read-only: see
activities/sandbox/filesystem.py); GOTOOLCHAIN=local keeps go from fetching the one a go.mod
names instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from activities.sandbox import filesystem as fs
from domain.setup_plan import GoEnvironment, SetupPlan

GOMODCACHE = f"{fs.ENVIRONMENT}/go/mod"
GOCACHE = f"{fs.HOME}/.cache/go-build"


def go_environment(plan: SetupPlan) -> GoEnvironment | None:
    return next((e for e in plan.environments if isinstance(e, GoEnvironment)), None)


def go_variables(*, setup: bool) -> dict[str, str]:
    """GOMODCACHE in the environment; build and test never try the network."""
    common = {"GOMODCACHE": GOMODCACHE, "GOCACHE": GOCACHE, "GOTOOLCHAIN": "local"}
    if setup:
        return {**common, "GOFLAGS": "-modcacherw"}
    return {**common, "GOPROXY": "off", "GOSUMDB": "off"}


def with_go_variables(env: Mapping[str, str], *, setup: bool) -> dict[str, str]:
    """`env` over the Go environment's variables (the repository's own win), but setup's
    GOFLAGS keep `-modcacherw` after whatever flags the repository sets: an environment
    whose module cache is read-only could not be purged."""
    merged = {**go_variables(setup=setup), **env}
    if setup and env.get("GOFLAGS"):
        merged["GOFLAGS"] = f"{env['GOFLAGS']} -modcacherw"
    return merged
