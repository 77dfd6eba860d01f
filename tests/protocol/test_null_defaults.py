"""The codec's one default that decides what a handler answers when it says nothing: a response's nullable
message string (error_message, ...) is null, as Kafka's brokers answer it, not ''."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import kafkasim.protocol.messages as messages


def test_response_messages_default_to_null_in_every_response() -> None:
    checked = 0
    for info in pkgutil.iter_modules(messages.__path__):
        module = importlib.import_module(f"{messages.__name__}.{info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if "Response" not in name or cls.__module__ != module.__name__:
                continue
            params = inspect.signature(cls.__init__).parameters
            for field, param in params.items():
                if field.endswith("message") and "None" in str(param.annotation):
                    assert param.default is None, f"{name}.{field} defaults to {param.default!r}"
                    checked += 1
    assert checked >= 20  # every API with an error message: CreateTopics, DeleteTopics, AlterConfigs, ...
