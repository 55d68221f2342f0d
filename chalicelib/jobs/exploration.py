"""What serving needs to explore cold items (spec B.4), computed at training time.

User-Personalization versions know every item of the Items dataset, not only those with
interactions: items nobody has interacted with yet are appended to the catalogue (after
the items the model was fitted on, so model indices stay valid) and can be shown through
exploration. For each catalogue item the artifact keeps its interaction count and its
age — seconds from its CREATION_TIMESTAMP (or first interaction) to the newest
interaction in the data — from which serving picks the campaign's candidates.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from chalicelib.jobs.items import catalogue_of, creation_times, first_events, item_data, widen
from chalicelib.jobs.training import Events, TrainingJob


def extend_catalogue(job: TrainingJob, events: Events,
                     ) -> tuple[np.ndarray, sp.csr_matrix, dict[str, np.ndarray]]:
    """(item ids, user x item matrix, extras): the events' catalogue plus the Items
    dataset's items without interactions, and each item's count and age."""
    items = item_data(job)
    catalogue = catalogue_of(events.item_ids, items)
    born = creation_times(items, catalogue, first_events(events.items, events.timestamps,
                                                         len(events.item_ids)))
    extras = {"item_counts": np.bincount(events.items, minlength=len(catalogue)),
              "item_ages": float(events.timestamps.max()) - born}
    return catalogue, widen(events.matrix, len(catalogue)), extras
