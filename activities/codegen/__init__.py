"""activities/codegen package."""
