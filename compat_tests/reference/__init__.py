"""The Apache Kafka reference broker (see kafka.py)."""
