"""activities/git package."""
