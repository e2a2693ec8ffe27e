"""Every command's ``--help`` ends with 2-4 examples, shown verbatim, that the command accepts."""

from __future__ import annotations

import shlex

import pytest
import typer
from typer.testing import CliRunner

from audiotok.cli._help import examples
from audiotok.cli.app import app

WORKING_COMMANDS = [
    ("npq", "encode"),
    ("npq", "decode"),
    ("npq", "inspect"),
    ("npq", "convert"),
    ("esf", "encode"),
    ("esf", "init"),
    ("esf", "add"),
    ("esf", "audit"),
    ("esf", "inspect"),
    ("dataset", "build"),
    ("dataset", "inspect"),
    ("dataset", "export"),
    ("audio", "normalize"),
    ("models", "fetch"),
    ("models", "list"),
]


def _registered() -> set[tuple[str, str]]:
    return {
        (str(group.name), str(command.name))
        for group in app.registered_groups
        if group.typer_instance is not None
        for command in group.typer_instance.registered_commands
    }


def test_the_list_covers_every_command() -> None:
    assert _registered() == set(WORKING_COMMANDS)


def _examples(runner: CliRunner, command: tuple[str, ...]) -> list[str]:
    """The example command lines at the end of ``command``'s help (fails if they are not at the end)."""
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.rstrip().splitlines()
    start = max(i for i, line in enumerate(lines) if line.strip() == "Examples:")
    tail = [line.strip() for line in lines[start + 1 :]]
    assert all(tail), f"blank line inside the examples of {command}"
    descriptions, commands = tail[0::2], tail[1::2]
    assert len(descriptions) == len(commands)
    assert all(d.endswith(":") and not d.startswith("audiotok") for d in descriptions)
    return commands


@pytest.mark.parametrize("command", WORKING_COMMANDS, ids=" ".join)
def test_help_ends_with_examples_the_command_accepts(runner: CliRunner, command: tuple[str, str]) -> None:
    found = _examples(runner, command)
    assert 2 <= len(found) <= 4
    for line in found:
        argv = shlex.split(line)
        assert argv[:3] == ["audiotok", *command], line
        # --help is eager, but an unknown option or a missing value is still a usage error (exit 2)
        check = runner.invoke(app, [*argv[1:], "--help"])
        assert check.exit_code == 0, (line, check.output)


def test_examples_are_shown_verbatim(runner: CliRunner) -> None:
    demo = typer.Typer()

    @demo.command(
        "run", epilog=examples(("Brackets [bold]stay[/bold]", "demo run '[x]' --n 3:4"), ("Two", "demo b"))
    )
    def run() -> None:
        """Run."""

    @demo.command("other")
    def other() -> None:
        """Other."""

    result = runner.invoke(demo, ["run", "--help"], env={"COLUMNS": "120"})
    lines = [line.strip() for line in result.stdout.rstrip().splitlines()]
    assert lines[-5:] == [
        "Examples:",
        "Brackets [bold]stay[/bold]:",
        "demo run '[x]' --n 3:4",
        "Two:",
        "demo b",
    ]


@pytest.mark.parametrize("count", [0, 1, 5])
def test_two_to_four_examples(count: int) -> None:
    with pytest.raises(ValueError, match="2-4 examples"):
        examples(*[("What", "audiotok x")] * count)
