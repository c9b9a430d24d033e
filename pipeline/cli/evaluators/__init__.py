"""Evaluators of ``meetflow eval``: one module per sub-command (see ``cmd_eval.py``)."""
