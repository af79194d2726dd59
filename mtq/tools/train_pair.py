"""Train the small Marian model that really translates the synthetic pair (:mod:`synth_pair`).

``python -m mtq.tools.train_pair OUT`` writes a model and its tokenizer to ``OUT`` the way
``save_pretrained`` does (weights in float16 to keep the files small). Everything is seeded:
the corpus, the SentencePiece model, the initial weights and the batch order; with the same
torch version and thread count the run gives the same weights. Training stops at the first
evaluation where beam-4 exact match on a development set reaches the goal (or at
``max_steps``), then beam-4 exact match on a held-out set from another seed is measured and
written to ``TRAINING.json`` next to the weights. Each evaluation also saves the model, so
an interrupted run leaves the last one evaluated.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mtq.tools.synth_pair import Pair, pairs
from mtq.tools.tiny_corpus import TinyModelSpec, train_sentencepiece
from mtq.tools.tiny_model import save_marian_tokenizer

LANGUAGES = ("en", "tvo")  # source, target (Tarvo, the invented language)
TRAIN_SEED, DEV_SEED, HELD_OUT_SEED = 1, 2, 3


@dataclass(frozen=True)
class Recipe:
    """The model's shape and the training schedule."""

    vocab_size: int = 1000
    d_model: int = 128
    layers: int = 3
    heads: int = 4
    ffn_dim: int = 512
    max_positions: int = 128
    train_pairs: int = 60_000
    batch_size: int = 64
    learning_rate: float = 1.5e-3
    warmup_steps: int = 400
    label_smoothing: float = 0.1
    dropout: float = 0.1
    eval_every: int = 250
    dev_pairs: int = 200
    goal: float = 0.97  # beam-4 exact match on the development set
    max_steps: int = 5000
    held_out_pairs: int = 500
    seed: int = 7
    threads: int = 2

    def spec(self) -> TinyModelSpec:
        return TinyModelSpec(
            vocab_size=self.vocab_size, d_model=self.d_model, layers=self.layers,
            heads=self.heads, ffn_dim=self.ffn_dim, max_positions=self.max_positions,
            seed=self.seed,
        )


def exact_match(model: Any, tokenizer: Any, examples: list[Pair], beams: int) -> float:
    """Share of ``examples`` whose translation equals the reference exactly."""
    import torch

    model.eval()
    right = 0
    with torch.inference_mode():
        for start in range(0, len(examples), 100):
            chunk = examples[start : start + 100]
            batch = tokenizer([p.source for p in chunk], return_tensors="pt", padding=True)
            out = model.generate(**batch, num_beams=beams, max_new_tokens=64)
            texts = tokenizer.batch_decode(out, skip_special_tokens=True)
            right += sum(t == p.target for t, p in zip(texts, chunk, strict=True))
    return right / len(examples)


def _batches(sources: list[list[int]], targets: list[list[int]], size: int,
             rng: random.Random) -> list[list[int]]:
    """Index batches of similar source length, in a shuffled order."""
    order = sorted(range(len(sources)), key=lambda i: (len(sources[i]), rng.random()))
    batches = [order[k : k + size] for k in range(0, len(order), size)]
    rng.shuffle(batches)
    return batches


