"""The demo's seeing half: shapes scenes drawn, a ViT + Q-Former pre-trained to read them, a projection fitted.

BLIP-2 pre-trains its Q-Former in two stages before mBLIP re-aligns it: first to extract what an
image shows, then to feed an LLM. :func:`pretrain` is the first in small (query token k of the
Q-Former learns to name slot k of the scene, :data:`polymix.training.demo.SLOT_WORDS`), and
:func:`fit_projection` the second, in closed form. Called by :func:`polymix.training.demo.build`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from polymix.training.demo import SLOT_WORDS, DemoModels, mix_rows, _train, scene_labels, scene_of, slot_first_rows


def image_processor(size: int):
    from transformers import BlipImageProcessorPil

    return BlipImageProcessorPil(size={"height": size, "width": size})


class SceneHeads(nn.Module):
    """Query k of the Q-Former names slot k of the scene (:data:`polymix.training.demo.SLOT_WORDS`)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.heads = nn.ModuleList(nn.Linear(hidden, len(words)) for words in SLOT_WORDS)

    def forward(self, queries: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = [head(queries[:, k]) for k, head in enumerate(self.heads)]
        loss = sum(nn.functional.cross_entropy(lg, labels[:, k]) for k, lg in enumerate(logits)) / len(logits)
        correct = torch.stack([lg.argmax(-1) == labels[:, k] for k, lg in enumerate(logits)], 1).all(1)
        return loss, correct.float().mean()


def draw_scenes(data: Path, s: DemoModels) -> tuple[torch.Tensor, torch.Tensor]:
    """Freshly drawn shapes scenes (images, labels), none of them equal to a held-out scene of ``data``:
    the ViT learns to see from as many images as it needs without ever seeing an evaluation image."""
    from polymix.mix.sources.shapes import caption, draw, make_scene

    held_out = {scene_of(r["image"]) for r in mix_rows(data, split=None) if r["split"] != "train"}
    processor = image_processor(s.image_size)
    images, labels = [], []
    index = 0
    for _ in tqdm(range(s.vision_images), desc="draw scenes", unit="image", leave=False):
        while (scene := make_scene(s.seed + 1000, index)) in held_out:  # same scene, same pixels
            index += 1
        index += 1
        label = scene_labels(caption(scene))
        pixels = processor(draw(scene, s.drawn_size), return_tensors="np")["pixel_values"][0]
        images.append(torch.from_numpy(pixels))
        labels.append(label)
    return torch.stack(images), torch.tensor(labels)


def pretrain(x: torch.Tensor, y: torch.Tensor, s: DemoModels):
    """BLIP-2's first stage, in small: a ViT, a Q-Former and its query tokens trained together so that
    query k names slot k of the scene. Returns (ViT, Q-Former, query tokens, last batch's accuracy)."""
    from transformers import Blip2QFormerConfig, Blip2QFormerModel, Blip2VisionConfig, Blip2VisionModel

    vit = Blip2VisionModel(
        Blip2VisionConfig(
            hidden_size=s.vision_hidden,
            intermediate_size=2 * s.vision_hidden,
            num_hidden_layers=s.vision_layers,
            num_attention_heads=4,
            image_size=s.image_size,
            patch_size=s.patch_size,
        )
    )
    qformer = Blip2QFormerModel(
        Blip2QFormerConfig(
            hidden_size=s.qformer_hidden,
            intermediate_size=2 * s.qformer_hidden,
            num_hidden_layers=2,
            num_attention_heads=4,
            encoder_hidden_size=s.vision_hidden,
            cross_attention_frequency=1,
            vocab_size=16,
            max_position_embeddings=64,
        )
    )
    queries = nn.Parameter(torch.randn(1, len(SLOT_WORDS), s.qformer_hidden) * 0.5)
    heads = SceneHeads(s.qformer_hidden)
    order = torch.Generator().manual_seed(s.seed)

    def step_loss(step):
        idx = torch.randint(len(x), (s.batch_size,), generator=order)
        image = vit(pixel_values=x[idx]).last_hidden_state
        out = qformer(query_embeds=queries.expand(len(idx), -1, -1), encoder_hidden_states=image).last_hidden_state
        return heads(out, y[idx])

    parts = nn.ModuleList([vit, qformer, heads])
    parts.register_parameter("queries", queries)
    acc = _train(parts.train(), step_loss, s.vision_steps, s.vision_lr, "pre-train ViT + Q-Former")
    return vit.eval(), qformer.eval(), queries.detach(), acc


def query_outputs(vit, qformer, queries: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """The Q-Former's output for each query token on images ``pixels`` (what the projection maps)."""
    image = vit(pixel_values=pixels).last_hidden_state
    return qformer(query_embeds=queries.expand(len(pixels), -1, -1), encoder_hidden_states=image).last_hidden_state


@torch.no_grad()
def fit_projection(vit, qformer, queries, x: torch.Tensor, y: torch.Tensor, scene_table: torch.Tensor) -> dict[str, torch.Tensor]:
    """BLIP-2's second stage in small, in closed form: the linear map (least squares) from query k's
    output to the LLM's input vector of slot k's token (``scene_table``, rows in
    :func:`polymix.training.demo.slot_tokens` order); the warm-up stage starts from it."""
    q = torch.cat([query_outputs(vit, qformer, queries, chunk) for chunk in x[:1024].split(256)]).flatten(0, 1)
    target = scene_table[(y[:1024] + slot_first_rows()).flatten()]
    solution = torch.linalg.lstsq(torch.cat([q, torch.ones(len(q), 1)], 1), target).solution
    return {"weight": solution[:-1].T.contiguous(), "bias": solution[-1].contiguous()}
