"""Deployment files (Kubernetes with Strimzi) derived from the registry and the topology."""
