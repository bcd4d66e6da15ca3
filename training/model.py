"""The mBLIP model: frozen BLIP-2 ViT -> Q-Former with query tokens -> linear projection -> LLM.

Attribute names follow transformers' ``Blip2ForConditionalGeneration`` (``vision_model``,
``query_tokens``, ``qformer``, ``language_projection``, ``language_model``), so state-dict keys
match the released mBLIP checkpoints and an export is loadable by transformers. The projected
query outputs are put in front of the instruction's embeddings: in the encoder of a seq2seq LLM
(mT0), or before the prompt of a decoder-only one (BLOOMZ), whose loss masks the query
positions and the prompt. Built by :func:`polymix.training.assemble.build_model`.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

IGNORE = -100
# Parameter groups, by name; everything else stays frozen.
GROUP_OF = (
    ("lora", lambda n: "lora_" in n),
    ("query_tokens", lambda n: n == "query_tokens"),
    ("qformer", lambda n: n.startswith("qformer.")),
    ("projection", lambda n: n.startswith("language_projection.")),
)


def group_of(name: str) -> str:
    """The parameter group of a parameter name: qformer, query_tokens, projection, lora or frozen."""
    return next((group for group, match in GROUP_OF if match(name)), "frozen")


class MBlip(nn.Module):
    def __init__(self, vision_model, qformer, query_tokens: torch.Tensor, language_model, *, decoder_only: bool):
        super().__init__()
        self.vision_model = vision_model
        self.query_tokens = nn.Parameter(query_tokens.detach().clone().float())
        self.qformer = qformer
        llm_hidden = language_model.get_input_embeddings().embedding_dim
        self.language_projection = nn.Linear(qformer.config.hidden_size, llm_hidden)
        self.language_model = language_model
        self.decoder_only = decoder_only

    @property
    def num_query_tokens(self) -> int:
        return self.query_tokens.shape[1]

    def train(self, mode: bool = True):
        super().train(mode)
        self.vision_model.eval()  # frozen: no dropout, ever
        return self

    def image_embeds(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(batch, query tokens, LLM hidden) soft prompt from images (batch, 3, H, W); from several images
        an item (batch, images, 3, H, W), their query outputs side by side, as mBLIP fed MaRVL's pairs."""
        per_item = pixel_values.shape[1] if pixel_values.dim() == 5 else 1
        pixel_values = pixel_values.flatten(0, 1) if pixel_values.dim() == 5 else pixel_values
        vision_dtype = next(self.vision_model.parameters()).dtype
        with torch.no_grad():
            image = self.vision_model(pixel_values=pixel_values.to(vision_dtype)).last_hidden_state
        mask = torch.ones(image.shape[:-1], dtype=torch.long, device=image.device)
        query = self.query_tokens.expand(image.shape[0], -1, -1)
        out = self.qformer(query_embeds=query, encoder_hidden_states=image, encoder_attention_mask=mask).last_hidden_state
        out = self.language_projection(out.to(self.language_projection.weight.dtype))
        return out.reshape(out.shape[0] // per_item, per_item * out.shape[1], out.shape[2])

    def _inputs(self, pixel_values, input_ids, attention_mask):
        text = self.language_model.get_input_embeddings()(input_ids)
        image = self.image_embeds(pixel_values).to(text.dtype)
        embeds = torch.cat([image, text], dim=1)
        ones = torch.ones(image.shape[:2], dtype=attention_mask.dtype, device=attention_mask.device)
        return embeds, torch.cat([ones, attention_mask], dim=1)

    def forward(self, pixel_values, input_ids, attention_mask, labels):
        """Mean token cross-entropy of ``labels`` (padding and prompt positions are -100)."""
        embeds, mask = self._inputs(pixel_values, input_ids, attention_mask)
        if self.decoder_only:
            prefix = torch.full((labels.shape[0], self.num_query_tokens), IGNORE, dtype=labels.dtype, device=labels.device)
            labels = torch.cat([prefix, labels], dim=1)
        return self.language_model(inputs_embeds=embeds, attention_mask=mask, labels=labels, use_cache=False).loss

    @torch.no_grad()
    def generate(self, pixel_values, input_ids, attention_mask, **kwargs) -> torch.Tensor:
        """Token ids of the generated answers (new tokens only)."""
        embeds, mask = self._inputs(pixel_values, input_ids, attention_mask)
        if self.decoder_only:
            # Generation continues the last position: move padding to the left, keeping order.
            order = torch.argsort(mask, dim=1, stable=True)
            embeds = torch.gather(embeds, 1, order.unsqueeze(-1).expand_as(embeds))
            mask = torch.gather(mask, 1, order)
        return self.language_model.generate(inputs_embeds=embeds, attention_mask=mask, **kwargs)


def set_trainable(model: MBlip, groups) -> None:
    """Freeze everything, then unfreeze the parameters of ``groups``."""
    groups = set(groups)
    for name, param in model.named_parameters():
        param.requires_grad_(group_of(name) in groups and param.is_floating_point())


def trainable_state(model: MBlip, groups=("qformer", "query_tokens", "projection", "lora")) -> "OrderedDict[str, torch.Tensor]":
    """The weights that training can change (every trainable group, whichever stage is running)."""
    return OrderedDict((n, p.detach()) for n, p in model.named_parameters() if group_of(n) in groups)


def param_counts(model: MBlip) -> dict[str, dict[str, int]]:
    """{group: {"params": n, "trainable": n}} plus a "total" row (8-bit weights count once each)."""
    counts: dict[str, dict[str, int]] = {}
    for name, param in model.named_parameters():
        row = counts.setdefault(group_of(name), {"params": 0, "trainable": 0})
        n = param.numel() * (2 if type(param).__name__ == "Params4bit" else 1)  # two 4-bit values a byte
        row["params"] += n
        row["trainable"] += n if param.requires_grad else 0
    counts["total"] = {k: sum(r[k] for r in counts.values()) for k in ("params", "trainable")}
    return counts


def format_counts(counts: dict[str, dict[str, int]]) -> str:
    lines = [f"{'group':<14}{'params':>16}{'trainable':>16}"]
    for group, row in counts.items():
        lines.append(f"{group:<14}{row['params']:>16,}{row['trainable']:>16,}")
    return "\n".join(lines)
