"""The prepare stage: English caption/VQA sources -> templated English shards.

    polymix prepare --source coco --path dataset_coco.json --image-root /data/coco --out out/mix

``prepare.py`` runs a source (``sources/``: coco, vqav2, aokvqa, generic, hf, shapes) through the
instruction templates and writes chunks with the core's shard writer (:mod:`polymix.shards`).
"""
