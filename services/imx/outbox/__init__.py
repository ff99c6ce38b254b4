"""The store-and-forward outbox of a unit on a weak link (CONTRACT.md section 12)."""
