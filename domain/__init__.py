"""Pure, I/O-free types shared by every layer of builder (safe inside the workflow sandbox)."""
