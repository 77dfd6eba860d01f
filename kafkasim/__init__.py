"""kafkasim: a broker that speaks the Apache Kafka wire protocol, for tests and local development."""

from kafkasim.config import BrokerConfig
from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.testing.cluster import Cluster

__version__ = "0.1.0"

__all__ = ["BrokerConfig", "Cluster", "ErrorCode", "KafkaError", "__version__"]
