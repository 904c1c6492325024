"""Class descriptions, written for this library, and their sentence embeddings.

Each class is described by its name and one plain line about what it looks like; the text
``"<name>: <line>"`` is embedded by the frozen all-MiniLM-L6-v2
(:class:`hyperweights.data.text.SentenceEncoder`) into a 384-wide unit vector, the condition
from which a zero-shot classifier generates that class's weights. Attribute vectors (any
``(C, k)`` float tensor) can stand in for the embeddings.

Example:
    >>> class_texts(FASHION_MNIST)[9]
    'ankle boot: a sturdy shoe that covers the foot and reaches just above the ankle'
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["FASHION_MNIST", "DIGITS", "class_texts", "embed_classes"]

#: Fashion-MNIST's ten classes in label order: (name, one-line description)
FASHION_MNIST: tuple[tuple[str, str], ...] = (
    ("t-shirt", "a short-sleeved casual top pulled over the head, usually plain cotton"),
    ("trouser", "a long garment for the lower body with two separate legs"),
    ("pullover", "a long-sleeved knitted sweater pulled on over the head for warmth"),
    ("dress", "a one-piece garment covering the body and hanging down over the legs"),
    ("coat", "a long-sleeved outer garment with buttons or a zip, worn over other clothes"),
    ("sandal", "an open shoe of straps on a flat sole that leaves most of the foot bare"),
    ("shirt", "a collared top with long or short sleeves and buttons down the front"),
    ("sneaker", "a low soft sports shoe with a rubber sole and laces"),
    ("bag", "a container with handles or a strap for carrying things"),
    ("ankle boot", "a sturdy shoe that covers the foot and reaches just above the ankle"),
)

#: scikit-learn's handwritten digits 0-9 by the shape of their strokes
DIGITS: tuple[tuple[str, str], ...] = (
    ("zero", "a single closed oval loop with nothing inside"),
    ("one", "a single straight vertical stroke"),
    ("two", "a curved top, a diagonal down to the left and a flat base"),
    ("three", "two bumps open to the left stacked on top of each other"),
    ("four", "a vertical stroke crossed by a horizontal bar, joined by a diagonal at the top"),
    ("five", "a flat top bar, a short vertical line and a round belly open to the left"),
    ("six", "a curve coming down into a closed loop at the bottom"),
    ("seven", "a flat top bar and a long diagonal stroke down to the left"),
    ("eight", "two closed loops stacked one on top of the other"),
    ("nine", "a closed loop at the top with a straight tail going down"),
)


def class_texts(classes: tuple[tuple[str, str], ...]) -> list[str]:
    """``"<name>: <description>"`` per class, in label order."""
    if not classes or not all(isinstance(c, tuple) and len(c) == 2 and all(isinstance(s, str) and s
                                                                           for s in c) for c in classes):
        raise ValueError("classes must be a non-empty sequence of (name, description) string pairs, "
                         f"got {classes!r}")
    return [f"{name}: {line}" for name, line in classes]


def embed_classes(classes: tuple[tuple[str, str], ...], encoder=None) -> Tensor:
    """The classes' description embeddings ``(C, 384)`` by the frozen all-MiniLM-L6-v2.

    Args:
        classes: ``(name, description)`` pairs in label order (e.g. :data:`FASHION_MNIST`).
        encoder: a :class:`~hyperweights.data.text.SentenceEncoder` (built if ``None``).
    """
    texts = class_texts(classes)
    if encoder is None:
        from ..data.text import SentenceEncoder
        encoder = SentenceEncoder(max_length=64)
    return encoder.encode(texts).cpu()
