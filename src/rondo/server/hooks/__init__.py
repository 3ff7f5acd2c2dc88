"""Inbound VCS notifications: the plain-git hook now, GitHub webhooks later."""
