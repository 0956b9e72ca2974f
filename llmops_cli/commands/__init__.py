"""One module per ``llmops`` subcommand, each exposing ``command``."""
