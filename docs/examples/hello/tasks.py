"""Job functions for the hello example.

A worker imports this module by name (``tasks``), so it must be importable from the folder the
worker starts in. Arguments and return values travel as JSON by default: keep them to str, int,
float, bool, None, lists and dicts.
"""


def greet(name: str) -> str:
    """A plain function: the worker runs sync functions in its thread pool."""
    return f"Hello, {name}!"


async def add(a: int, b: int) -> int:
    """An async function: the worker runs it as a task on its event loop."""
    return a + b
