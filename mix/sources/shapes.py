"""The ``shapes`` source: a synthetic, deterministic caption/VQA dataset that needs no download.

Each scene is one to three coloured shapes (circle, square, triangle) side by side on a plain
background, drawn with Pillow into ``image_root/shapes-<index>.png``. Because the scene is
known, every caption and answer is true by construction:

    caption   "A red circle and a blue square on a white background."
    vqa       "How many shapes are there?" -> "two"
              "What color is the circle?" -> "red"        (when the shape occurs once)
              "What shape is on the left?" -> "circle"    (two or more shapes)
              "Is there a triangle?" -> "no"
              "What color is the background?" -> "white"

The scene is drawn from ``random.Random(seed, index)``, so the same options give the same
images and texts on every machine. It is the default sample of ``make demo`` and the domain of
the offline toy translation model.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Iterator

from polymix.mix.sources.base import ConfigError, Source, SourceItem, register

COLORS = ("red", "green", "blue", "yellow", "purple", "orange")
RGB = {
    "red": (220, 30, 30),
    "green": (30, 160, 60),
    "blue": (30, 70, 220),
    "yellow": (240, 210, 20),
    "purple": (130, 40, 170),
    "orange": (245, 140, 20),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
    "gray": (128, 128, 128),
}
SHAPES = ("circle", "square", "triangle")
BACKGROUNDS = ("white", "black", "gray")
NUMBERS = ("zero", "one", "two", "three")
POSITIONS = {1: ("middle",), 2: ("left", "right"), 3: ("left", "middle", "right")}


@dataclasses.dataclass(frozen=True)
class Scene:
    background: str
    objects: tuple[tuple[str, str], ...]
    """(color, shape) from left to right."""

    def positions(self) -> tuple[str, ...]:
        return POSITIONS[len(self.objects)]


def make_scene(seed: int, index: int) -> Scene:
    rng = random.Random(f"shapes/{seed}/{index}")
    count = rng.choice((1, 2, 2, 3))
    background = rng.choice(BACKGROUNDS)
    objects = tuple((rng.choice(COLORS), rng.choice(SHAPES)) for _ in range(count))
    return Scene(background, objects)


def _phrase(color: str, shape: str) -> str:
    return f"{'an' if color[0] in 'aeiou' else 'a'} {color} {shape}"


def caption(scene: Scene) -> str:
    parts = [_phrase(c, s) for c, s in scene.objects]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    text = f"{listed} on a {scene.background} background."
    return text[0].upper() + text[1:]


def questions(scene: Scene) -> list[tuple[str, str]]:
    """True (question, answer) pairs about a scene, in a fixed order."""
    qa = [("How many shapes are there?", NUMBERS[len(scene.objects)])]
    shapes_seen = [s for _, s in scene.objects]
    for color, shape in scene.objects:
        if shapes_seen.count(shape) == 1:
            qa.append((f"What color is the {shape}?", color))
    if len(scene.objects) > 1:
        for position, (_, shape) in zip(scene.positions(), scene.objects):
            if position != "middle":
                qa.append((f"What shape is on the {position}?", shape))
    for shape in SHAPES:
        qa.append((f"Is there a {shape}?", "yes" if shape in shapes_seen else "no"))
    qa.append(("What color is the background?", scene.background))
    return qa


def draw(scene: Scene, size: int):
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), RGB[scene.background])
    pen = ImageDraw.Draw(image)
    n = len(scene.objects)
    cell = size / n
    radius = min(cell, size) * 0.3
    for k, (color, shape) in enumerate(scene.objects):
        cx, cy = cell * (k + 0.5), size / 2
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        fill = RGB[color]
        if shape == "circle":
            pen.ellipse(box, fill=fill)
        elif shape == "square":
            pen.rectangle(box, fill=fill)
        else:
            pen.polygon([(cx, cy - radius), (cx + radius, cy + radius), (cx - radius, cy + radius)], fill=fill)
    return image


@register
class ShapesSource(Source):
    name = "shapes"
    writes_images = True
    description = "Synthetic coloured shapes with true captions and VQA pairs (no download; the demo's default)."
    formats = "none: images are drawn into --image-root"
    tasks = ("caption", "short_caption", "vqa", "vqg")
    default_tasks = ("caption", "vqa")

    @dataclasses.dataclass
    class Options:
        count: int = dataclasses.field(default=100, metadata={"help": "number of images (scenes)"})
        seed: int = dataclasses.field(default=0, metadata={"help": "seed of the scenes; same seed, same data"})
        size: int = dataclasses.field(default=224, metadata={"help": "image side in pixels"})
        val_every: int = dataclasses.field(default=10, metadata={"help": "every N-th scene goes to split 'val' (0: none)"})

    def __init__(self, image_root=None, image_check="header", **options):
        super().__init__(image_root=image_root, image_check=image_check, **options)
        if self.image_root is None:
            raise ConfigError("source 'shapes' draws its images: pass an image root (--image-root) to draw them into")
        if self.options.count < 1 or self.options.size < 16:
            raise ConfigError("source 'shapes': count must be >= 1 and size >= 16")

    def _image_name(self, index: int) -> str:
        return f"shapes-{self.options.seed}-{index:06d}.png"

    def prepare_images(self) -> None:
        """Draw every scene's image once; existing files are kept (re-runs draw nothing)."""
        root = Path(self.image_root)
        root.mkdir(parents=True, exist_ok=True)
        for index in range(self.options.count):
            path = root / self._image_name(index)
            if not path.exists():
                tmp = path.with_name(f".{path.name}.tmp")
                draw(make_scene(self.options.seed, index), self.options.size).save(tmp, format="PNG")
                tmp.replace(path)

    def items(self) -> Iterator[SourceItem]:
        o = self.options
        for index in range(o.count):
            scene = make_scene(o.seed, index)
            split = "val" if o.val_every and index % o.val_every == o.val_every - 1 else "train"
            image = self._image_name(index)
            text = caption(scene)
            yield SourceItem(f"{o.seed}-{index:06d}-cap", split, image, {"caption": text}, [text])
            for k, (question, answer) in enumerate(questions(scene)):
                yield SourceItem(f"{o.seed}-{index:06d}-q{k}", split, image, {"question": question, "answer": answer}, [answer])
