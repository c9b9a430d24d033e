"""The ``meetflow`` command line (entry point: ``pipeline.cli.main:entry``)."""
