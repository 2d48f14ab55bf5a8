//! Running a step's hooks over the `HookRunner` port: one after another (their timeouts add up,
//! which validation bounds), each result stamped and kept for the trail.

use chrono::{DateTime, Utc};

use crate::domain::hook::{HookContext, HookResult};
use crate::domain::plan::HookRun;
use crate::ports::{HookError, HookRunner};
use crate::release::Release;

/// Runs the hooks of `release`'s step `step` that run at `run`, in the plan's order; empty when
/// the step has none. `now` is when the first started; each result is stamped with the time it
/// ended (`now` plus the time taken so far).
pub async fn run(
    runner: &dyn HookRunner,
    release: &Release,
    step: usize,
    run: HookRun,
    now: DateTime<Utc>,
) -> Result<Vec<HookResult>, HookError> {
    let definition = release.plan.traffic.steps.get(step);
    let mut results = Vec::new();
    let mut elapsed_ms: u64 = 0;
    for hook in release.plan.hooks_at(step, run) {
        let context = HookContext {
            hook: hook.name.clone(),
            run,
            release_id: release.id.clone(),
            service: release.service.clone(),
            environment: release.environment.clone(),
            version: release.version.clone(),
            stable_version: release.stable_version.clone(),
            step: step.saturating_add(1),
            step_name: definition.and_then(|s| s.name.clone()),
            weight: definition.map_or(0, |s| s.weight),
        };
        let answer = runner.run(hook, &context).await?;
        elapsed_ms = elapsed_ms.saturating_add(answer.took_ms);
        let at = i64::try_from(elapsed_ms)
            .ok()
            .and_then(chrono::Duration::try_milliseconds)
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(now);
        results.push(crate::domain::hook::result(hook, answer, at));
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use crate::adapters::memory::{MemoryHooks, MemoryRouter, MemoryStore};
    use crate::domain::decision::Action;
    use crate::domain::hook::HookOutcome;
    use crate::flow::gate_check;
    use crate::flow::testing::{request, t0};
    use crate::flow::traffic::{SwitchError, SwitchTarget, switch};
    use crate::ports::{NoPolicies, ReleaseStore, TrafficRouter};
    use crate::release::EventKind;
    use crate::release::route::RouteTarget;

    fn at(minutes: i64) -> chrono::DateTime<chrono::Utc> {
        t0() + chrono::Duration::minutes(minutes)
    }

    /// Two steps on an alias: a smoke test before the 50% shift, a load test at the first check
    /// of each step and a probe at every check.
    async fn admitted(store: &MemoryStore) {
        let plan = serde_json::json!({"name": "p", "traffic": {
            "router": {"type": "lambda_alias", "function_name": "orders", "alias": "live"},
            "steps": [
                {"weight": 10, "bake": "10m", "hooks": [
                    {"name": "load", "run": "first_check", "lambda": {"function": "rollgate-hook-load"}},
                    {"name": "probe", "http": {"url": "https://tests.example.com/probe", "secret_arn": "arn:aws:secretsmanager:us-east-1:1:secret:k"}}]},
                {"weight": 50, "bake": "10m", "hooks": [{"name": "smoke", "run": "before_shift", "lambda": {"function": "rollgate-hook-smoke"}}]},
                {"weight": 100, "bake": "10m"}]}});
        crate::flow::admit::admit(store, &NoPolicies, request("r1", "orders", plan), t0()).await.unwrap_or_else(|e| panic!("{e}"));
    }

    #[tokio::test]
    async fn a_failed_smoke_test_before_the_shift_moves_nothing_and_says_why() {
        let (store, router, hooks) = (MemoryStore::new(), MemoryRouter::default(), MemoryHooks::default());
        admitted(&store).await;
        switch(&store, &router, &hooks, "r1", SwitchTarget::Step(0), t0()).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(hooks.calls().is_empty(), "step 1 has no before_shift hook");
        hooks.answer("smoke", HookOutcome::Failed, "3 of 40 checkout requests failed");
        let refused = switch(&store, &router, &hooks, "r1", SwitchTarget::Step(1), at(10)).await;
        let Err(SwitchError::HookFailed { step: 1, reason, .. }) = &refused else { panic!("{refused:?}") };
        assert_eq!(reason, "hook `smoke` failed: 3 of 40 checkout requests failed");
        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            message,
            "before step 2's traffic shift, hook `smoke` failed: 3 of 40 checkout requests failed; rollgate moved no traffic"
        );
        let release = store.release("r1").await.ok().flatten().unwrap_or_else(|| panic!("stored"));
        let route = RouteTarget::for_release(&release, Some(0)).unwrap_or_else(|| panic!("a route"));
        assert_eq!(router.read(&route).await.map(|r| r.weight).ok(), Some(10), "traffic stays at step 1");
        assert_eq!(release.step, Some(0));
        let trail = store.events("r1").await.unwrap_or_default();
        let ran: Vec<_> = trail
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::HooksRan { step, results } => Some((*step, results.len(), results[0].output.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(ran, [(1, 1, "3 of 40 checkout requests failed".to_string())]);
        let context = hooks.calls().pop().unwrap_or_else(|| panic!("called"));
        assert_eq!((context.step, context.weight, context.release_id.as_str()), (2, 50, "r1"));

        // A retried switch (its answer lost) finds the failure on record and does not run the
        // test again until it happens to pass.
        hooks.answer("smoke", HookOutcome::Passed, "40/40");
        let retried = switch(&store, &router, &hooks, "r1", SwitchTarget::Step(1), at(11)).await;
        assert!(matches!(retried, Err(SwitchError::HookFailed { step: 1, .. })), "{retried:?}");
        assert_eq!(hooks.calls().len(), 1);
    }

    #[tokio::test]
    async fn a_passing_smoke_test_shifts_and_runs_once_per_step() {
        let (store, router, hooks) = (MemoryStore::new(), MemoryRouter::default(), MemoryHooks::default());
        admitted(&store).await;
        switch(&store, &router, &hooks, "r1", SwitchTarget::Step(0), t0()).await.unwrap_or_else(|e| panic!("{e}"));
        switch(&store, &router, &hooks, "r1", SwitchTarget::Step(1), at(10)).await.unwrap_or_else(|e| panic!("{e}"));
        // A retried switch to the step it reached runs nothing again.
        switch(&store, &router, &hooks, "r1", SwitchTarget::Step(1), at(11)).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hooks.calls().len(), 1);
        assert_eq!(store.release("r1").await.ok().flatten().map(|r| r.canary_weight), Some(50));
    }

    #[tokio::test]
    async fn check_hooks_are_judged_with_the_metrics_and_a_failure_rolls_back_with_its_output() {
        let (store, router, hooks) = (MemoryStore::new(), MemoryRouter::default(), MemoryHooks::default());
        admitted(&store).await;
        switch(&store, &router, &hooks, "r1", SwitchTarget::Step(0), t0()).await.unwrap_or_else(|e| panic!("{e}"));
        let check = |minutes| gate_check::run(&store, &NoPolicies, &crate::flow::testing::NoData, &hooks, "r1", None, at(minutes));
        let first = check(2).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.decision.action, Action::Bake, "{:?}", first.decision);
        let names = |calls: Vec<crate::domain::hook::HookContext>| calls.into_iter().map(|c| c.hook).collect::<Vec<_>>();
        assert_eq!(names(hooks.calls()), ["probe", "load"], "every_check, then first_check at the first check");
        check(4).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names(hooks.calls()), ["probe", "load", "probe"], "the load test runs once per step");

        hooks.answer("probe", HookOutcome::NoAnswer, "");
        let failed = check(6).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(failed.decision.action, Action::Rollback);
        assert!(failed.decision.reason.contains("hook `probe` gave no answer within 30s"), "{}", failed.decision.reason);
        let verdict = failed.verdict.unwrap_or_else(|| panic!("a verdict"));
        assert_eq!(verdict.hooks.len(), 1);
        assert_eq!(verdict.hooks[0].outcome, HookOutcome::NoAnswer);
    }
}
