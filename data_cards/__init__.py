"""Data cards: the README.md (Hugging Face dataset card) written next to every built mix."""
