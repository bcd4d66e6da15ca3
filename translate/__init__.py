"""Translation: NLLB-200 on CTranslate2 (model resolution, batched cached translation, language assignment)."""
