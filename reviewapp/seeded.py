"""The seeded coins and orders of the review queue: reproducible from the experiment seed,
independent per reviewer and pair (assignment.py states what each one decides)."""

import hashlib

MASK_BITS = 56


def seeded_bits(*parts, bits: int = MASK_BITS) -> int:
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> (64 - bits)


def seeded_fraction(*parts) -> float:
    """A seeded number in [0, 1): the per-reviewer offset u of a paced share."""
    return seeded_bits(*parts) / 2**MASK_BITS


def left_is_a_for(seed: int, reviewer_id: int, external_id: str) -> bool:
    """The side coin: reproducible from the experiment seed, independent per (reviewer, pair)."""
    return seeded_bits(seed, "side", reviewer_id, external_id, bits=1) == 0


def claim_start(seed: int, reviewer_id: int, n: int) -> int:
    """Where the reviewer's n-th claim starts reading the shuffle-key space."""
    return seeded_bits(seed, "start", reviewer_id, n)


def by_pick_key(seed: int, reviewer_id: int):
    """Sort key for (id, shuffle_key) rows: the reviewer's own random rank of the pair,
    hash(seed, reviewer, pair) (the pair named by its seeded shuffle key), then the id."""
    return lambda row: (seeded_bits(seed, "pick", reviewer_id, row[1]), row[0])
