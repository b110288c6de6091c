"""Stable lake ids through growth, merges and splits, from the overlap graph of consecutive dates.

Dates are walked in order; the rules for the observations of each date are:

1. **First date**: every outline starts a lake; ids 1, 2, ... go largest first.
2. **Inheritance**: an outline overlapping outlines of the previous date takes
   the id of the *earliest, largest* of them: the lake first seen earliest,
   then the larger outline on the previous date, then the smaller id. So a
   lake that grows, shrinks or swallows its neighbours keeps its id (a merge).
3. **Splits**: when several outlines inherit the same id, the largest keeps it;
   each other part starts a new lake whose ``parent_id`` is that id.
4. **New lakes**: an outline overlapping nothing on the previous date starts a
   new lake (no parent). New ids of a date go largest first, after all earlier ids.
5. **Ends**: a lake not continued on the next date ends there. When its outline
   overlapped one on the next date (it was swallowed in a merge), its
   ``merged_into`` is the id of the outline it shares most area with; otherwise
   it vanished.

Ids depend only on the outlines up to each date, so adding a later inventory
never renumbers the lakes of earlier ones.

:func:`transition_groups` adds, for each observation, the connected group of
outlines it belongs to in the step from the previous date (one lake, or all
parts of a merge or split): areas are compared group to group, so a lake that
splits in two has not drained, and one whose water ran into two remnants has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glofwatch.changes.match import Edges, components


@dataclass(frozen=True)
class Lineage:
    """Lake ids of observations and the relations between lakes.

    Attributes:
        lake_id: (n_obs,) id of each observation's lake (1-based).
        parent_id: (n_lakes,) lake each lake split from, 0 for none (index ``id - 1``).
        merged_into: (n_lakes,) lake each lake was swallowed by, 0 for none.
        first_date_index: (n_lakes,) date each lake was first seen on.
        n_pred: (n_obs,) overlapping outlines on the previous date.
        split: (n_obs,) True where the outline it inherits from has two or more successors.
    """

    lake_id: np.ndarray
    parent_id: np.ndarray
    merged_into: np.ndarray
    first_date_index: np.ndarray
    n_pred: np.ndarray
    split: np.ndarray


def assign_lineage(date_index: np.ndarray, area: np.ndarray, edges: Edges) -> Lineage:
    """Apply the rules of the module docs.

    Args:
        date_index: (n,) 0-based date of each observation.
        area: (n,) outline areas (any unit).
        edges: overlaps between consecutive dates (:func:`~glofwatch.changes.match.transition_edges`).

    Returns:
        The :class:`Lineage`.

    Example:
        >>> from glofwatch.changes.match import Edges
        >>> e = Edges(np.array([0, 0]), np.array([1, 2]), np.array([5.0, 3.0]))  # one lake splits in two
        >>> lin = assign_lineage(np.array([0, 1, 1]), np.array([10.0, 6.0, 4.0]), e)
        >>> lin.lake_id.tolist(), lin.parent_id.tolist()
        ([1, 1, 2], [0, 1])
    """
    date_index = np.asarray(date_index, dtype=np.int64)
    area = np.asarray(area, dtype=float)
    n = date_index.size
    lake_id = np.zeros(n, dtype=np.int64)
    n_pred = np.bincount(edges.dst, minlength=n)
    n_succ = np.bincount(edges.src, minlength=n)
    split = np.zeros(n, dtype=bool)
    parents: list[np.ndarray] = []
    firsts: list[np.ndarray] = []
    absorbed_ids: list[np.ndarray] = []
    absorbed_into: list[np.ndarray] = []
    first_date = np.zeros(0, dtype=np.int64)
    next_id = 1
    edge_date = date_index[edges.dst]
    n_dates = int(date_index.max()) + 1 if n else 0
    for t in range(n_dates):
        rows = np.flatnonzero(date_index == t)
        new = rows[n_pred[rows] == 0]
        new_parent = np.zeros(new.size, dtype=np.int64)
        if t > 0:
            sel = np.flatnonzero(edge_date == t)
            src, dst, shared = edges.src[sel], edges.dst[sel], edges.overlap_m2[sel]
            src_id = lake_id[src]
            # rule 2: each outline inherits from its earliest, largest predecessor
            order = np.lexsort((src_id, -area[src], first_date[src_id - 1], dst))
            first = _firsts(dst[order])
            heir, donor = dst[order][first], src[order][first]
            claim = lake_id[donor]
            split[heir] = n_succ[donor] >= 2
            # rule 3: among heirs of one id the largest keeps it, the others split off
            order = np.lexsort((heir, -area[heir], claim))
            heir, claim = heir[order], claim[order]
            keeps = _firsts(claim)
            lake_id[heir[keeps]] = claim[keeps]
            new = np.concatenate([heir[~keeps], new])
            new_parent = np.concatenate([claim[~keeps], new_parent])
        order = np.lexsort((new, -area[new]))  # rule 4: largest first
        new, new_parent = new[order], new_parent[order]
        lake_id[new] = np.arange(next_id, next_id + new.size)
        next_id += new.size
        parents.append(new_parent)
        firsts.append(np.full(new.size, t, dtype=np.int64))
        first_date = np.concatenate([first_date, firsts[-1]])
        if t > 0:  # rule 5: predecessors whose id did not go on were swallowed
            gone = ~np.isin(lake_id[src], lake_id[rows])
            if gone.any():
                s, d, w = src[gone], dst[gone], shared[gone]
                order = np.lexsort((d, -w, s))
                first = _firsts(s[order])
                absorbed_ids.append(lake_id[s[order][first]])
                absorbed_into.append(lake_id[d[order][first]])
    n_lakes = next_id - 1
    merged_into = np.zeros(n_lakes, dtype=np.int64)
    if absorbed_ids:
        merged_into[np.concatenate(absorbed_ids) - 1] = np.concatenate(absorbed_into)
    parent_id = np.concatenate(parents) if parents else np.zeros(0, dtype=np.int64)
    return Lineage(lake_id=lake_id, parent_id=parent_id, merged_into=merged_into, first_date_index=first_date,
                   n_pred=n_pred, split=split)


def _firsts(sorted_keys: np.ndarray) -> np.ndarray:
    """Mask of the first element of each run of equal keys in a sorted array."""
    mask = np.ones(sorted_keys.size, dtype=bool)
    mask[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return mask


def transition_groups(
    area: np.ndarray, variance: np.ndarray, edges: Edges
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Areas of the group each observation belongs to in the step from the previous date.

    A group is a connected component of the overlaps of one step: a lake and
    its predecessor, or all outlines of a merge or split on both dates. Each
    observation is split into an "incoming" and an "outgoing" node so one
    component search over all steps keeps the steps apart.

    Args:
        area: (n,) outline areas.
        variance: (n,) their variances (sigma squared).
        edges: overlaps between consecutive dates.

    Returns:
        ``(area_before, area_after, variance)`` per observation: the group's total
        area on the previous date (0 for an outline with no predecessor), on its
        own date, and the summed variance of all the group's outlines.
    """
    area = np.asarray(area, dtype=float)
    variance = np.asarray(variance, dtype=float)
    n = area.size
    label = components(2 * n, edges.src, n + edges.dst)  # outgoing node i, incoming node n + i
    out_label, in_label = label[:n], label[n:]
    k = int(label.max()) + 1 if n else 0
    before = np.bincount(out_label, weights=area, minlength=k)
    after = np.bincount(in_label, weights=area, minlength=k)
    var = np.bincount(out_label, weights=variance, minlength=k) + np.bincount(in_label, weights=variance, minlength=k)
    return before[in_label], after[in_label], var[in_label]
