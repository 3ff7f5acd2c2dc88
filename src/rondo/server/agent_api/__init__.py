"""The agent protocol endpoints, /agent/v1 (see rondo.domain.agent_protocol)."""
