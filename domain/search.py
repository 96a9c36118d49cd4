"""Finding a procedure by what a person types: with or without diacritics, in any case.
Vietnamese on a phone is often typed without its marks ("ho kinh doanh" for "hộ kinh doanh"),
so both the query and the text are folded to bare Latin letters before they are compared."""

import unicodedata

# Đ is a letter of its own, not D with a combining mark: decomposition leaves it as it is.
_LETTERS = str.maketrans({"đ": "d", "Đ": "d"})


def fold(text: str) -> str:
    """`text` without diacritics, in lower case, its white space collapsed:
    "Đăng ký  HỘ kinh doanh" -> "dang ky ho kinh doanh"."""
    decomposed = unicodedata.normalize("NFD", text.translate(_LETTERS))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def matches(query: str, *texts: str) -> bool:
    """Whether every word of `query` appears in one of `texts`, folded alike. An empty query
    matches everything."""
    haystack = " ".join(fold(t) for t in texts)
    return all(word in haystack for word in fold(query).split())
