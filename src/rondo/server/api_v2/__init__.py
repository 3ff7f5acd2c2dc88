"""CircleCI API v2, in CircleCI's shapes (shared/reference/api/openapi-v2.json)."""
