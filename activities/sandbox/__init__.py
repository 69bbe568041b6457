"""activities/sandbox package."""
