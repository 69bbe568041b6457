"""`builder dev` without the dev-stack extra says in one line what to install, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_builder_dev_without_the_temporal_binary_names_the_extra(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUILDER_")}
    env["PATH"] = str(tmp_path)  # no `temporal` executable anywhere
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from builder.cli import main; sys.exit(main())",
         "dev", "--state-dir", str(tmp_path / "state")],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "builder: builder dev needs the Temporal dev server and embedded Postgres: "
        "pip install 'builder[dev-stack]' (or run scripts/dev, which installs everything)"
    ]
    assert not (tmp_path / "state").exists()  # nothing was started or created
