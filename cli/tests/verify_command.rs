//! `rollgate verify` on a trail in DynamoDB (the test endpoint), through the real binary: intact,
//! then with an event changed, removed and inserted behind the store's back.

use std::process::{Command, Output};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use rollgate::ports::ReleaseStore;
use rollgate::release::{EventKind, ReleaseEvent};
use rollgate_tests::{TestTable, aws};

fn verify(table: &TestTable, release: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(["verify", release, "--table", table.store.table()])
        .output()
        .unwrap_or_else(|e| panic!("rollgate: {e}"))
}

fn said(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// The stored item of event `seq` (as the store wrote it), to change behind its back.
async fn item(table: &TestTable, release: &str, seq: u64) -> std::collections::HashMap<String, AttributeValue> {
    let client = aws_sdk_dynamodb::Client::new(&aws().await);
    let got = client
        .get_item()
        .table_name(table.store.table())
        .key("pk", AttributeValue::S(format!("TRAIL#{release}")))
        .key("sk", AttributeValue::S(rollgate::adapters::memory::event_sort_key(seq)))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    got.item.unwrap_or_else(|| panic!("no event {seq}"))
}

async fn put(table: &TestTable, item: std::collections::HashMap<String, AttributeValue>) {
    let client = aws_sdk_dynamodb::Client::new(&aws().await);
    client.put_item().table_name(table.store.table()).set_item(Some(item)).send().await.unwrap_or_else(|e| panic!("{e:?}"));
}

async fn trail(table: &TestTable, release: &str) {
    for name in ["started", "step_advanced", "step_advanced", "promoted"] {
        let event =
            ReleaseEvent::new(release, Utc::now(), "traffic-switch", EventKind::Notified { event: name.into(), via: Some("sns".into()) });
        table.store.append_event(event).await.unwrap_or_else(|e| panic!("{e}"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_finds_a_changed_removed_or_inserted_event() {
    let table = TestTable::create().await;
    for release in ["changed", "removed", "inserted"] {
        trail(&table, release).await;
        let intact = verify(&table, release);
        assert!(intact.status.success() && said(&intact).contains("intact: 4 events"), "{}", said(&intact));
    }

    // Changed: event 2's body says something else.
    let mut second = item(&table, "changed", 2).await;
    let body = second.get("body").and_then(|b| b.as_s().ok()).cloned().unwrap_or_default().replace("traffic-switch", "someone-else");
    second.insert("body".into(), AttributeValue::S(body));
    put(&table, second).await;
    let broken = verify(&table, "changed");
    assert_eq!(broken.status.code(), Some(1), "{}", said(&broken));
    assert!(said(&broken).contains("NOT intact: the trail breaks at event 2"), "{}", said(&broken));

    // Removed: event 3 is gone.
    let client = aws_sdk_dynamodb::Client::new(&aws().await);
    client
        .delete_item()
        .table_name(table.store.table())
        .key("pk", AttributeValue::S("TRAIL#removed".into()))
        .key("sk", AttributeValue::S(rollgate::adapters::memory::event_sort_key(3)))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let broken = verify(&table, "removed");
    assert!(said(&broken).contains("breaks at event 3"), "{}", said(&broken));

    // Inserted: a copy of event 2, stored as event 5 with its sequence number rewritten.
    let mut copy = item(&table, "inserted", 2).await;
    let body = copy.get("body").and_then(|b| b.as_s().ok()).cloned().unwrap_or_default().replace("\"seq\":2", "\"seq\":5");
    copy.insert("body".into(), AttributeValue::S(body));
    copy.insert("sk".into(), AttributeValue::S(rollgate::adapters::memory::event_sort_key(5)));
    put(&table, copy).await;
    let broken = verify(&table, "inserted");
    assert!(said(&broken).contains("breaks at event 5"), "{}", said(&broken));
}
