"""Built-in steps that keep things in object storage, the same for every executor (docker, machine)."""
