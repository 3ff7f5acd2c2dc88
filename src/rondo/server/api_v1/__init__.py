"""CircleCI API v1.1, the endpoints clients still use."""
