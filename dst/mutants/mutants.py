#!/usr/bin/env python3
"""Mutation check of the DST invariants (docs/dst.md): each invariant is shown to catch the bug it
guards against. For every mutant below: a scratch worktree of HEAD, the code broken on purpose,
the simulator built in release mode and run over SEEDS seeds; the mutant must be caught, by a
failing seed of the invariant it names. Run with `make dst-mutants` (SEEDS, default 4000).

A mutant whose text no longer matches the code fails loudly: update it with the code it breaks.
"""
import os, re, shutil, subprocess, sys, tempfile

# How many rounds of SEEDS seeds a mutant gets to be caught.
ROUNDS = 10

# invariant -> [(file, the code, the code broken)]
MUTANTS = {
    # A release moves traffic without holding the lock: no ownership check on renewal, no fence on the route claim.
    "router-owner": [
        ("shared/src/adapters/memory.rs", "        if held { Ok(()) } else { Err(fence.lost()) }", "        if true || held { Ok(()) } else { Err(fence.lost()) }"),
        ("shared/src/flow/trail.rs", """    take_lock(store, &lease(release, now), now).await.map_err(|e| match e {""", """    let _ = take_lock;\n    Ok::<(), StoreError>(()).map_err(|e: StoreError| match e {"""),
    ],
    # A weight the router carries but the trail missed (an applied claim never recorded) stays unrecorded.
    "trail": [
        ("shared/src/flow/traffic.rs", "        changes.extend(missed(applied.canary_weight, applied.version));", "        changes.extend(missed(applied.canary_weight, applied.version).filter(|_| false));"),
    ],
    # The sweeper leaves a release whose execution stopped (its lock expired) open.
    "closed": [
        ("shared/src/flow/sweep.rs", "    if lease.is_expired(now) {\n        return Some(format!(", "    if false && lease.is_expired(now) {\n        return Some(format!("),
    ],
    # Promotion (and the seal of its close) leaves the router where the last step put it instead of 100%.
    "half-shifted": [
        ("shared/src/flow/traffic.rs", "SwitchTarget::Promote => (release.step, 100),", "SwitchTarget::Promote => (release.step, release.canary_weight),"),
        ("shared/src/flow/traffic.rs", "        ReleaseStatus::Promoted => 100,", "        ReleaseStatus::Promoted => release.canary_weight,"),
    ],
    # A critical verdict does not roll back.
    "final-bake": [
        ("shared/src/domain/decision.rs", "Some(GateOutcome::Critical) => return rollback(decision, format!(\"critical: {summary}\")),", "Some(GateOutcome::Critical) => true,"),
        ("shared/src/domain/decision.rs", "    if prior.contains(&GateOutcome::Critical) {", "    if false && prior.contains(&GateOutcome::Critical) {"),
    ],
    # The sweeper does not finish a release that ended while its closer stopped (nor give back its lock).
    "locks": [
        ("shared/src/flow/sweep.rs", "            match finish_close(store, router, notifier, &release, now()).await {", "            let _ = finish_close;\n            match Ok::<(bool, bool), RollbackError>((false, false)) {"),
    ],
    # A failed smoke test before a shift is ignored: the traffic moves on.
    "hooks": [
        ("shared/src/flow/traffic.rs", "            if let Some(reason) = failed {", "            if let Some(reason) = failed.filter(|_| false) {"),
        ("shared/src/flow/traffic.rs", "        if let Some(reason) = recorded {", "        if let Some(reason) = recorded.filter(|_| false) {"),
    ],
    # The end of a release whose closer stopped before announcing it is never announced.
    "notified": [
        ("shared/src/flow/rollback.rs", "    if announced(&trail, event) {\n        return Ok(false);", "    if true || announced(&trail, event) {\n        return Ok(false);"),
    ],
}


def main() -> int:
    seeds = os.environ.get("SEEDS", "4000")
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True).stdout.strip()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    scratch = tempfile.mkdtemp(prefix="rollgate-mutants-")
    tree = os.path.join(scratch, "tree")
    subprocess.run(["git", "worktree", "add", "--detach", "-q", tree, "HEAD"], cwd=root, check=True)
    results = []
    try:
        for invariant, edits in MUTANTS.items():
            subprocess.run(["git", "checkout", "-q", "--", "."], cwd=tree, check=True)
            for path, old, new in edits:
                text = open(os.path.join(tree, path)).read()
                if old not in text:
                    print(f"{invariant}: the mutant no longer matches {path}; update dst/mutants/mutants.py")
                    return 1
                open(os.path.join(tree, path), "w").write(text.replace(old, new, 1))
            env = dict(os.environ, CARGO_TARGET_DIR=target)
            built = subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "rollgate-dst"], cwd=tree, env=env, capture_output=True, text=True)
            if built.returncode != 0:
                print(f"{invariant}: the mutant does not build:\n{built.stderr[-2000:]}")
                return 1
            binary = os.path.join(scratch, f"dst-{invariant}")
            shutil.copy(os.path.join(target, "release", "rollgate-dst"), binary)
            # Rounds of SEEDS seeds until a seed fails on the invariant, at most ROUNDS of them:
            # some mutants are rare to hit (a late writer while another release holds the lock).
            caught, failed, ran = [], 0, 0
            for round_ in range(ROUNDS):
                run = subprocess.run([binary, "--seeds", seeds, "--from", str(round_ * int(seeds))], capture_output=True, text=True)
                ran += int(seeds)
                failing = [l.strip() for l in run.stdout.splitlines() if re.match(r"\s*seed \d+: ", l)]
                caught = [l for l in failing if l.split(": ", 2)[1].startswith(invariant)]
                total = re.search(r"(\d+) seeds FAILED", run.stdout)
                failed += int(total.group(1)) if total else 0
                if caught:
                    break
            results.append((invariant, failed, caught[0] if caught else None))
            print(f"{invariant:13} {'caught' if caught else 'NOT CAUGHT'}: {failed} of {ran} seeds failed; {caught[0] if caught else ''}", flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=root)
        shutil.rmtree(scratch, ignore_errors=True)
        # The next `make dst` rebuilds the real simulator over the mutant's binary.
        subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "rollgate-dst"], cwd=root)
    missed = [r[0] for r in results if r[2] is None]
    if missed:
        print(f"mutants not caught: {', '.join(missed)}")
        return 1
    print(f"every invariant caught its mutant ({len(results)} of {len(MUTANTS)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
