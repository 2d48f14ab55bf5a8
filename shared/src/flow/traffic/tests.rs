//! A release's route claims only move forward: a late invocation of an earlier step moves nothing.

use super::*;
use crate::adapters::memory::{MemoryRouter, MemoryStore};
use crate::flow::admit::admit;
use crate::flow::testing::{self, t0};

async fn admitted(store: &MemoryStore) -> Release {
    let request = testing::request("r1", "orders", testing::alias_plan("orders", 50));
    admit(store, &crate::ports::NoPolicies, request, t0()).await.unwrap_or_else(|e| panic!("{e}")).release
}

/// Found by the fault matrix (SetWeight held past its Task timeout): the late first attempt of
/// step 1 ran while the promotion was under way and set 50% after the promotion's 100%.
#[tokio::test]
async fn a_late_step_never_undoes_a_later_claim_of_its_release() {
    let (store, router) = (MemoryStore::new(), MemoryRouter::default());
    let release = admitted(&store).await;
    switch(&store, &router, &crate::ports::NoHooks, "r1", SwitchTarget::Step(0), t0()).await.unwrap_or_else(|e| panic!("{e}"));
    // The promotion has claimed and set 100%, and not closed the release yet.
    let route = RouteTarget::for_release(&release, Some(0)).unwrap_or_else(|| panic!("a route"));
    apply(&store, &router, &route, 100, RouteStage::Promote, t0()).await.unwrap_or_else(|e| panic!("{e}"));

    let late = switch(&store, &router, &crate::ports::NoHooks, "r1", SwitchTarget::Step(0), t0()).await;
    assert!(matches!(&late, Err(SwitchError::Superseded { claimed: RouteStage::Promote, wanted: RouteStage::Step(0), .. })), "{late:?}");
    assert_eq!(router.current_weight(&route).await.ok(), Some(100), "the router keeps the promotion's weight");
    // A retried promotion and a rollback still may.
    apply(&store, &router, &route, 100, RouteStage::Promote, t0()).await.unwrap_or_else(|e| panic!("{e}"));
    apply(&store, &router, &route, 0, RouteStage::Rollback, t0()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(router.current_weight(&route).await.ok(), Some(0));
}

/// DST seed 1349642 (the one-hour run after the router fence): the sweeper read the router to
/// roll back a release whose lease had run out, paused, and its fenced write of 0% landed after
/// the execution had promoted the release, because the promotion found the router at 100% and
/// wrote nothing. A promotion now always writes, so the paused rollback's revision is stale.
#[tokio::test]
async fn a_promotion_at_the_weight_the_router_carries_still_fences_out_an_earlier_reader() {
    let (store, router) = (MemoryStore::new(), MemoryRouter::default());
    let release = admitted(&store).await;
    switch(&store, &router, &crate::ports::NoHooks, "r1", SwitchTarget::Step(0), t0()).await.unwrap_or_else(|e| panic!("{e}"));
    switch(&store, &router, &crate::ports::NoHooks, "r1", SwitchTarget::Step(1), t0()).await.unwrap_or_else(|e| panic!("{e}"));
    let route = RouteTarget::for_release(&release, Some(1)).unwrap_or_else(|| panic!("a route"));
    // The sweeper's rollback reads the router (100%) and pauses before its write.
    let paused = router.read(&route).await.unwrap_or_else(|e| panic!("{e}"));
    let promoted =
        switch(&store, &router, &crate::ports::NoHooks, "r1", SwitchTarget::Promote, t0()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(promoted.release.status, ReleaseStatus::Promoted);
    let late = router.set_weight(&route, 0, paused.revision.as_deref()).await;
    assert!(matches!(late, Err(RouterError::Moved { .. })), "{late:?}");
    assert_eq!(router.current_weight(&route).await.ok(), Some(100), "the promoted release keeps its traffic");
}

/// DST seeds 1514722 and 1569975: a process of the release read the router after its last
/// write and claimed while the release was open; nobody wrote the router between its read and
/// its write, so the revision let the write land after the close. The seal writes once more.
#[tokio::test]
async fn a_reader_after_the_last_write_is_refused_once_the_close_is_sealed() {
    let (store, router) = (MemoryStore::new(), MemoryRouter::default());
    let release = admitted(&store).await;
    switch(&store, &router, &crate::ports::NoHooks, "r1", SwitchTarget::Step(0), t0()).await.unwrap_or_else(|e| panic!("{e}"));
    let promoted =
        switch(&store, &router, &crate::ports::NoHooks, "r1", SwitchTarget::Promote, t0()).await.unwrap_or_else(|e| panic!("{e}"));
    let route = RouteTarget::for_release(&release, Some(0)).unwrap_or_else(|| panic!("a route"));
    // The sweeper's rollback reads the router after the promotion's write, and pauses.
    let paused = router.read(&route).await.unwrap_or_else(|e| panic!("{e}"));
    let freed = hand_back(&store, &router, &promoted.release, t0()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(freed, "the lock goes back after the seal");
    let late = router.set_weight(&route, 0, paused.revision.as_deref()).await;
    assert!(matches!(late, Err(RouterError::Moved { .. })), "{late:?}");
    assert_eq!(router.current_weight(&route).await.ok(), Some(100), "the promoted release keeps its traffic");
    // And no later claim of the release passes the seal.
    let claim = apply(&store, &router, &route, 0, RouteStage::Rollback, t0()).await;
    assert!(matches!(claim, Err(SwitchError::Superseded { claimed: RouteStage::Closed, .. })), "{claim:?}");
    // A second hand-back (a retry) finds the route sealed and writes nothing more.
    let revision = router.read(&route).await.ok().and_then(|r| r.revision);
    hand_back(&store, &router, &promoted.release, t0()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(router.read(&route).await.ok().and_then(|r| r.revision), revision);
}

/// A stopped process's write that landed between the close and the seal: the seal sets the
/// closing weight back, and the trail explains both moves.
#[tokio::test]
async fn the_seal_restores_and_records_what_a_stopped_process_moved_after_the_close() {
    let (store, router) = (MemoryStore::new(), MemoryRouter::default());
    let release = admitted(&store).await;
    switch(&store, &router, &crate::ports::NoHooks, "r1", SwitchTarget::Step(0), t0()).await.unwrap_or_else(|e| panic!("{e}"));
    let route = RouteTarget::for_release(&release, Some(0)).unwrap_or_else(|| panic!("a route"));
    let promoted =
        switch(&store, &router, &crate::ports::NoHooks, "r1", SwitchTarget::Promote, t0()).await.unwrap_or_else(|e| panic!("{e}"));
    let paused = router.read(&route).await.unwrap_or_else(|e| panic!("{e}"));
    router.set_weight(&route, 0, paused.revision.as_deref()).await.unwrap_or_else(|e| panic!("{e}"));
    hand_back(&store, &router, &promoted.release, t0()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(router.current_weight(&route).await.ok(), Some(100));
    let trail = store.events("r1").await.unwrap_or_default();
    let moves: Vec<(u32, u32)> = trail
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::WeightChanged(c) => Some((c.before, c.after)),
            _ => None,
        })
        .collect();
    assert_eq!(moves.last_chunk::<2>(), Some(&[(100, 0), (0, 100)]), "{moves:?}");
}
