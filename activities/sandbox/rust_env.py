"""A Rust environment: the crates `cargo fetch` downloads (and unpacks) in setup, kept in
the cached environment as the CARGO_HOME /env/cargo, which every build and test then uses
read-only and offline (they have no network; crates come only from what setup fetched).

The toolchain is the worker's own (its rustup proxies and RUSTUP_HOME, read-only: see
activities/sandbox/filesystem.py); the build's `target/` stays in the worktree, where
cargo puts it and where the tests reuse it, and no commit stages it (a step's commit stages
only the paths its edits touched).
"""

from __future__ import annotations

from activities.sandbox import filesystem as fs
from domain.setup_plan import RustEnvironment, SetupPlan

CARGO_HOME = f"{fs.ENVIRONMENT}/cargo"


def rust_environment(plan: SetupPlan) -> RustEnvironment | None:
    return next((e for e in plan.environments if isinstance(e, RustEnvironment)), None)


def rust_variables(*, setup: bool) -> dict[str, str]:
    """CARGO_HOME in the environment; build and test never try the network."""
    return {"CARGO_HOME": CARGO_HOME} if setup else {
        "CARGO_HOME": CARGO_HOME, "CARGO_NET_OFFLINE": "true"
    }  # fmt: skip
