"""Broker state: synchronous, no sockets or asyncio, time only through Clock."""
