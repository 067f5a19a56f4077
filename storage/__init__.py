"""lcm-bot storage: SQLAlchemy models, repositories and migrations (no Discord, no torch)."""
