"""`setup_remote_docker`: a Docker engine for one job, on the agent's host (engine.py, slots.py, tls.py)."""
