"""Language identification of translated rows: score first, decide later.

scoring     four detectors (langid, py3langid, CLD2, fastText) over a text -> ``LidScore``; a process pool
models      loading the detectors, their label sets mapped to NLLB codes
quality     cheap checks: empty, copied English, repetition loops, length ratio, scripts
decide      the decision rule: detectors' votes against per-language thresholds, with reasons
filter      rows in -> kept rows + rejected rows with reasons (what the translate stage calls)
settings    ``LidSettings`` and the calibrated defaults (``settings.yaml``)
check       ``polymix lid-check``: any JSONL/Parquet file checked and written back with scores
measure     keep / reject rates of a rule on labelled texts; threshold choice
calibrate   ``polymix lid-calibrate``: dev files -> settings.yaml, with held-out figures
report      the calibration report as text
accounting  rows planned = kept + rejected, per source and language, counted from a mix's files
"""
