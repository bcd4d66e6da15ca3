"""English sources, by registry name. Importing this package registers the built-in ones.

from polymix.mix.sources import get_source
src = get_source("coco")(image_root="/data/coco", path="dataset_coco.json")
for example_or_rejection in src.examples(tasks=["caption"]): ...
"""

from polymix.mix.sources.base import (  # noqa: F401
    TASK_SLOTS,
    ConfigError,
    Rejection,
    Source,
    SourceFormatError,
    SourceItem,
    get_source,
    option_help,
    register,
    registry,
)
from polymix.mix.sources import aokvqa, coco, generic, hf, shapes, vqav2  # noqa: F401,E402
