"""Converters from raw Amazon review releases (2014/2018/2023) to RecBole atomic files.

Entry point: ``python -m dataset_converters.amazon --help``.
"""

from dataset_converters.errors import ConversionError

__all__ = ["ConversionError"]
