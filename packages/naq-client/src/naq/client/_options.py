"""Turning ``enqueue``'s arguments into a validated :class:`~naq.protocol.JobEnvelope`.

naq's own options are keyword-only parameters of ``enqueue`` and never reach the function. A
function keyword argument whose name collides with one of them goes in ``func_kwargs``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from naq.protocol import (
    RETRY_STRATEGIES,
    ConfigurationError,
    JobEnvelope,
    SerializationError,
    Settings,
    exception_ref,
    get_serializer,
    new_job_id,
    validate_job_id,
)
from naq.protocol.refs import REF_PATTERN, describe_callable, function_ref
from naq.protocol.settings import check_dependency_timeout

if TYPE_CHECKING:
    from naq.client._job import Job

__all__ = ["OPTION_NAMES", "JobOptions", "build_envelope", "dependency_ids", "merge_kwargs", "split_options"]

Callable_ = Callable[..., Any] | str
"""A job's function: the callable, or its ``module:qualname`` reference (JSON serializer only)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobOptions:
    """naq's per-job options, as ``enqueue`` takes them (see its docstring for each)."""

    job_id: str | None = None
    max_retries: int = 0
    retry_delay: float | Sequence[float] = 0.0
    retry_strategy: str = "fixed"
    retry_jitter: bool = False
    retry_max_delay: float | None = None
    retry_on: Iterable[type[BaseException] | str] = ()
    ignore_on: Iterable[type[BaseException] | str] = ()
    depends_on: str | Job | Iterable[str | Job] | None = None
    dependency_timeout: float | None = None
    timeout: float | None = None
    result_ttl: int | None = None
    serializer: str | None = None


OPTION_NAMES = frozenset(f.name for f in dataclasses.fields(JobOptions))
"""The names of naq's per-job options (``enqueue``'s keyword-only parameters)."""


def split_options(
    kwargs: Mapping[str, Any], func_kwargs: Mapping[str, Any] | None = None
) -> tuple[JobOptions, dict[str, Any]]:
    """naq's options and the function's keyword arguments from one ``**kwargs``.

    Option names are naq's (as in ``enqueue``); a function keyword argument with such a name goes
    in ``func_kwargs``.
    """
    options = JobOptions(**{k: v for k, v in kwargs.items() if k in OPTION_NAMES})
    return options, merge_kwargs({k: v for k, v in kwargs.items() if k not in OPTION_NAMES}, func_kwargs)


def merge_kwargs(kwargs: Mapping[str, Any], func_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """The function's keyword arguments: ``kwargs`` plus ``func_kwargs`` (names naq's options use)."""
    if not func_kwargs:
        return dict(kwargs)
    overlap = set(kwargs) & set(func_kwargs)
    if overlap:
        raise ConfigurationError(f"keyword argument(s) given twice: {', '.join(sorted(overlap))}")
    return {**kwargs, **func_kwargs}


def _number(name: str, value: Any, *, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigurationError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


def dependency_ids(depends_on: str | Job | Iterable[str | Job] | None) -> tuple[str, ...]:
    """Job ids from ``depends_on``: an id, a Job handle, or an iterable of either."""
    if depends_on is None:
        return ()
    if isinstance(depends_on, str) or hasattr(depends_on, "job_id"):
        items = [depends_on]
    elif _is_collection(depends_on):
        items = list(depends_on)  # type: ignore[arg-type]
    else:
        raise ConfigurationError(f"depends_on must be a job id, a Job, or a list of them; got {depends_on!r}")
    ids = []
    for item in items:
        job_id = item if isinstance(item, str) else getattr(item, "job_id", item)
        try:
            ids.append(validate_job_id(job_id))
        except ValueError as exc:
            raise ConfigurationError(f"depends_on: {exc}") from None
    return tuple(dict.fromkeys(ids))


def _exception_refs(name: str, values: Iterable[type[BaseException] | str] | None) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str | type):
        values = [values]
    elif not _is_collection(values):
        raise ConfigurationError(
            f"{name} must be an exception class, a 'module:Class' reference, or a list of them; got {values!r}"
        )
    return tuple(exception_ref(value) for value in values)


def _is_collection(value: object) -> bool:
    """A list-like value: iterable, but not text, bytes or a mapping."""
    return isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping)


