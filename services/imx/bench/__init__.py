"""``imx bench``: pipeline throughput and latency against a raw Kafka passthrough."""
