"""The demo LLM's pre-training text: the mix's own rows, each behind its scene's slot words.

Called by :func:`polymix.training.demo.build`. Every example is (scene words, instruction,
target): the 12 words of :data:`polymix.training.demo.SLOT_WORDS` stand where the image's 12
query tokens go later, so the LLM learns to answer from them.

A short answer ("rot") is one slot's word in the row's language. Trained only on the mix's
900 training scenes, the LLM memorised the scenes instead: with the true slot words of a held-out
scene it answered colour questions 15-46% right (count and background, fixed slots, 100%). So
:meth:`TextExamples.sample` re-poses most VQA rows on a fresh scene that asks the same question:
the row's own instruction (the mix's translation), the fresh scene's words, and its answer in the
row's language as the mix translated that word. Only the mix's text is used, never a held-out
scene; captions keep their own scene (a new caption would need the translator).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import torch

REPOSE_SHARE = 0.75
"""Share of the sampled VQA rows put on a fresh scene (the rest keep their image's scene)."""
FRESH_SCENES = 20_000


class TextExamples:
    """(scene words, instruction, target) examples from the train split of a shapes mix."""

    def __init__(self, data: Path, seed: int = 0, fresh_scenes: int = FRESH_SCENES):
        from polymix.mix.sources.shapes import caption, make_scene, questions
        from polymix.training.demo import mix_rows, scene_labels, scene_of, scene_words

        every = mix_rows(data, split=None)
        held_out = {scene_of(r["image"]) for r in every if r["split"] != "train"}
        rows = [r for r in every if r["split"] == "train" and scene_of(r["image"]) is not None]

        def words(scene) -> str:
            return scene_words(scene_labels(caption(scene)))

        self.rows = [(words(scene_of(r["image"])), r["instruction"], r["target"]) for r in rows]
        self.texts = [t for r in rows for t in (r["instruction"], r["target"], r["target_en"]) if t]
        # Which question of its scene each VQA row asks (its English instruction holds it verbatim),
        # and how the mix translated each short answer in each language (its most frequent target).
        self.question: dict[int, str] = {}
        answers: dict[tuple[str, str], Counter] = defaultdict(Counter)
        for i, r in enumerate(rows):
            if r["task"] != "vqa":
                continue
            asked = [q for q, _ in questions(scene_of(r["image"])) if q in (r["instruction_en"] or "")]
            if len(asked) == 1:
                self.question[i] = asked[0]
            answers[(r["lang"], r["target_en"])][r["target"]] += 1
        self.answer = {key: c.most_common(1)[0][0] for key, c in answers.items()}
        # Each short answer one token, as each slot word is: spelled over pieces ("twee" as
        # tw+e+e, "nein" as ne+in) the small LLM wrote "twe", "tweee" and "two" (Dutch count 0.6).
        # "▁" (sentencepiece's word start) keeps a symbol at word starts: "gelb" as a bare symbol
        # split "gelbes" and came back decoded as "gelb es".
        self.answer_words = sorted({"▁" + a.strip() for a in self.answer.values() if a.strip() and " " not in a.strip()})
        self.langs = [r["lang"] for r in rows]
        # Fresh scenes (another seed than the mix's), by the questions they ask; no held-out scene.
        self.pool: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for index in range(fresh_scenes):
            scene = make_scene(seed + 2000, index)
            if scene in held_out:
                continue
            for q, a in questions(scene):
                self.pool[q].append((words(scene), a))

    def __len__(self) -> int:
        return len(self.rows)

    def sample(self, n: int, generator: torch.Generator) -> list[tuple[str, str, str]]:
        """``n`` examples drawn with replacement; VQA rows re-posed on a fresh scene with :data:`REPOSE_SHARE`."""
        idx = torch.randint(len(self.rows), (n,), generator=generator).tolist()
        coins = torch.rand(n, generator=generator).tolist()
        picks = torch.randint(1 << 30, (n,), generator=generator).tolist()
        out = []
        for i, coin, pick in zip(idx, coins, picks):
            words, instruction, target = self.rows[i]
            q = self.question.get(i)
            if q is not None and coin < REPOSE_SHARE and self.pool[q]:
                fresh, answer = self.pool[q][pick % len(self.pool[q])]
                translated = self.answer.get((self.langs[i], answer))
                if translated is not None:
                    words, target = fresh, translated
            out.append((words, instruction, target))
        return out


class SceneEmbedding(torch.nn.Module):
    """Input embeddings of the slot tokens while the LLM pre-trains: slot k's vector plus its word's.

    Each slot token (``circle=red``) has its own row so the LLM can find a slot by content, but a
    row of its own learns only from that token's rows: "red" in the circle slot and "red" in the
    square slot were unrelated, and colour answers stayed at chance (0-27% with the true words).
    Shared word vectors make what the LLM learns about "red" hold in every slot. At the end,
    :meth:`table` is written into the LLM's embedding rows of the slot tokens, so the saved LLM is
    a plain mT5."""

    def __init__(self, hidden: int):
        from polymix.training.demo import SLOT_WORDS

        super().__init__()
        words = sorted({w for ws in SLOT_WORDS for w in ws})
        self.register_buffer("word_of", torch.tensor([words.index(w) for ws in SLOT_WORDS for w in ws]), persistent=False)
        self.register_buffer("slot_of", torch.tensor([k for k, ws in enumerate(SLOT_WORDS) for _ in ws]), persistent=False)
        # mT5 embeds with std 1: the sum of two std 1/sqrt(2) vectors keeps that scale
        self.slot = torch.nn.Parameter(torch.randn(len(SLOT_WORDS), hidden) * 2**-0.5)
        self.word = torch.nn.Parameter(torch.randn(len(words), hidden) * 2**-0.5)

    def table(self) -> torch.Tensor:
        """(slot tokens, hidden): the embedding of every token of :func:`polymix.training.demo.slot_tokens`, in order."""
        return self.slot[self.slot_of] + self.word[self.word_of]
