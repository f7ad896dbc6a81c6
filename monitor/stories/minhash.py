"""Hashing for near-duplicate detection: stable hashes, word shingles, MinHash and LSH bands.

Pure functions, no I/O, deterministic across processes (no use of Python's salted ``hash()``):

- :func:`stable_hash64`: a 64-bit blake2b hash of a string.
- :func:`shingles`: word k-shingles hashed to 64-bit ints.
- :class:`MinHasher`: MinHash signatures (universal hashing ``(a*x + b) mod p`` with a fixed seed,
  vectorised with numpy) and LSH band keys (blake2b of band number and rows, as signed 63-bit
  ints for a SQL column).

:mod:`monitor.stories.textfeatures` re-exports all three.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt


def stable_hash64(text: str) -> int:
    """A 64-bit unsigned hash of ``text`` that is the same in every process (blake2b)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def stable_hashes(texts: Iterable[str]) -> list[int]:
    """:func:`stable_hash64` of each text (the loop inlined: most of the cost of a short text's
    hash is the Python around it)."""
    blake2b, from_bytes = hashlib.blake2b, int.from_bytes
    return [from_bytes(blake2b(t.encode("utf-8"), digest_size=8).digest(), "big") for t in texts]


def word_windows(tokens: Sequence[str], k: int = 3) -> list[str]:
    """Each run of ``k`` consecutive tokens, joined by spaces, in order."""
    if k == 3:
        later, last = tokens[1:], tokens[2:]  # shorter: zip stops at the last window
        return [f"{a} {b} {c}" for a, b, c in zip(tokens, later, last, strict=False)]
    return [" ".join(tokens[i : i + k]) for i in range(len(tokens) - k + 1)]


def shingles(tokens: Sequence[str], k: int = 3) -> frozenset[int]:
    """Hashed word ``k``-shingles of ``tokens``; a text shorter than ``k`` words is one shingle."""
    if not tokens:
        return frozenset()
    if len(tokens) < k:
        return frozenset({stable_hash64(" ".join(tokens))})
    return frozenset(stable_hashes(word_windows(tokens, k)))


_MERSENNE61 = (1 << 61) - 1
_EMPTY = _MERSENNE61
_P = np.uint64(_MERSENNE61)
_LOW32 = np.uint64((1 << 32) - 1)
_LOW29 = np.uint64((1 << 29) - 1)
_U3, _U29, _U32, _U61 = np.uint64(3), np.uint64(29), np.uint64(32), np.uint64(61)

_U64Array = npt.NDArray[np.uint64]


def _mod_mersenne61(v: _U64Array) -> _U64Array:
    """``v mod (2**61 - 1)`` for any uint64 ``v``: ``2**61 = 1`` so fold the top 3 bits onto the
    rest, then subtract ``p`` once where needed (``r - p`` wraps for ``r < p``, so ``minimum``
    picks ``r`` there)."""
    r = (v & _P) + (v >> _U61)
    return np.minimum(r, r - _P)


class MinHasher:
    """MinHash signatures and LSH band keys.

    ``num_perm`` hash functions ``h_i(x) = (a_i * x + b_i) mod (2**61 - 1)`` drawn from
    ``random.Random(seed)`` (deterministic for a given seed on every platform). The signature is
    split into ``bands`` bands of ``num_perm // bands`` rows; two texts share a band key with
    probability ``1 - (1 - J**r)**b`` for Jaccard similarity J. The default 32 bands x 4 rows puts
    the 50% point near J = 0.42, well under the verification bar used by :mod:`stories.dedup`,
    so lightly edited copies are still found (J = 0.6 is a candidate 99% of the time).

    The hashes are computed with numpy for all permutations and shingles at once, exactly (the
    same values as Python's big integers): the 122-bit product ``a * x`` is split into 32-bit
    halves so that no partial product overflows uint64, and reduced with ``2**61 = 1 (mod p)``.
    """

    def __init__(self, num_perm: int = 128, bands: int = 32, seed: int = 20130101) -> None:
        if num_perm % bands:
            raise ValueError("num_perm must be a multiple of bands")
        rng = random.Random(seed)
        self.num_perm = num_perm
        self.bands = bands
        self.rows = num_perm // bands
        params = [
            (rng.randrange(1, _MERSENNE61), rng.randrange(0, _MERSENNE61)) for _ in range(num_perm)
        ]
        # one row per permutation, so that a row of shingles broadcasts against them
        a = np.array([a for a, _ in params], dtype=np.uint64).reshape(-1, 1)
        self._a_hi, self._a_lo = a >> _U32, a & _LOW32
        self._b = np.array([b for _, b in params], dtype=np.uint64).reshape(-1, 1)

    def signature(self, shingle_set: Iterable[int]) -> tuple[int, ...]:
        """The MinHash signature of a set of 64-bit shingle hashes (all-max for an empty set)."""
        xs = list(shingle_set)
        if not xs:
            return (_EMPTY,) * self.num_perm
        x = _mod_mersenne61(np.array(xs, dtype=np.uint64))
        x_hi, x_lo = x >> _U32, x & _LOW32  # x < 2**61: x_hi < 2**29
        a_hi, a_lo = self._a_hi, self._a_lo
        # a * x = hi * 2**64 + mid * 2**32 + lo, and 2**64 = 8, 2**61 = 1 (mod p); each of the
        # six terms summed into acc is under 2**61 (or far less), so acc stays under 2**64
        lo = a_lo * x_lo  # < 2**64
        mid = a_hi * x_lo
        mid += a_lo * x_hi  # < 2**62
        acc = a_hi * x_hi  # hi < 2**58
        acc <<= _U3  # hi * 2**64 = hi * 8
        acc += mid >> _U29  # mid * 2**32 = (mid >> 29) * 2**61 + (mid & (2**29 - 1)) * 2**32
        mid &= _LOW29
        mid <<= _U32
        acc += mid
        acc += lo >> _U61  # lo = (lo >> 61) * 2**61 + (lo & p)
        lo &= _P
        acc += lo
        acc += self._b
        return tuple(_mod_mersenne61(acc).min(axis=1).tolist())

    def band_keys(self, signature: Sequence[int]) -> list[int]:
        """One signed 63-bit key per band (band number is hashed in, so bands never collide)."""
        r = self.rows
        values = list(map(str, signature))
        data = (f"{i}:" + ",".join(values[i * r : (i + 1) * r]) for i in range(self.bands))
        return [h >> 1 for h in stable_hashes(data)]

    @staticmethod
    def estimate_jaccard(a: Sequence[int], b: Sequence[int]) -> float:
        """Share of equal signature positions: an unbiased estimate of Jaccard similarity."""
        if not a or len(a) != len(b):
            return 0.0
        return sum(1 for x, y in zip(a, b, strict=True) if x == y) / len(a)
