"""A column's distinct values, exactly: `pd.factorize` without pandas' NUL blind spot.

pandas hashes an array made only of Python strings as C strings, which end at the first
NUL character: "" and "\\x00", or "a" and "a\\x00b", become one value, and a rule checked
once per distinct value then judges a garbage value by another's verdict. Department
data does carry such bytes (mis-decoded text). The check costs one comparison per value;
only an array where values were merged is hashed again, by Python's own string hashing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas._libs import hashtable


def factorize(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """`pd.factorize(values)`: codes (missing values coded -1) and the distinct values,
    with strings that differ only after a NUL character kept apart."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if uniques.dtype != object or not len(uniques):  # numbers, dates, categories
        return codes, uniques
    uniques = np.asarray(uniques, dtype=object)  # a Series' come as an Index
    objects = np.asarray(values, dtype=object)
    present = codes >= 0
    if not (objects[present] != uniques[codes[present]]).any():
        return codes, uniques
    table = hashtable.PyObjectHashTable(len(uniques))
    uniques, codes = table.factorize(objects, na_sentinel=-1)
    return codes, uniques
