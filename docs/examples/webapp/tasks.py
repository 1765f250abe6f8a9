"""Job functions for the web-app example: work too slow to do inside a request."""

from collections import Counter


def count_words(text: str) -> dict[str, object]:
    """Count the words of ``text``; returns a JSON-friendly dict (results are stored as JSON)."""
    words = [word.strip(".,;:!?\"'()").lower() for word in text.split()]
    counts = Counter(word for word in words if word)
    if not counts:
        raise ValueError("no words to count")
    return {"words": sum(counts.values()), "most_common": counts.most_common(1)[0][0]}
