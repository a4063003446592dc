"""Channel connectors: Consign talking to a channel's own shop system (docs/channels.md)."""
