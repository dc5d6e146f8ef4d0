"""``rnnmod data ...`` subcommands (fetch, check)."""
