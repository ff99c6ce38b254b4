"""The Kafka side: one connection, the topology, admin, the local broker, schemas, publishing."""
