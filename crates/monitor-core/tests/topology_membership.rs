//! What the topology monitor counts as a topology change: membership, roles, the writer — never metrics.

use monitor_core::topology::{same_membership, TextRows, TopologyShape};

fn rows(cells: &[&[Option<&str>]]) -> TextRows {
    cells.iter().map(|r| r.iter().map(|c| c.map(str::to_string)).collect()).collect()
}

#[test]
fn metric_only_changes_are_not_changes() {
    // (id, is_writer, cpu, lag, last_update) as two polls a moment apart return them.
    let before = rows(&[
        &[Some("w"), Some("t"), Some("3.5"), Some("0"), Some("2026-12-06 04:00:00.100+00")],
        &[Some("r1"), Some("f"), Some("1.25"), Some("12"), Some("2026-12-06 04:00:00.090+00")],
        &[Some("r2"), Some("f"), None, None, None],
    ]);
    let after = rows(&[
        // Rows in another order, booleans spelled differently.
        &[Some("r2"), Some("false"), Some("9"), Some("3"), Some("2026-12-06 04:00:00.230+00")],
        &[Some("w"), Some("true"), Some("4.75"), Some("0"), Some("2026-12-06 04:00:00.200+00")],
        &[Some("r1"), Some("0"), Some("0.5"), Some("40"), Some("2026-12-06 04:00:00.190+00")],
    ]);
    assert!(same_membership(TopologyShape::Aurora, &before, &after));
    assert!(same_membership(TopologyShape::Aurora, &after, &before));

    // Global Aurora: (id, is_writer, visibility_lag, region); the lag moves, the region does not.
    let g1 = rows(&[&[Some("w"), Some("t"), Some("0"), Some("us-east-1")], &[Some("r"), Some("f"), Some("120"), Some("eu-west-1")]]);
    let g2 = rows(&[&[Some("w"), Some("t"), Some("0"), Some("us-east-1")], &[Some("r"), Some("f"), Some("95"), Some("eu-west-1")]]);
    assert!(same_membership(TopologyShape::GlobalAurora, &g1, &g2));
}

#[test]
fn membership_and_role_changes_are_changes() {
    let base = rows(&[&[Some("w"), Some("t"), Some("1"), Some("0"), None], &[Some("r1"), Some("f"), Some("1"), Some("5"), None]]);
    let added = rows(&[
        &[Some("w"), Some("t"), Some("1"), Some("0"), None],
        &[Some("r1"), Some("f"), Some("1"), Some("5"), None],
        &[Some("r2"), Some("f"), Some("1"), Some("5"), None],
    ]);
    let removed = rows(&[&[Some("w"), Some("t"), Some("1"), Some("0"), None]]);
    let swapped = rows(&[&[Some("w"), Some("f"), Some("1"), Some("0"), None], &[Some("r1"), Some("t"), Some("1"), Some("5"), None]]);
    let renamed = rows(&[&[Some("w"), Some("t"), Some("1"), Some("0"), None], &[Some("r9"), Some("f"), Some("1"), Some("5"), None]]);
    for (what, other) in [("added", &added), ("removed", &removed), ("roles swapped", &swapped), ("renamed", &renamed)] {
        assert!(!same_membership(TopologyShape::Aurora, &base, other), "{what} must count as a change");
    }
    let g1 = rows(&[&[Some("r"), Some("f"), Some("0"), Some("eu-west-1")]]);
    let g2 = rows(&[&[Some("r"), Some("f"), Some("0"), Some("eu-central-1")]]);
    assert!(!same_membership(TopologyShape::GlobalAurora, &g1, &g2), "a region change is a change");
    // Multi-AZ rows are (id, endpoint, port): every cell is membership.
    let m1 = rows(&[&[Some("1"), Some("a.example"), Some("5432")]]);
    let m2 = rows(&[&[Some("1"), Some("a.example"), Some("5433")]]);
    assert!(!same_membership(TopologyShape::MultiAz, &m1, &m2));
    assert!(same_membership(TopologyShape::MultiAz, &m1, &m1.clone()));
}
