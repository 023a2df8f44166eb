"""The project: its dataclasses, reading a project file strictly, and edits of its stack."""
