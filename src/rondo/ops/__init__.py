"""Operations: health, metrics, audit log, email, outbound webhooks, backup and restore."""
