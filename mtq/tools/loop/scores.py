"""Scores of a test set's translations: chrF and BLEU (sacrebleu), and how the model's own
``confidence`` is spread, when the events carry it. Pure: no broker, no MLflow."""

from __future__ import annotations

from dataclasses import dataclass

from mtq.core.errors import ConfigError

# BLEU's tokenizer per target language: 13a is sacrebleu's default and wrong for scripts
# written without spaces; chrF needs no tokenizer.
_BLEU_TOKENIZE = {"zh": "zh", "ja": "char", "ko": "char", "th": "char"}


@dataclass(frozen=True)
class Scores:
    chrf: float
    bleu: float
    segments: int
    signature: str  # sacrebleu's, so a number can be reproduced
    confidence: dict[str, float] | None  # mean, p10, p50, p90, min; None when absent

    def metrics(self) -> dict[str, float]:
        """Flat names, as logged to MLflow (``chrF``, ``BLEU``, ``confidence_p50``, …)."""
        values = {"chrF": self.chrf, "BLEU": self.bleu, "segments": float(self.segments)}
        for name, value in (self.confidence or {}).items():
            values[f"confidence_{name}"] = value
        return values


def _quantile(ordered: list[float], q: float) -> float:
    """Linear interpolation between the two nearest ranks."""
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def confidence_spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"mean": sum(ordered) / len(ordered), "p10": _quantile(ordered, 0.1),
            "p50": _quantile(ordered, 0.5), "p90": _quantile(ordered, 0.9), "min": ordered[0]}


def score(hypotheses: list[str], references: list[str], target_lang: str,
          confidence: list[float] | None = None) -> Scores:
    try:
        from sacrebleu.metrics.bleu import BLEU
        from sacrebleu.metrics.chrf import CHRF
    except ImportError as exc:
        raise ConfigError(f"mtq evaluate needs sacrebleu ({exc}); install it with "
                          "pip install 'mtq[registry]'") from exc
    if len(hypotheses) != len(references) or not references:
        raise ValueError(f"{len(hypotheses)} translations for {len(references)} references")
    bleu = BLEU(tokenize=_BLEU_TOKENIZE.get(target_lang.split("-")[0].lower(), "13a"))
    chrf = CHRF()
    bleu_score = bleu.corpus_score(hypotheses, [references])
    chrf_score = chrf.corpus_score(hypotheses, [references])
    return Scores(
        chrf=round(chrf_score.score, 4), bleu=round(bleu_score.score, 4),
        segments=len(references),
        signature=f"chrF {chrf.get_signature()}; BLEU {bleu.get_signature()}",
        confidence=confidence_spread(confidence) if confidence else None,
    )
