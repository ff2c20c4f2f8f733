"""Leaf helpers with no knowledge of models or runs: atomic writes, plain data, CLI errors, packaged
resources, numpy aliases for RecBole, freeing host memory, and a tiny random LM for tests."""
