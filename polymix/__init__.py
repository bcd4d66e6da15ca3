"""polymix: multilingual vision-language instruction mixes (the mBLIP recipe) and their trainer.

This package is the shared core every stage imports, and it imports no stage: the row schema
(``schema``), the language registry (``languages``), Parquet shard IO and its manifest
(``shards``, ``integrity``, ``locks``, ``faults``), the errors a user causes (``errors``) and the
text metrics (``metrics``). ``polymix.cli`` (the ``polymix`` command, with ``cli_support`` and
``quiet``) sits on top of everything.

The stage folders live at the top of the repository (``mix/`` prepare, ``templates/``,
``translate/``, ``data_cards/``, ``training/``, ``flows/``) and are installed as
``polymix.mix``, ``polymix.templates``, ...; ``tests/test_layers.py`` keeps them layered.
"""

__version__ = "0.1.0"
