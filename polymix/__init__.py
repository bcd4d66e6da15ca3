"""polymix: multilingual vision-language instruction mixes (the mBLIP recipe) and their trainer.

The stage folders live at the top of the repository (``mix/``, ``templates/``, ``translate/``,
...) and are installed as ``polymix.mix``, ``polymix.templates``, ...
"""

__version__ = "0.1.0"
