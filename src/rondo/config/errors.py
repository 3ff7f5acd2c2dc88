"""Config errors that tell a person what is wrong and exactly where."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigError:
    """One problem in a config: file, 1-based line and column, the path into the config, a message."""

    message: str
    path: str = ""  # e.g. "jobs.build.steps[2].run.command"; "" for the whole document
    file: str = ".circleci/config.yml"
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        at = f" at {self.path}" if self.path else ""
        return f"{where}{at}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "message": self.message,
            "path": self.path,
            "file": self.file,
            "line": self.line,
            "column": self.column,
        }


class ConfigErrors(Exception):
    """Every error found in one pass over a config."""

    def __init__(self, errors: list[ConfigError]) -> None:
        if not errors:
            raise ValueError("ConfigErrors needs at least one error")
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))
