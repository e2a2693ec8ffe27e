"""``python -m audiotok``: the same entry point as the ``audiotok`` command."""

from audiotok.cli.app import main  # noqa: TID251  # the entry point runs the CLI

if __name__ == "__main__":
    main()
