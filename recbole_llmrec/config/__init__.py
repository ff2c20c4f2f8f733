"""Configuration: RecBole's ``Config`` with the plugin's YAML layers (:mod:`.plugin_config`), its
plain-data checkpoint form (:mod:`.state`), ``--key=value`` overrides (:mod:`.overrides`) and the
model registry (:mod:`.registry`).

Checkpoints name the config class ``recbole_llmrec.config.PluginConfig``: that name stays importable.
"""
from recbole_llmrec.config.plugin_config import PluginConfig, build_config

__all__ = ["PluginConfig", "build_config"]
