"""Model training: BLIP-2 vision + Q-Former re-aligned to a multilingual LLM with LoRA (the mBLIP recipe)."""