def _tensors(torch: Any, rows: list[list[int]], pad: int) -> Any:
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), pad, dtype=torch.long)
    for k, row in enumerate(rows):
        out[k, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def _model(recipe: Recipe, vocab: dict[str, int]) -> Any:
    from transformers import MarianConfig, MarianMTModel

    config = MarianConfig(
        vocab_size=len(vocab), **recipe.spec().architecture(),
        pad_token_id=vocab["<pad>"], eos_token_id=vocab["</s>"],
        decoder_start_token_id=vocab["<pad>"], forced_eos_token_id=vocab["</s>"],
        scale_embedding=True, share_encoder_decoder_embeddings=True,
        dropout=recipe.dropout, attention_dropout=0.0, activation_dropout=0.0,
    )
    model = MarianMTModel(config)
    model.generation_config.num_beams = 4
    return model


def train(out: Path, recipe: Recipe = Recipe(), log: Any = print) -> dict[str, Any]:
    """Train, save to ``out`` and return the report (also written to ``TRAINING.json``)."""
    import torch
    from torch.nn.functional import cross_entropy
    from transformers import MarianTokenizer

    started = time.monotonic()
    torch.manual_seed(recipe.seed)
    torch.set_num_threads(recipe.threads)
    rng = random.Random(recipe.seed)
    corpus = list(pairs(recipe.train_pairs, TRAIN_SEED))
    dev = list(pairs(recipe.dev_pairs, DEV_SEED))
    out.mkdir(parents=True, exist_ok=True)
    spm_bytes = train_sentencepiece(
        recipe.spec(), sentences=[s for p in corpus[:20_000] for s in (p.source, p.target)])
    vocab = save_marian_tokenizer(out, spm_bytes, recipe.max_positions, LANGUAGES)
    tokenizer = MarianTokenizer.from_pretrained(out)
    log(f"tokenizer trained ({time.monotonic() - started:.0f}s)")
    sources = tokenizer([p.source for p in corpus])["input_ids"]
    targets = tokenizer(text_target=[p.target for p in corpus])["input_ids"]
    log(f"{len(corpus)} pairs tokenized ({time.monotonic() - started:.0f}s)")
    model = _model(recipe, vocab)
    pad = vocab["<pad>"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate,
                                  betas=(0.9, 0.98), weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(
        (step + 1) / recipe.warmup_steps, (recipe.warmup_steps / (step + 1)) ** 0.5))
    step, dev_score, history = 0, 0.0, []  # evaluation never draws from the seeded streams
    while step < recipe.max_steps and dev_score < recipe.goal:
        for batch in _batches(sources, targets, recipe.batch_size, rng):
            model.train()
            input_ids = _tensors(torch, [sources[i] for i in batch], pad)
            labels = _tensors(torch, [targets[i] for i in batch], pad)
            starts = torch.full((len(batch), 1), pad, dtype=torch.long)
            logits = model(input_ids=input_ids, attention_mask=input_ids.ne(pad),
                           decoder_input_ids=torch.cat([starts, labels[:, :-1]], 1)).logits
            loss = cross_entropy(logits.view(-1, logits.size(-1)), labels.view(-1),
                                 ignore_index=pad, label_smoothing=recipe.label_smoothing)
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            step += 1
            if step % recipe.eval_every == 0:
                dev_score = exact_match(model, tokenizer, dev, beams=4)
                history.append({"step": step, "loss": round(loss.item(), 4), "dev": dev_score})
                model.save_pretrained(out)
                log(f"step {step}: loss {loss.item():.3f}, dev exact {dev_score:.1%} "
                    f"({time.monotonic() - started:.0f}s)")
            if step >= recipe.max_steps or dev_score >= recipe.goal:
                break
    return finish(out, model, tokenizer, recipe, step, history,
                  round(time.monotonic() - started), log)


def finish(out: Path, model: Any, tokenizer: Any, recipe: Recipe, step: int,
           history: list[dict[str, Any]], seconds: int, log: Any = print) -> dict[str, Any]:
    """Measure beam-4 exact match on the held-out set, save the weights in float16 and write
    ``TRAINING.json``."""
    import torch

    with torch.no_grad():  # the decoder-start (pad) row must be zero, as in Marian and
        # CTranslate2; padding_idx only freezes it, after an initialisation that is not zero
        model.get_input_embeddings().weight[model.config.pad_token_id].zero_()
    held_out = list(pairs(recipe.held_out_pairs, HELD_OUT_SEED))
    score = exact_match(model, tokenizer, held_out, beams=4)
    model.half().save_pretrained(out)
    report = {
        "recipe": asdict(recipe), "steps": step, "held_out_exact_beam4": score,
        "held_out_seed": HELD_OUT_SEED, "train_seconds": seconds,
        "torch": torch.__version__, "history": history,
    }
    (out / "TRAINING.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    log(f"held-out exact match (beam 4): {score:.1%} after {step} steps, {seconds}s")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="directory to write the model into")
    parser.add_argument("--max-steps", type=int, default=Recipe.max_steps)
    args = parser.parse_args(argv)
    report = train(args.out, Recipe(max_steps=args.max_steps))
    return 0 if report["held_out_exact_beam4"] >= 0.95 else 1


if __name__ == "__main__":
    raise SystemExit(main())
