"""The `rondo` command: thin wrappers over the packages below it."""
