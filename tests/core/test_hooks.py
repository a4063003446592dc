from typing import Protocol

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.hooks import Port


class Greeter(Protocol):
    def greet(self, *, name: str) -> str: ...


class English:
    def greet(self, *, name: str) -> str:
        return f"hello {name}"


def test_a_filled_port_calls_the_registered_implementation():
    port: Port[Greeter] = Port("tests.greeter")
    port.register(English())
    assert port.impl.greet(name="ada") == "hello ada"


def test_an_empty_port_fails_loudly_instead_of_doing_nothing():
    port: Port[Greeter] = Port("tests.greeter")
    with pytest.raises(ImproperlyConfigured, match="tests.greeter"):
        port.impl.greet(name="ada")


def test_registering_the_same_implementation_twice_is_harmless_but_a_second_one_is_refused():
    port: Port[Greeter] = Port("tests.greeter")
    english = English()
    port.register(english)
    port.register(english)  # AppConfig.ready() can run twice in some test setups
    with pytest.raises(ImproperlyConfigured, match="already filled"):
        port.register(English())
