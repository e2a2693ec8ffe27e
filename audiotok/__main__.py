"""``python -m audiotok``: the same entry point as the ``audiotok`` command."""

from audiotok.cli.app import main

if __name__ == "__main__":
    main()
