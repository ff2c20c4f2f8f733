"""RecBole's sequential dataset with the item-title vocabulary kept as Python strings."""

from __future__ import annotations

from typing import Any, List, Tuple

import numpy as np
import pandas as pd
from recbole.data.dataset import SequentialDataset
from recbole.utils import FeatureType

from recbole_llmrec.data.titles import PAD_TOKEN


class TextFieldDataset(SequentialDataset):
    """``SequentialDataset`` whose ``title_field`` vocabulary is an object array of Python strings.

    RecBole's ``_remap`` stores a ``token`` field's vocabulary (``field2id_token``) as a fixed-width
    unicode array, as wide as its longest token at 4 bytes a character, for every item: for titles
    that is the longest title times the catalogue (a 1,000,000-title catalogue whose longest title
    has 1,387 characters: 5.2 GiB). Here the title field alone is factorised the same way (ids from
    1 in order of first appearance, 0 = ``[PAD]``) into an object array; every other field goes
    through RecBole's ``_remap`` unchanged.
    """

    def _remap(self, remap_list: List[Tuple[Any, str, Any]]) -> None:
        title_field = self.config["title_field"] or "title"
        if len(remap_list) == 1 and remap_list[0][1] == title_field and remap_list[0][2] == FeatureType.TOKEN:
            feat, field, _ = remap_list[0]
            ids, uniques = pd.factorize(feat[field].values)
            vocabulary = np.empty(len(uniques) + 1, dtype=object)
            vocabulary[0] = PAD_TOKEN
            vocabulary[1:] = uniques
            self.field2id_token[field] = vocabulary
            self.field2token_id[field] = {token: i for i, token in enumerate(vocabulary)}
            feat[field] = ids + 1
            return
        super()._remap(remap_list)
