"""activities/analysis package."""
