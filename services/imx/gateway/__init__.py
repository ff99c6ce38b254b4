"""The HTTP gateway for unit systems without a Kafka client (CONTRACT.md section 11)."""
