"""The pipeline's activities, one module per phase, sharing `context` (clients, rows, events)
and `worktree` (the one owner of each worktree's state)."""
