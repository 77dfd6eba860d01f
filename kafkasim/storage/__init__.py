"""The log: partitions as sequences of raw record batches. Sees bytes, never protocol messages."""
