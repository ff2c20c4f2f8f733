"""The single error type raised for bad user input (files, options)."""


class ConversionError(ValueError):
    """A user-facing conversion error.

    Messages name the file, the 1-based line number and the field when they apply,
    e.g. ``reviews_Beauty_5.json.gz:12: field 'asin' missing``.
    """

    @classmethod
    def at(cls, path: object, line: int, message: str) -> "ConversionError":
        """Build an error located at ``path:line``."""
        return cls(f"{path}:{line}: {message}")
