import hashlib

from PIL import Image

from polymix.schema import Example
from polymix.mix.sources import get_source
from polymix.mix.sources.shapes import COLORS, RGB, caption, make_scene, questions


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.png"))}


def test_images_and_texts_are_deterministic(tmp_path):
    a = get_source("shapes")(image_root=tmp_path / "a", count=12)
    b = get_source("shapes")(image_root=tmp_path / "b", count=12)
    a.prepare_images(), b.prepare_images()
    assert len(_digest(tmp_path / "a")) == 12
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert [e.to_dict() for e in a.examples()] == [e.to_dict() for e in b.examples()]


def test_captions_and_answers_are_true_of_the_drawn_image(tmp_path):
    src = get_source("shapes")(image_root=tmp_path, count=30, size=90)
    src.prepare_images()
    for index in range(30):
        scene = make_scene(0, index)
        image = Image.open(tmp_path / f"shapes-0-{index:06d}.png").convert("RGB")
        n = len(scene.objects)
        for k, (color, shape) in enumerate(scene.objects):
            # the centre of each shape's cell has the shape's colour
            centre = (int(90 / n * (k + 0.5)), 45 + (8 if shape == "triangle" else 0))
            assert image.getpixel(centre) == RGB[color], (index, k)
        assert image.getpixel((0, 0)) == RGB[scene.background]
        text = caption(scene)
        assert text.endswith(f"on a {scene.background} background.")
        assert all(f"{c} {s}" in text for c, s in scene.objects)
        qa = dict(questions(scene))
        assert qa["How many shapes are there?"] == ("zero", "one", "two", "three")[n]
        for shape in ("circle", "square", "triangle"):
            present = any(s == shape for _, s in scene.objects)
            assert qa[f"Is there a {shape}?"] == ("yes" if present else "no")
        if n > 1:
            assert qa["What shape is on the left?"] == scene.objects[0][1]
            assert qa["What shape is on the right?"] == scene.objects[-1][1]
        for color, shape in scene.objects:
            if f"What color is the {shape}?" in qa and [s for _, s in scene.objects].count(shape) == 1:
                assert qa[f"What color is the {shape}?"] == color


def test_examples_cover_default_tasks_and_splits(tmp_path):
    src = get_source("shapes")(image_root=tmp_path, count=20)
    src.prepare_images()
    examples = list(src.examples())
    assert all(isinstance(e, Example) for e in examples)
    assert {e.task for e in examples} == {"caption", "vqa"}
    assert sum(e.task == "caption" for e in examples) == 20
    assert {e.split for e in examples} == {"train", "val"}
    assert len({e.id for e in examples}) == len(examples)
    assert all(c in COLORS for c in COLORS)
