"""Data cards: the README.md (Hugging Face dataset card) written next to every built mix.

    polymix card out/mix            # or: from polymix.data_cards.card import write_card; write_card("out/mix")

:mod:`~polymix.data_cards.collect` reads the manifest and files of a mix, :mod:`~polymix.data_cards.card`
writes ``README.md`` (from ``card_template.md``) and ``rows_per_language.png``.
"""
