"""The synthetic pair: deterministic, and its alignment says where every word went."""

from __future__ import annotations

from mtq.tools import synth_pair
from mtq.tools.synth_pair import dictionary, pairs


def test_the_same_seed_gives_the_same_pairs_and_another_seed_others() -> None:
    assert list(pairs(50, 11)) == list(pairs(50, 11))
    assert list(pairs(50, 11)) != list(pairs(50, 12))


def test_the_dictionary_is_one_to_one_and_disjoint_from_the_source_words() -> None:
    words = dictionary()
    assert len(words) >= 300
    assert len(set(words.values())) == len(words)
    assert not set(words.values()) & set(words)
    assert all(w.isascii() and w.isalpha() for w in words.values())


def test_the_alignment_is_a_permutation_that_maps_each_word_to_its_translation() -> None:
    words = dictionary()
    moved = 0
    for pair in pairs(300, 5):
        source, target = pair.source_words, pair.target_words
        assert sorted(pair.alignment) == list(range(len(target)))
        for i, j in enumerate(pair.alignment):
            assert target[j] == words.get(source[i], source[i])
        moved += pair.alignment != tuple(range(len(source)))
        assert pair.source[-1] == pair.target[-1] in ".?"
    assert moved > 250  # the reordering rules make most alignments non-monotone


def test_adjectives_follow_nouns_and_verbs_end_the_clause() -> None:
    adjectives = set(synth_pair._ADJECTIVES)
    verbs = set(synth_pair._TRANSITIVE) | set(synth_pair._INTRANSITIVE)
    closers = {dictionary()[w] for w in synth_pair._CONJUNCTIONS} | {".", "?"}
    for pair in pairs(300, 6):
        source, target, at = pair.source_words, pair.target_words, pair.alignment
        for i, word in enumerate(source):
            if word in adjectives:  # right after its noun, the next source word
                assert at[i] == at[i + 1] + 1
            if word in verbs:  # last in its clause
                assert target[at[i] + 1] in closers
