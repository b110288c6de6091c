"""Stable ids and statuses through growth, wobble, splits, merges, drainage, new and vanished lakes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from glof_monitor_helpers import by_source, circle, lake_of, square, track

from glofwatch.changes.lineage import assign_lineage
from glofwatch.changes.match import Edges, overlap_pairs, primary_overlaps

D0, D1, D2 = "2019-10-15", "2020-10-15", "2021-10-15"
FAR = 20_000.0  # metres between unrelated lakes


def test_growing_lake_keeps_its_id(tmp_path) -> None:
    tracked = track(tmp_path, {D0: [circle(1.0), circle(0.2, FAR)], D1: [circle(0.2, FAR), circle(1.4)]})
    grown = by_source(tracked, D1, 1)
    assert lake_of(tracked, D0, 0) == lake_of(tracked, D1, 1) == 1  # largest lake of the first date is lake 1
    assert grown["status"] == "growing" and grown["n_obs"] == 2
    assert grown["area_first_km2"] == pytest.approx(1.0, rel=1e-4)
    assert grown["change_km2"] == pytest.approx(0.4, rel=1e-3)
    assert grown["growth_pct_per_year"] == pytest.approx(40.0 / (366 / 365.25), rel=1e-3)
    assert by_source(tracked, D1, 0)["status"] == "stable"
    assert len(tracked.tracks) == 2


def test_outline_wobbling_by_a_pixel_stays_stable(tmp_path) -> None:
    # half the shore moves out by one 10 m pixel: change (pi/2)((r+10)^2 - r^2) = 0.01788 km2, below the
    # combined sigma sqrt(0.017725^2 + 0.017982^2) = 0.02525 km2
    r = math.sqrt(1e6 / math.pi)
    bulge = shapely.Point(0, 0).buffer(r + 10.0, quad_segs=256).intersection(shapely.box(-2000, 0, 2000, 2000))
    wobbled = shapely.union(circle(1.0), bulge)
    tracked = track(tmp_path, {D0: [circle(1.0)], D1: [wobbled]})
    lake = tracked.tracks.iloc[0]
    assert lake["change_km2"] == pytest.approx(math.pi / 2 * ((r + 10) ** 2 - r**2) / 1e6, rel=1e-3)
    assert lake["change_uncertainty_km2"] == pytest.approx(0.02525, rel=2e-3)
    assert lake["status"] == "stable"


def test_split_keeps_id_on_largest_part_and_gives_parent(tmp_path) -> None:
    whole = shapely.box(0, 0, 2000, 500)  # 1 km2
    left, right = shapely.box(0, 0, 1100, 500), shapely.box(1200, 0, 2000, 500)  # 0.55 + 0.40 km2
    tracked = track(tmp_path, {D0: [circle(0.3, FAR), whole], D1: [right, circle(0.3, FAR), left]})
    original = lake_of(tracked, D0, 1)
    assert original == 1
    keeper, part = by_source(tracked, D1, 2), by_source(tracked, D1, 0)
    assert lake_of(tracked, D1, 2) == original and keeper["status"] == "split"
    assert keeper["area_last_km2"] == pytest.approx(0.55, rel=1e-4)
    assert keeper["area_prev_km2"] == pytest.approx(1.0, rel=1e-4)
    new_id = lake_of(tracked, D1, 0)
    assert new_id == 3 and part["status"] == "split" and part["parent_id"] == original and part["n_obs"] == 1
    assert by_source(tracked, D1, 1)["status"] == "stable"


def test_merge_keeps_id_of_largest_and_records_the_swallowed(tmp_path) -> None:
    a, b = circle(0.5, 0, 0), circle(0.3, 900, 0)  # 399 m and 309 m radii: 192 m apart
    merged = shapely.union_all([a.buffer(20), b.buffer(20), shapely.box(0, -150, 900, 150)])
    tracked = track(tmp_path, {D0: [b, a], D1: [merged]})
    id_a, id_b = lake_of(tracked, D0, 1), lake_of(tracked, D0, 0)
    assert (id_a, id_b) == (1, 2)
    assert lake_of(tracked, D1, 0) == id_a
    survivor, swallowed = tracked.tracks.set_index("lake_id").loc[id_a], tracked.tracks.set_index("lake_id").loc[id_b]
    assert survivor["status"] == "merged" and survivor["last_date"] == D1
    assert swallowed["status"] == "merged" and swallowed["merged_into"] == id_a and swallowed["last_date"] == D0
    assert survivor["area_prev_km2"] == pytest.approx(0.5, rel=1e-4)


def test_merge_keeps_id_of_earliest_lake_even_if_smaller(tmp_path) -> None:
    old, young = circle(0.2, 0, 0), circle(0.5, 700, 0)  # young lake appears on D1, larger
    both = shapely.union_all([old.buffer(30), young.buffer(30), shapely.box(0, -100, 700, 100)])
    tracked = track(tmp_path, {D0: [old], D1: [young, old], D2: [both]})
    old_id, young_id = lake_of(tracked, D0, 0), lake_of(tracked, D1, 0)
    assert (old_id, young_id) == (1, 2) and lake_of(tracked, D1, 1) == old_id
    assert lake_of(tracked, D2, 0) == old_id
    young_track = tracked.tracks.set_index("lake_id").loc[young_id]
    assert young_track["merged_into"] == old_id and young_track["status"] == "merged"


@pytest.mark.parametrize(("after_km2", "threshold", "status"), [
    (0.60, 0.3, "drained"),  # South Lhonak, Oct 2023: 1.63 -> 0.60 km2, a 63 % loss
    (1.22, 0.3, "shrinking"),  # 25 % loss: real, but under the threshold
    (1.22, 0.2, "drained"),  # ... over a 20 % threshold
])  # fmt: skip
def test_sudden_loss_beyond_threshold_is_drained(tmp_path, after_km2: float, threshold: float, status: str) -> None:
    tracked = track(tmp_path, {D0: [circle(1.63)], D1: [circle(after_km2)]}, drain_threshold=threshold)
    lake = tracked.tracks.iloc[0]
    assert lake["status"] == status and lake["lake_id"] == 1
    assert lake["change_km2"] == pytest.approx(after_km2 - 1.63, rel=1e-3)
    assert tracked.observations["status"].tolist()[-1] == status


def test_drained_into_two_remnants_is_drained_not_split(tmp_path) -> None:
    before = shapely.box(0, 0, 2000, 800)  # 1.6 km2
    remnants = [shapely.box(100, 100, 700, 600), shapely.box(1300, 100, 1800, 600)]  # 0.30 + 0.25 km2
    tracked = track(tmp_path, {D0: [before], D1: remnants})
    assert sorted(tracked.tracks["status"]) == ["drained", "drained"]
    assert sorted(tracked.tracks["parent_id"].dropna().tolist()) == [1]


def test_split_with_the_same_water_is_not_drained(tmp_path) -> None:
    # the keeper alone lost 45 %, but the two parts hold 95 % of the water
    tracked = track(tmp_path, {D0: [shapely.box(0, 0, 2000, 500)],
                               D1: [shapely.box(0, 0, 1100, 500), shapely.box(1200, 0, 2000, 500)]})
    assert set(tracked.tracks["status"]) == {"split"}


def test_new_and_vanished(tmp_path) -> None:
    tracked = track(tmp_path, {D0: [circle(1.0), circle(0.1, FAR)], D1: [circle(1.0), circle(0.05, -FAR)]})
    assert by_source(tracked, D1, 1)["status"] == "new" and by_source(tracked, D1, 1)["first_date"] == D1
    gone = by_source(tracked, D0, 1)
    assert gone["status"] == "vanished" and gone["last_date"] == D0 and np.isnan(gone["change_km2"])
    assert by_source(tracked, D1, 0)["status"] == "stable"


def test_empty_last_inventory_means_every_lake_vanished(tmp_path) -> None:
    tracked = track(tmp_path, {D0: [circle(1.0), circle(0.2, FAR)], D1: []})
    assert tracked.dates == [D0, D1] and tracked.tracks["status"].tolist() == ["vanished", "vanished"]


def test_status_is_that_of_the_last_step_and_ids_do_not_change_with_later_dates(tmp_path) -> None:
    two = track(tmp_path / "two", {D0: [circle(1.0), circle(0.4, FAR)], D1: [circle(0.4, FAR), circle(1.4)]})
    three = track(tmp_path / "three", {D0: [circle(1.0), circle(0.4, FAR)], D1: [circle(0.4, FAR), circle(1.4)],
                                       D2: [circle(1.41), circle(0.4, FAR)]})
    common = three.observations[three.observations["date"] != D2]
    assert common["lake_id"].tolist() == two.observations["lake_id"].tolist()
    lake = by_source(three, D2, 0)
    assert lake["status"] == "stable" and lake["n_obs"] == 3 and lake["area_prev_km2"] == pytest.approx(1.4, rel=1e-3)
    assert three.observations.set_index(["date", "source_row"]).loc[(D1, 1), "status"] == "growing"
    # growth over the whole record: 1.0 -> 1.41 km2 in 731 days
    assert lake["growth_pct_per_year"] == pytest.approx(41.0 / (731 / 365.25), rel=1e-3)


def test_pond_wobbling_into_a_drained_neighbours_bed_stays_itself(tmp_path) -> None:
    big, pond = square(1000.0), shapely.box(1000, 400, 1040, 440)  # touching
    remnant, pond_moved = shapely.box(350, 350, 650, 650), shapely.box(990, 400, 1030, 440)  # 10 m into the bed
    tracked = track(tmp_path, {D0: [big, pond], D1: [remnant, pond_moved]})
    assert lake_of(tracked, D1, 1) == lake_of(tracked, D0, 1) == 2
    assert by_source(tracked, D1, 1)["status"] == "stable"
    assert by_source(tracked, D1, 0)["status"] == "drained"
    assert tracked.tracks["parent_id"].isna().all()


def test_same_lake_on_two_tiles_of_one_date_is_one_observation(tmp_path) -> None:
    from glof_monitor_helpers import write_inventory

    from glofwatch.changes.monitor import load_observations
    from glofwatch.changes.tracks import track_observations

    lake = circle(1.0)
    west_part = lake.intersection(shapely.box(-2000, -2000, 200, 2000))  # the tiles overlap from x = -100 to 200
    east_part = lake.intersection(shapely.box(-100, -2000, 2000, 2000))
    west = write_inventory(tmp_path / "tileA_2019-10-15.gpkg", [west_part])
    east = write_inventory(tmp_path / "tileB_2019-10-15.gpkg", [east_part])
    later = write_inventory(tmp_path / "lakes_2020-10-15.gpkg", [lake])
    tracked = track_observations(load_observations([west, east, later]).frame)
    assert tracked.n_same_date_merged == 1 and len(tracked.tracks) == 1
    first = tracked.observations.iloc[0]
    assert first["area_km2"] == pytest.approx(1.0, rel=1e-4) and ";" in first["source"]
    assert tracked.tracks.iloc[0]["status"] == "stable"


def test_touching_and_sliver_overlaps_are_not_overlaps() -> None:
    a = np.array([square(100.0)])
    b = np.array([square(100.0, 100.0, 0.0), square(100.0, 95.0, 0.0), square(100.0, 50.0, 0.0)])
    i, j, shared = overlap_pairs(a, b)  # touching: 0 m2; 5 % sliver: under 10 %; half: 5000 m2
    assert j.tolist() == [2] and shared.tolist() == [5000.0]
    keep = primary_overlaps(np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([300.0, 6.0, 45.0]),
                            np.array([320.0, 51.0, 50.0]))
    assert keep.tolist() == [True, False, True]


def test_lineage_rules_on_a_hand_made_graph() -> None:
    # date 0: outlines 0 (10), 1 (4); date 1: 2 (13) swallows both; 3 (2) new; date 2: 4 (8) and 5 (6) split from 2
    edges = Edges(np.array([0, 1, 2, 2]), np.array([2, 2, 4, 5]), np.array([10.0, 3.0, 7.0, 6.0]))
    lin = assign_lineage(np.array([0, 0, 1, 1, 2, 2]), np.array([10.0, 4.0, 13.0, 2.0, 8.0, 6.0]), edges)
    assert lin.lake_id.tolist() == [1, 2, 1, 3, 1, 4]
    assert lin.merged_into.tolist() == [0, 1, 0, 0] and lin.parent_id.tolist() == [0, 0, 0, 1]
    assert lin.first_date_index.tolist() == [0, 0, 1, 2]
    assert lin.split.tolist() == [False, False, False, False, True, True]
