"""Executors run a task's steps somewhere: on the agent's machine, in Docker, or (for tests) nowhere."""
