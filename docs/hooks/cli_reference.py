"""mkdocs hook: the command line reference page, generated from naq's typer apps at build time.

Every console script of an installed ``naq-*`` distribution is a program on the page; its typer
app is the ``app`` of the script's module (``naq.worker.cli:main`` -> ``naq.worker.cli.app``).
``naq`` gets the subcommands other packages add through the ``naq.cli`` entry points, added as
its ``main()`` adds them. The command tree is walked with ``typer.main.get_command``; each command
is rendered with what its ``--help`` shows: usage, help text, arguments and options. Nothing is
written by hand, so a new command or option appears on the next build.

Anchors: a program's is its name (``#naq-worker``); a subcommand's is its whole path with spaces
turned into underscores (``#naq_worker``, ``#naq_failed_list``), so the two never collide.

The rendering needs only typer (``render_reference``), so tests can call it without mkdocs.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import re
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import typer
import typer.main

from naq.client import cli

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files

PAGE = "reference/cli.md"
"""Where the generated page lands in the site (a path under docs_dir that no file occupies)."""

ROOT_PROGRAM = "naq"
"""The program that gathers the other packages' subcommands."""

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def _escape(text: str) -> str:
    """Markdown- and HTML-safe text: help strings hold ``<str>``, ``|`` and ``*`` at times."""
    return _MD_SPECIAL.sub(r"\\\1", text).replace("&", "&amp;")


def _cell(text: str) -> str:
    """Text for one table cell: one line, escaped."""
    return _escape(" ".join(text.split()))


def programs() -> list[tuple[str, typer.Typer]]:
    """(script name, typer app) of every console script of an installed naq distribution.

    ``naq`` comes first, the others by name. A naq script whose module has no typer ``app`` is an
    error: its commands could not be documented.
    """
    found: dict[str, typer.Typer] = {}
    for entry_point in entry_points(group="console_scripts"):
        dist = entry_point.dist
        if dist is None or not dist.name.startswith("naq-"):
            continue
        module = importlib.import_module(entry_point.module)
        app = getattr(module, "app", None)
        if not isinstance(app, typer.Typer):
            raise RuntimeError(
                f"console script {entry_point.name} ({entry_point.value}) has no typer app named `app` "
                f"in {entry_point.module}: the CLI reference cannot document it"
            )
        found[entry_point.name] = _with_plugins(app) if entry_point.name == ROOT_PROGRAM else app
    if ROOT_PROGRAM not in found:
        raise RuntimeError("naq-client is not installed: the `naq` command cannot be documented")
    return sorted(found.items(), key=lambda item: (item[0] != ROOT_PROGRAM, item[0]))


def _with_plugins(app: typer.Typer) -> typer.Typer:
    """A copy of ``naq``'s app with the installed ``naq.cli`` subcommands, as ``main()`` adds them.

    A copy, so that building twice in one process (``mkdocs serve``) does not add them twice.
    """
    full = copy.copy(app)
    full.registered_commands = list(app.registered_commands)
    full.registered_groups = list(app.registered_groups)
    cli.add_plugins(full)  # the function `naq`'s main() runs: the page shows what users get
    return full


def _walk(command: Any, ctx: typer.Context) -> Iterator[tuple[Any, typer.Context]]:
    """The command and every visible subcommand below it, depth first, in their help order."""
    yield command, ctx
    for name in getattr(command, "list_commands", lambda _ctx: [])(ctx):
        sub = command.get_command(ctx, name)
        if sub is None or sub.hidden:
            continue
        yield from _walk(sub, typer.Context(sub, info_name=name, parent=ctx))


def _help_markdown(text: str | None) -> list[str]:
    """A command's help as paragraphs; click's ``\\b`` paragraphs stay as written, ``\\f`` ends it."""
    if not text:
        return []
    text = inspect.cleandoc(text).split("\f", 1)[0]
    lines: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        if paragraph.startswith("\b"):
            body = paragraph[1:].strip("\n")
            lines += ["```text", body, "```", ""]
        else:
            lines += [_escape(" ".join(paragraph.split())), ""]
    return lines


def _params_table(title: str, records: list[tuple[str, str]]) -> list[str]:
    if not records:
        return []
    lines = [f"**{title}**", "", "| name | help |", "| --- | --- |"]
    for names, help_text in records:
        lines.append(f"| `{' '.join(names.split())}` | {_cell(help_text)} |")
    return [*lines, ""]


def _render_command(command: Any, ctx: typer.Context, level: int, anchor: str) -> list[str]:
    path = ctx.command_path
    lines = [f"{'#' * level} `{path}` {{ #{anchor} }}", ""]
    lines += ["```text", command.get_usage(ctx), "```", ""]
    lines += _help_markdown(command.help)
    arguments, options = [], []
    for param in command.get_params(ctx):
        # --help is on every command: the page says so once instead of in every table.
        if getattr(param, "hidden", False) or "--help" in param.opts:
            continue
        record = param.get_help_record(ctx)
        if record is None:
            continue
        (arguments if param.param_type_name == "argument" else options).append(record)
    lines += _params_table("Arguments", arguments)
    lines += _params_table("Options", options)
    subcommands = [
        (name, sub)
        for name in getattr(command, "list_commands", lambda _ctx: [])(ctx)
        if (sub := command.get_command(ctx, name)) is not None and not sub.hidden
    ]
    if subcommands:
        lines += ["**Commands**", "", "| command | what |", "| --- | --- |"]
        for name, sub in subcommands:
            target = _anchor(f"{path} {name}", is_program=False)
            lines.append(f"| [`{path} {name}`](#{target}) | {_cell(sub.get_short_help_str(limit=200))} |")
        lines.append("")
    return lines


def _anchor(path: str, *, is_program: bool) -> str:
    return path if is_program else path.replace(" ", "_")


def render_reference() -> str:
    """The whole reference page as markdown."""
    lines = [
        "# Command line reference",
        "",
        "Generated at build time from the installed commands (their typer apps), so it lists every "
        "command and option exactly as `--help` does. The [command line guide](../cli.md) explains "
        "them; every command also takes `--help`.",
        "",
    ]
    for name, app in programs():
        root = typer.main.get_command(app)
        root_ctx = typer.Context(root, info_name=name)
        for command, ctx in _walk(root, root_ctx):
            depth = len(ctx.command_path.split()) - 1
            is_program = ctx.parent is None
            lines += _render_command(command, ctx, min(2 + depth, 6), _anchor(ctx.command_path, is_program=is_program))
    return "\n".join(lines).rstrip() + "\n"


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated page to the site (mkdocs hook)."""
    from mkdocs.structure.files import File  # noqa: PLC0415 - render_reference() runs without mkdocs (tests)

    files.append(File.generated(config, PAGE, content=render_reference()))
    return files
