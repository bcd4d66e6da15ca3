"""Model training: BLIP-2 vision + Q-Former re-aligned to a multilingual LLM with LoRA (the mBLIP recipe).

config / config_io  typed settings and the YAML presets (configs/)
sources / assemble  where weights come from; the model built from them (8-bit/4-bit LLM, LoRA)
model               the mBLIP module, parameter groups, counts
precision           autocast precision per card; frozen weights in the autocast's half type
plan / planner      train.plan=auto: the fastest LLM precision, checkpointing, micro-batch that fit
probe               timed steps and peak memory of one candidate (also bench/train_step.py)
data / collate      shard-backed streaming dataset; rows -> batches
optim / loop        per-stage optimizer and schedule; the accelerate loop
checkpoint          trainable weights + resume state
evaluate / metrics  generation on a held-out split; chrF, CIDEr-D, exact match
export              merge LoRA, write a Blip2ForConditionalGeneration folder
cli                 `polymix train` (also `python -m polymix.training`)
random_models       tiny models with random weights, built from configs (the presets' ``tiny:`` sources)
"""
