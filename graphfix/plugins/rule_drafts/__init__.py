"""Drafts of the rules GF401 and GF402, written against the current engine API (``graphfix.engine``).

They live here, unregistered, until the package restructure lands: ``tests/test_rules_meta.py`` requires
every ``rules/gfNNN_*.py`` module to be registered. To adopt them: move both modules to ``rules/``, add
them to ``RULES``, move ``tests/plugins/test_gf4xx_plugin_rules.py`` to ``tests/rules/``, and teach the
editor the ``StockPluginForm`` plan (``graphfix.plugins.stock.apply_stock_form``).
"""