def _retry_delay(value: object) -> float | tuple[float, ...]:
    if isinstance(value, int | float):  # bool too: _number refuses it
        return _number("retry_delay", value, allow_zero=True)
    if not _is_collection(value):
        raise ConfigurationError(f"retry_delay must be seconds: a number or a list of numbers, got {value!r}")
    delays = tuple(_number("retry_delay", d, allow_zero=True) for d in value)  # type: ignore[union-attr]
    if not delays:
        raise ConfigurationError("retry_delay must not be an empty list")
    return delays


def _function_reference(func: Callable_, serializer_name: str) -> str:
    if isinstance(func, str):
        if serializer_name != "json":
            raise ConfigurationError("a function given by reference needs the json serializer")
        if REF_PATTERN.fullmatch(func) is None:
            raise ConfigurationError(f"{func!r} is not a function reference like 'package.module:function'")
        return func
    if serializer_name == "pickle":
        return describe_callable(func)
    return function_ref(func)


def build_envelope(
    func: Callable_,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    options: JobOptions,
    queue: str,
    settings: Settings,
) -> JobEnvelope:
    """A validated job envelope; ``ConfigurationError`` or ``SerializationError`` names what is wrong.

    ``queue`` was checked by the public entry (``Queue``); the envelope checks its ids once more
    (as it does for every decoded job), which is all the checking they get here.
    """
    serializer_name = options.serializer or settings.job_serializer
    serializer = get_serializer(serializer_name)
    function = _function_reference(func, serializer_name)
    payload = serializer.dump_call(func, args, kwargs)  # type: ignore[arg-type]  # str refs: json only

    if isinstance(options.max_retries, bool) or not isinstance(options.max_retries, int) or options.max_retries < 0:
        raise ConfigurationError(f"max_retries must be a whole number >= 0, got {options.max_retries!r}")
    retry_delay = _retry_delay(options.retry_delay)
    if not isinstance(options.retry_jitter, bool):
        raise ConfigurationError(f"retry_jitter must be True or False, got {options.retry_jitter!r}")
    if options.retry_strategy not in RETRY_STRATEGIES:
        raise ConfigurationError(f"retry_strategy must be one of {RETRY_STRATEGIES}, got {options.retry_strategy!r}")
    retry_max_delay = None
    if options.retry_max_delay is not None:
        retry_max_delay = _number("retry_max_delay", options.retry_max_delay, allow_zero=False)
    timeout = None if options.timeout is None else _number("timeout", options.timeout, allow_zero=False)
    result_ttl = None
    if options.result_ttl is not None:
        # Message TTLs are whole seconds; round up so a result is never kept shorter than asked.
        result_ttl = math.ceil(_number("result_ttl", options.result_ttl, allow_zero=True))
    depends_on = dependency_ids(options.depends_on)
    dependency_timeout = None
    if options.dependency_timeout is not None:
        dependency_timeout = _number("dependency_timeout", options.dependency_timeout, allow_zero=False)
        if not depends_on:
            raise ConfigurationError("dependency_timeout is only meaningful with depends_on")
    check_dependency_timeout(
        settings.dependency_timeout if dependency_timeout is None else dependency_timeout, settings
    )
    job_id = new_job_id() if options.job_id is None else options.job_id
    try:
        return JobEnvelope(
            job_id=job_id,
            queue=queue,
            function=function,
            payload=payload,
            enqueued_at=time.time(),
            serializer=serializer.name,
            max_retries=options.max_retries,
            retry_delay=retry_delay,
            retry_strategy=options.retry_strategy,  # type: ignore[arg-type]  # checked above
            retry_jitter=options.retry_jitter,
            retry_max_delay=retry_max_delay,
            retry_on=_exception_refs("retry_on", options.retry_on),
            ignore_on=_exception_refs("ignore_on", options.ignore_on),
            depends_on=depends_on,
            timeout=timeout,
            result_ttl=result_ttl,
            dependency_timeout=dependency_timeout,
        )
    except (ConfigurationError, SerializationError):
        raise
    except ValueError as exc:  # the envelope's own checks (ids, ranges)
        raise ConfigurationError(str(exc)) from None
